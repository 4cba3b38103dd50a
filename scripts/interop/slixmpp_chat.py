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

import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from slixmpp_client import Failure, leave, login_starttls, peer_parser, run_peer  # noqa: E402


async def run(args):
    rcpt = await login_starttls(args, args.receiver, "chat")
    sender = await login_starttls(args, args.sender, "chat")
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
        await leave([sender, rcpt])


def main():
    p = peer_parser(__doc__)
    p.add_argument("--sender", required=True)
    p.add_argument("--receiver", required=True)
    p.add_argument("--body", required=True)
    p.add_argument("--wait", type=float, default=60)
    args = p.parse_args()
    run_peer(lambda: run(args), int(args.wait) + 40, done=None)


if __name__ == "__main__":
    main()
