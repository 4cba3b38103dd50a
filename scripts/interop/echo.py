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

import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from slixmpp_client import Failure, leave, login_starttls, peer_parser, run_peer  # noqa: E402

TIMEOUT = 90


async def run(args):
    c = await login_starttls(args, args.user, "echo", register=not args.no_register)
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
        await leave([c])


def main():
    p = peer_parser(__doc__)
    p.add_argument("--user", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--ready", required=True)
    p.add_argument("--no-register", action="store_true")
    args = p.parse_args()
    run_peer(lambda: run(args), TIMEOUT)


if __name__ == "__main__":
    main()
