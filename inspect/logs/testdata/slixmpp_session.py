#!/usr/bin/python3
"""One slixmpp client session with slixmpp's debug log written to a file, for the tests of
inspect/logs (issue 14 item 2). Debian's python3-slixmpp (1.8.x), run with /usr/bin/python3.

  slixmpp_session.py --host H --port P --jid J --password PW --peer JID --role sender|receiver
                     --log FILE [--cafile F | --plain] [--register] [--format FMT]

--register creates the account in-band first (XEP-0077). receiver: logs in, sends presence, prints READY, answers each chat message from the peer with
"re: <body>", and leaves after answering two. sender: logs in, sends presence, fetches the
roster, pings the server, sends two chat messages to the peer (one with characters that need
escaping and a line break) and leaves once both answers arrived. Prints DONE and exits 0, or
prints what went wrong and exits 1. Hard limit 30 s.
"""

import argparse
import asyncio
import logging
import ssl
import sys

import slixmpp

LIMIT = 30
BODIES = ["hello from slixmpp, café ☕", "second line <&> 'quoted' \"double\"\nand a new line"]


class Session(slixmpp.ClientXMPP):
    def __init__(self, a):
        super().__init__(a.jid, a.password)
        self.a = a
        self.answers = 0
        self.failed = None
        self.register_plugin("xep_0199")
        self.add_event_handler("session_start", self.start)
        self.add_event_handler("message", self.message)
        self.add_event_handler("failed_auth", lambda _: self.fail("authentication failed"))
        if a.register:
            self.register_plugin("xep_0077")
            self.plugin["xep_0077"].force_registration = True
            # slixmpp 1.8 holds back every iq before the session starts (it logs "NOT
            # SENT"), the registration request included; this lets it go out.
            self._always_send_everything = True
            self.add_event_handler("register", self.register)

    async def register(self, _):
        iq = self.Iq()
        iq["type"] = "set"
        iq["register"]["username"] = self.boundjid.user
        iq["register"]["password"] = self.password
        try:
            await iq.send(timeout=10)
        except Exception as e:  # IqError, IqTimeout
            self.fail(f"registration failed: {e}")

    def fail(self, why):
        self.failed = why
        self.disconnect()

    async def start(self, _):
        self.send_presence()
        await self.get_roster()
        if self.a.role == "receiver":
            print("READY", flush=True)
            return
        await self.plugin["xep_0199"].ping(self.boundjid.domain, timeout=10)
        for b in BODIES:
            self.send_message(mto=self.a.peer, mbody=b, mtype="chat")

    def message(self, msg):
        if msg["type"] not in ("chat", "normal") or msg["from"].bare != slixmpp.JID(self.a.peer).bare:
            return
        self.answers += 1
        if self.a.role == "receiver":
            msg.reply("re: " + msg["body"]).send()
        if self.answers == len(BODIES):
            self.disconnect()


def main():
    p = argparse.ArgumentParser()
    for f in ("--host", "--jid", "--password", "--peer", "--log"):
        p.add_argument(f, required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--role", choices=("sender", "receiver"), required=True)
    p.add_argument("--cafile")
    p.add_argument("--plain", action="store_true")
    p.add_argument("--register", action="store_true")
    p.add_argument("--format", default="%(asctime)s %(levelname)-8s %(message)s")
    a = p.parse_args()
    logging.basicConfig(filename=a.log, encoding="utf-8", level=logging.DEBUG, format=a.format)
    s = Session(a)
    if a.plain:
        s.enable_starttls = False
        s.enable_direct_tls = False
    elif a.cafile:
        s.ssl_context = ssl.create_default_context(cafile=a.cafile)
    s.connect((a.host, a.port))
    loop = asyncio.get_event_loop()
    try:
        loop.run_until_complete(asyncio.wait_for(s.disconnected, LIMIT))
    except asyncio.TimeoutError:
        print(f"timeout after {LIMIT} s ({s.answers} answers)", flush=True)
        return 1
    if s.failed:
        print(s.failed, flush=True)
        return 1
    if s.answers != len(BODIES):
        print(f"{s.answers} answers, want {len(BODIES)}", flush=True)
        return 1
    print("DONE", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
