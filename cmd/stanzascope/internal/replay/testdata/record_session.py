#!/usr/bin/python3
"""One slixmpp client session to record for the replay tests (issue 16 item 5). Debian's
python3-slixmpp (1.8.x), run with /usr/bin/python3.

  record_session.py --host H --port P --jid J --password PW [--cafile F]

Registers the account in-band (XEP-0077), logs in over STARTTLS, fetches the roster, sends
initial presence, sends three chat messages to its own full JID (each comes back) and one
to an account that does not exist (an error comes back), pings the server (XEP-0199), asks
the server for its time (XEP-0202: the switch answers service-unavailable, Prosody with
mod_time answers), and leaves. Each step waits for its answer, so the record is in a
stable order. Prints DONE and exits 0, or says what went wrong and exits 1. Hard limit 30 s.
"""

import argparse
import asyncio
import logging
import ssl
import sys

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout

LIMIT = 30
STEP = 10


class Session(slixmpp.ClientXMPP):
    def __init__(self, a):
        super().__init__(a.jid, a.password)
        self.a = a
        self.failed = None
        self.done = False
        self.register_plugin("xep_0077")
        self.register_plugin("xep_0199", {"keepalive": False})
        self.register_plugin("xep_0202")
        self.plugin["xep_0077"].force_registration = True
        # slixmpp 1.8 holds back every iq before the session starts, the registration
        # request included; this lets it go out.
        self._always_send_everything = True
        self.messages = asyncio.Queue()
        self.add_event_handler("register", self.on_register)
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("message", lambda m: self.messages.put_nowait(m))
        self.add_event_handler("message_error", lambda m: self.messages.put_nowait(m))
        self.add_event_handler("failed_auth", lambda _: self.fail("authentication failed"))

    def fail(self, why):
        if self.failed is None:
            self.failed = why
        self.disconnect()

    async def on_register(self, _):
        iq = self.Iq()
        iq["type"] = "set"
        iq["register"]["username"] = self.boundjid.user
        iq["register"]["password"] = self.password
        try:
            await iq.send(timeout=STEP)
        except (IqError, IqTimeout) as e:
            self.fail(f"registration failed: {e}")
        self._always_send_everything = False

    async def on_start(self, _):
        try:
            await self.get_roster(timeout=STEP)
            self.send_presence()
            for i in range(3):
                self.send_message(mto=self.boundjid.full, mbody=f"note {i} to myself <&>", mtype="chat")
                m = await asyncio.wait_for(self.messages.get(), STEP)
                if m["body"] != f"note {i} to myself <&>":
                    return self.fail(f"got {m['body']!r} back")
            self.send_message(mto="nobody-here@" + self.boundjid.domain, mbody="anyone?", mtype="chat")
            m = await asyncio.wait_for(self.messages.get(), STEP)
            if m["type"] != "error":
                return self.fail(f"message to nobody: got type {m['type']!r}, want error")
            await self.plugin["xep_0199"].ping(self.boundjid.domain, timeout=STEP)
            try:
                await self.plugin["xep_0202"].get_entity_time(self.boundjid.domain, timeout=STEP)
            except IqError:
                pass  # the switch has no XEP-0202: an error answer is what is recorded
            self.done = True
        except (IqError, IqTimeout, asyncio.TimeoutError) as e:
            return self.fail(f"step failed: {e!r}")
        self.disconnect()


def main():
    p = argparse.ArgumentParser()
    for f in ("--host", "--jid", "--password"):
        p.add_argument(f, required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cafile")
    a = p.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    s = Session(a)
    if a.cafile:
        s.ssl_context = ssl.create_default_context(cafile=a.cafile)
    s.connect((a.host, a.port), force_starttls=True)
    loop = asyncio.get_event_loop()
    try:
        loop.run_until_complete(asyncio.wait_for(s.disconnected, LIMIT))
    except asyncio.TimeoutError:
        print(f"timeout after {LIMIT} s", flush=True)
        return 1
    if s.failed or not s.done:
        print(s.failed or "the session ended early", flush=True)
        return 1
    print("DONE", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
