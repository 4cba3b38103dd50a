#!/usr/bin/python3
"""The slixmpp peer of the /console page's browser tests (cmd/stanzascope/console_test.go).

Registers --user in-band (unless --no-register), logs in over STARTTLS, sends presence and
writes its full JID to --ready; then answers every chat message whose body holds --token
with "echo: " and that body, back to the sender's full JID, until a message whose body is
"bye" (after at least one echo).

Usage:
  echo.py --host H --port P --domain D --user NAME --password PW --token T --ready FILE
          [--no-register] [--cafile F | --insecure]

Prints one line per message and "PASS" and exits 0, or prints what failed and exits 1.
Hard limit 90 s.
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


async def run(args):
    c = Client(f"{args.user}@{args.domain}/echo", args.password, args, register=not args.no_register)
    c.connect(address=(args.host, args.port), force_starttls=True)
    if not args.no_register:
        await wait_for(c.registered, c, f"{args.user}: in-band registration")
    await wait_for(c.started, c, f"{args.user}: login")
    if not c.encrypted:
        raise Failure(f"{args.user}: logged in without TLS")
    try:
        with open(args.ready, "w", encoding="utf-8") as f:
            f.write(c.boundjid.full + "\n")
        print(f"{c.boundjid.full} is ready", flush=True)
        echoed = 0
        for _ in range(20):
            m = await asyncio.wait_for(c.messages.get(), TIMEOUT)
            body = m["body"]
            print(f"got from {m['from']}: {body!r}", flush=True)
            if body == "bye" and echoed > 0:
                return
            if args.token in body:
                c.send_message(mto=m["from"], mbody="echo: " + body, mtype="chat")
                echoed += 1
        raise Failure("no bye after 20 messages")
    except asyncio.TimeoutError:
        raise Failure("no message in time")
    finally:
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
    p.add_argument("--user", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--ready", required=True)
    p.add_argument("--no-register", action="store_true")
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
