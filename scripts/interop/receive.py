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

import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from slixmpp_client import Failure, leave, login_starttls, peer_parser, run_peer  # noqa: E402

TIMEOUT = 90


async def run(args):
    want = {}
    for s in args.sender:
        user, _, token = s.partition("=")
        if not user or not token:
            raise Failure(f"--sender {s!r}: want USER=TOKEN")
        want[f"{user}@{args.domain}"] = token
        c = await login_starttls(args, user, "interop")
        c.disconnect()
        await asyncio.wait_for(c.disconnected, 10)
        print(f"registered {user}@{args.domain}", flush=True)
    rcpt = await login_starttls(args, args.user, "interop")
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
        await leave([rcpt])


def main():
    p = peer_parser(__doc__)
    p.add_argument("--user", required=True)
    p.add_argument("--sender", action="append", required=True)
    p.add_argument("--ready", required=True)
    args = p.parse_args()
    run_peer(lambda: run(args), TIMEOUT)


if __name__ == "__main__":
    main()
