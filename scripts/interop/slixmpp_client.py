#!/usr/bin/python3
"""Interop check of an XMPP server with slixmpp (Debian python3-slixmpp 1.8.x).

Registers two users in-band (XEP-0077), logs both in over STARTTLS (required), subscribes
them to each other, sends 10 chat messages each way, checks offline delivery (one user
leaves, the other writes, the first comes back and gets the message with a delay stamp),
pings (XEP-0199) and queries disco#info (XEP-0030).

Usage:
  slixmpp_client.py --host H --port P --domain D --user1 NAME --user2 NAME --password PW
                    [--port2 P2] [--cafile F | --insecure] [--trace FILE]

--port2 logs user2 in on another port (another node of a cluster of switches), so that
everything between the two users crosses between nodes.

Prints "PASS <n> checks" and exits 0, or prints what failed and exits 1. Hard limit 60 s.
--trace writes one JSON line per stanza sent or received:
  {"dir": "out"|"in", "name": ..., "id": ..., "type": ..., "client": ...}
"""

import argparse
import asyncio
import json
import logging
import signal
import ssl
import sys

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout

TIMEOUT = 60
STEP = 10  # seconds allowed for one step


class Failure(Exception):
    pass


class Checks:
    def __init__(self):
        self.n = 0

    def ok(self, what):
        self.n += 1
        print(f"ok {self.n}: {what}", flush=True)

    def expect(self, cond, what):
        if not cond:
            raise Failure(what)
        self.ok(what)


class Tracer:
    def __init__(self, path):
        self.f = open(path, "w", encoding="utf-8") if path else None

    def attach(self, client, label):
        if not self.f:
            return

        def make(direction):
            def filt(stanza):
                try:
                    rec = {
                        "dir": direction,
                        "name": stanza.name,
                        "id": stanza["id"] if "id" in stanza.interfaces else "",
                        "type": stanza["type"] if "type" in stanza.interfaces else "",
                        "client": label,
                    }
                    self.f.write(json.dumps(rec) + "\n")
                    self.f.flush()
                except Exception as e:  # a trace must never break the session
                    print(f"trace: {e}", file=sys.stderr)
                return stanza
            return filt

        client.add_filter("out", make("out"))
        client.add_filter("in", make("in"))

    def close(self):
        if self.f:
            self.f.close()


class Client(slixmpp.ClientXMPP):
    """A client that can register itself and records what it receives."""

    def __init__(self, jid, password, args, register=False):
        super().__init__(jid, password)
        self.args = args
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0004")
        self.register_plugin("xep_0066")
        self.register_plugin("xep_0077")
        self.register_plugin("xep_0199", {"keepalive": False})
        self.register_plugin("xep_0203")
        self.auto_authorize = None  # answer subscription requests ourselves
        self.auto_subscribe = False
        if args.insecure:
            self.ssl_context.check_hostname = False
            self.ssl_context.verify_mode = ssl.CERT_NONE
        elif args.cafile:
            self.ssl_context = ssl.create_default_context(cafile=args.cafile)
        self.registered = asyncio.get_event_loop().create_future()
        self.started = asyncio.get_event_loop().create_future()
        self.failed = asyncio.get_event_loop().create_future()
        self.messages = asyncio.Queue()
        self.subscribe_requests = asyncio.Queue()
        self.available = {}  # bare JID -> set of available full JIDs
        self.presence_changed = asyncio.Event()
        self.encrypted = False
        if register:
            # slixmpp 1.8 queues every stanza until the session starts, including the
            # XEP-0077 iq's its own plugin sends before login; let them through.
            self._always_send_everything = True
            self.add_event_handler("register", self.on_register)
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("failed_auth", lambda _: self._fail("authentication failed"))
        self.add_event_handler("connection_failed", lambda e: self._fail(f"connection failed: {e}"))
        self.add_event_handler("stream_error", lambda e: self._fail(f"stream error: {e}"))
        self.add_event_handler("ssl_invalid_chain", lambda e: self._fail(f"TLS: {e}"))
        self.add_event_handler("tls_success", self.on_tls)
        self.add_event_handler("message", self.on_message)
        self.add_event_handler("presence_subscribe", self.on_subscribe)
        self.add_event_handler("presence_available", self.on_presence)
        self.add_event_handler("presence_unavailable", self.on_presence)

    def _fail(self, why):
        if not self.failed.done():
            self.failed.set_result(why)

    def on_tls(self, _):
        self.encrypted = True

    async def on_register(self, _form):
        iq = self.Iq()
        iq["type"] = "set"
        iq["register"]["username"] = self.boundjid.user
        iq["register"]["password"] = self.password
        try:
            await iq.send(timeout=STEP)
            result = "registered"
        except IqError as e:
            if e.iq["error"]["condition"] == "conflict":
                result = "already registered"
            else:
                self._fail(f"registration refused: {e.iq['error']['condition']}")
                return
        except IqTimeout:
            self._fail("registration timed out")
            return
        self._always_send_everything = False
        if not self.registered.done():
            self.registered.set_result(result)

    async def on_start(self, _):
        try:
            await self.get_roster(timeout=STEP)
        except (IqError, IqTimeout) as e:
            self._fail(f"roster get failed: {e}")
            return
        self.send_presence()
        if not self.started.done():
            self.started.set_result(True)

    def on_message(self, msg):
        if msg["type"] in ("chat", "normal"):
            self.messages.put_nowait(msg)

    def on_subscribe(self, pres):
        self.subscribe_requests.put_nowait(pres["from"].bare)

    def on_presence(self, pres):
        bare, full = pres["from"].bare, pres["from"].full
        s = self.available.setdefault(bare, set())
        if pres["type"] == "unavailable":
            s.discard(full)
        else:
            s.add(full)
        self.presence_changed.set()


async def wait_for(fut, client, what):
    """Wait for fut, failing early if the client reports a failure."""
    done, _ = await asyncio.wait({asyncio.ensure_future(fut), client.failed},
                                 timeout=STEP, return_when=asyncio.FIRST_COMPLETED)
    if client.failed in done:
        raise Failure(f"{what}: {client.failed.result()}")
    if not done:
        raise Failure(f"{what}: timed out")
    return done.pop().result()


def peer_parser(doc):
    """The arguments every peer script takes: where the server is, its domain, the password
    of the accounts and how to trust its certificate."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", required=True)
    p.add_argument("--port", required=True, type=int)
    p.add_argument("--domain", required=True)
    p.add_argument("--password", required=True)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--cafile")
    g.add_argument("--insecure", action="store_true")
    return p


async def login_starttls(args, user, resource, register=True):
    """Connects user@domain/resource to --host:--port, registers it in-band first when asked,
    and returns the client once it is logged in over STARTTLS (anything else fails)."""
    c = Client(f"{user}@{args.domain}/{resource}", args.password, args, register=register)
    c.connect(address=(args.host, args.port), force_starttls=True)
    if register:
        await wait_for(c.registered, c, f"{user}: in-band registration")
    await wait_for(c.started, c, f"{user}: login")
    if not c.encrypted:
        raise Failure(f"{user}: logged in without TLS")
    return c


async def leave(clients):
    """Disconnects each client, waiting a bounded time for each to go."""
    for c in clients:
        c.disconnect()
        try:
            await asyncio.wait_for(c.disconnected, 5)
        except asyncio.TimeoutError:
            pass


def run_peer(main, limit, done="PASS"):
    """Runs the coroutine function main under a hard limit of limit seconds; prints done (if
    any) and exits 0 when it returns, prints "FAIL: why" and exits 1 when it raises Failure."""
    logging.basicConfig(level=logging.CRITICAL)
    signal.signal(signal.SIGALRM, lambda *_: (print(f"FAIL: hard timeout of {limit} s", flush=True), sys.exit(1)))
    signal.alarm(limit)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(main())
    except Failure as e:
        print(f"FAIL: {e}", flush=True)
        sys.exit(1)
    if done:
        print(done, flush=True)
    sys.exit(0)


async def until(client, pred, what):
    """Wait until pred() holds, re-checking on every presence change."""
    loop = asyncio.get_event_loop()
    deadline = loop.time() + STEP
    while not pred():
        left = deadline - loop.time()
        if left <= 0:
            raise Failure(f"{what}: timed out")
        client.presence_changed.clear()
        try:
            await asyncio.wait_for(client.presence_changed.wait(), left)
        except asyncio.TimeoutError:
            pass


async def login(args, user, tracer, checks, register):
    jid = f"{user}@{args.domain}/interop"
    c = Client(jid, args.password, args, register=register)
    tracer.attach(c, user)
    port = args.port2 if (user == args.user2 and args.port2) else args.port
    c.connect(address=(args.host, port), force_starttls=True)
    if register:
        how = await wait_for(c.registered, c, f"{user}: in-band registration")
        checks.ok(f"{user}: in-band registration ({how})")
    await wait_for(c.started, c, f"{user}: login")
    checks.expect(c.encrypted, f"{user}: logged in over STARTTLS as {c.boundjid.full}")
    return c


async def reachable(a, b, checks):
    """Ping b's full JID from a until it answers: with the users on two nodes of a cluster,
    a's node then knows b's session, presence and roster interest (b's node published them
    before it routed b's answer, on the one connection that carries both)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STEP
    while True:
        try:
            await a["xep_0199"].ping(jid=b.boundjid.full, timeout=2)
            break
        except (IqError, IqTimeout) as e:
            if loop.time() > deadline:
                raise Failure(f"{a.boundjid.user}: {b.boundjid.full} not reachable: {e}")
            await asyncio.sleep(0.1)
    checks.ok(f"{a.boundjid.user}: reaches {b.boundjid.full}")


async def subscribe(a, b, checks):
    """a asks b for its presence; b approves."""
    a.send_presence_subscription(pto=b.boundjid.bare)
    who = await wait_for(b.subscribe_requests.get(), b, f"{b.boundjid.user}: subscription request")
    checks.expect(who == a.boundjid.bare, f"{b.boundjid.user}: got the subscription request of {who}")
    b.send_presence(pto=a.boundjid.bare, ptype="subscribed")


async def run(args, checks, tracer):
    u1 = await login(args, args.user1, tracer, checks, register=True)
    u2 = await login(args, args.user2, tracer, checks, register=True)
    clients = [u1, u2]
    try:
        if args.port2:
            await reachable(u1, u2, checks)
            await reachable(u2, u1, checks)
        await subscribe(u1, u2, checks)
        await subscribe(u2, u1, checks)
        for a, b in ((u1, u2), (u2, u1)):
            await until(a, lambda: b.boundjid.full in a.available.get(b.boundjid.bare, ()),
                        f"{a.boundjid.user}: presence of {b.boundjid.user}")
            checks.ok(f"{a.boundjid.user}: sees {b.boundjid.full} available")
        for a, b in ((u1, u2), (u2, u1)):
            # The roster push that says "both" may arrive after the presence: poll for it.
            def both(a=a, b=b):
                items = a.client_roster
                return b.boundjid.bare in items and items[b.boundjid.bare]["subscription"] == "both"
            deadline = asyncio.get_running_loop().time() + STEP
            while not both() and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)
            checks.expect(both(), f"{a.boundjid.user}: roster has {b.boundjid.bare} with subscription both")

        for a, b in ((u1, u2), (u2, u1)):
            bodies = [f"message {i} from {a.boundjid.user} & <friends> 'quoted'" for i in range(10)]
            for body in bodies:
                a.send_message(mto=b.boundjid.bare, mbody=body, mtype="chat")
            got = []
            for _ in bodies:
                m = await wait_for(b.messages.get(), b, f"{b.boundjid.user}: chat messages")
                if m["from"].full != a.boundjid.full:
                    raise Failure(f"message from {m['from']} instead of {a.boundjid.full}")
                got.append(m["body"])
            checks.expect(got == bodies, f"{b.boundjid.user}: got 10 chat messages from {a.boundjid.user} in order")

        try:
            await u1["xep_0199"].ping(jid=args.domain, timeout=STEP)
            checks.ok("ping the server (XEP-0199)")
            await u1["xep_0199"].ping(jid=u2.boundjid.full, timeout=STEP)
            checks.ok(f"ping {u2.boundjid.full} through the server")
        except (IqError, IqTimeout) as e:
            raise Failure(f"ping: {e}")
        try:
            info = await u1["xep_0030"].get_info(jid=args.domain, timeout=STEP)
        except (IqError, IqTimeout) as e:
            raise Failure(f"disco#info: {e}")
        features = info["disco_info"]["features"]
        idents = info["disco_info"]["identities"]
        checks.expect(any(i[0] == "server" for i in idents), "disco#info: identity category server")
        checks.expect("urn:xmpp:ping" in features, "disco#info: advertises urn:xmpp:ping")

        # Offline delivery: user2 leaves, user1 writes, user2 comes back.
        u2.disconnect()
        await wait_for(u2.disconnected, u2, f"{args.user2}: disconnect")
        clients.remove(u2)
        await until(u1, lambda: not u1.available.get(u2.boundjid.bare),
                    f"{args.user1}: sees {args.user2} unavailable")
        checks.ok(f"{args.user1}: sees {args.user2} go unavailable")
        body = "while you were out: the parrot is no more"
        u1.send_message(mto=f"{args.user2}@{args.domain}", mbody=body, mtype="chat")
        # A server handles one session's stanzas in order: once it answered a ping sent after
        # the message, the message is stored, and user2 may come back.
        try:
            await u1["xep_0199"].ping(jid=args.domain, timeout=STEP)
        except (IqError, IqTimeout) as e:
            raise Failure(f"ping after the offline message: {e}")
        u2 = await login(args, args.user2, tracer, checks, register=False)
        clients.append(u2)
        m = await wait_for(u2.messages.get(), u2, f"{args.user2}: offline message")
        checks.expect(m["body"] == body, f"{args.user2}: got the offline message")
        checks.expect(bool(m["delay"]["stamp"]), f"{args.user2}: offline message carries a delay stamp")
    finally:
        await leave(clients)


def main():
    p = peer_parser(__doc__)
    p.add_argument("--port2", type=int, help="the port user2 logs in on (default --port)")
    p.add_argument("--user1", required=True)
    p.add_argument("--user2", required=True)
    p.add_argument("--trace")
    args = p.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    signal.signal(signal.SIGALRM, lambda *_: (print(f"FAIL: hard timeout of {TIMEOUT + 5} s", flush=True), sys.exit(1)))
    signal.alarm(TIMEOUT + 5)

    checks = Checks()
    tracer = Tracer(args.trace)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(asyncio.wait_for(run(args, checks, tracer), TIMEOUT))
    except Failure as e:
        print(f"FAIL after {checks.n} checks: {e}", flush=True)
        sys.exit(1)
    except asyncio.TimeoutError:
        print(f"FAIL after {checks.n} checks: hard timeout of {TIMEOUT} s", flush=True)
        sys.exit(1)
    finally:
        tracer.close()
    print(f"PASS {checks.n} checks", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
