#!/usr/bin/python3
"""One chat message between two slixmpp clients, for the intercept test (issue 16).

Registers --sender and --receiver in-band (XEP-0077) and logs both in over STARTTLS, then
the sender sends one chat message with --body to the receiver, which waits for a message
from the sender (a person may hold and edit it in between) and prints what it got:

  RECEIVED <body>

Usage:
  slixmpp_chat.py --host H --port P --domain D --password PW --sender A --receiver B
                  --body TEXT [--cafile F | --insecure] [--wait SECONDS]

Exits 0 after printing RECEIVED, 1 with "FAIL ..." otherwise. Hard limit --wait + 40 s.
"""

import argparse
import asyncio
import logging
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from slixmpp_client import Client, Failure, wait_for  # noqa: E402


async def login(args, user):
    c = Client(f"{user}@{args.domain}/chat", args.password, args, register=True)
    c.connect(address=(args.host, args.port), force_starttls=True)
    await wait_for(c.registered, c, f"{user}: in-band registration")
    await wait_for(c.started, c, f"{user}: login")
    if not c.encrypted:
        raise Failure(f"{user}: logged in without TLS")
    return c


async def run(args):
    rcpt = await login(args, args.receiver)
    sender = await login(args, args.sender)
    print("ready", flush=True)
    try:
        sender.send_message(mto=f"{args.receiver}@{args.domain}", mbody=args.body, mtype="chat")
        want = f"{args.sender}@{args.domain}"
        while True:
            m = await asyncio.wait_for(rcpt.messages.get(), args.wait)
            if m["from"].bare == want:
                print(f"RECEIVED {m['body']}", flush=True)
                return
            print(f"ignored a message from {m['from']}", flush=True)
    except asyncio.TimeoutError:
        raise Failure(f"no message from {args.sender} within {args.wait} s")
    finally:
        for c in (sender, rcpt):
            c.disconnect()
            try:
                await asyncio.wait_for(c.disconnected, 5)
            except asyncio.TimeoutError:
                pass


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", required=True)
    p.add_argument("--port", required=True, type=int)
    p.add_argument("--domain", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--sender", required=True)
    p.add_argument("--receiver", required=True)
    p.add_argument("--body", required=True)
    p.add_argument("--wait", type=float, default=60)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--cafile")
    g.add_argument("--insecure", action="store_true")
    args = p.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    limit = int(args.wait) + 40
    signal.signal(signal.SIGALRM, lambda *_: (print(f"FAIL: hard timeout of {limit} s", flush=True), sys.exit(1)))
    signal.alarm(limit)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(run(args))
    except Failure as e:
        print(f"FAIL: {e}", flush=True)
        sys.exit(1)
    sys.exit(0)


if __name__ == "__main__":
    main()
