#!/usr/bin/python3
"""The receiving end of the command-line client interop (scripts/interop-sendxmpp.sh).

Registers the sender accounts in-band (each logs in once and leaves), then registers and
logs in the receiver over STARTTLS, sends presence, writes "ready" to --ready and waits
until, from each sender, a message whose body contains that sender's token has arrived.

Usage:
  receive.py --host H --port P --domain D --password PW --user RECEIVER
             --sender USER=TOKEN [--sender USER=TOKEN ...] --ready FILE
             [--cafile F | --insecure]

Prints one line per message received and "PASS" and exits 0, or prints what failed and
exits 1. Hard limit 90 s.
"""

import argparse
import asyncio
import logging
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from slixmpp_client import Client, Failure, wait_for  # noqa: E402

TIMEOUT = 90


async def login(args, user, register=True):
    c = Client(f"{user}@{args.domain}/interop", args.password, args, register=register)
    c.connect(address=(args.host, args.port), force_starttls=True)
    await wait_for(c.registered, c, f"{user}: in-band registration")
    await wait_for(c.started, c, f"{user}: login")
    if not c.encrypted:
        raise Failure(f"{user}: logged in without TLS")
    return c


async def run(args):
    want = {}
    for s in args.sender:
        user, _, token = s.partition("=")
        if not user or not token:
            raise Failure(f"--sender {s!r}: want USER=TOKEN")
        want[f"{user}@{args.domain}"] = token
        c = await login(args, user)
        c.disconnect()
        await asyncio.wait_for(c.disconnected, 10)
        print(f"registered {user}@{args.domain}", flush=True)
    rcpt = await login(args, args.user)
    try:
        with open(args.ready, "w", encoding="utf-8") as f:
            f.write("ready\n")
        print(f"{rcpt.boundjid.full} is ready", flush=True)
        while want:
            m = await asyncio.wait_for(rcpt.messages.get(), TIMEOUT)
            frm, body = m["from"].bare, m["body"]
            token = want.get(frm)
            if token is None or token not in body:
                print(f"ignored a message from {m['from']}: {body!r}", flush=True)
                continue
            print(f"got the message of {frm} ({m['type']}): {body.strip()!r}", flush=True)
            del want[frm]
    except asyncio.TimeoutError:
        raise Failure(f"no message from {', '.join(sorted(want))}")
    finally:
        rcpt.disconnect()
        try:
            await asyncio.wait_for(rcpt.disconnected, 5)
        except asyncio.TimeoutError:
            pass


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", required=True)
    p.add_argument("--port", required=True, type=int)
    p.add_argument("--domain", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--sender", action="append", required=True)
    p.add_argument("--ready", required=True)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--cafile")
    g.add_argument("--insecure", action="store_true")
    args = p.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    signal.signal(signal.SIGALRM, lambda *_: (print(f"FAIL: hard timeout of {TIMEOUT} s", flush=True), sys.exit(1)))
    signal.alarm(TIMEOUT)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(run(args))
    except Failure as e:
        print(f"FAIL: {e}", flush=True)
        sys.exit(1)
    print("PASS", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
