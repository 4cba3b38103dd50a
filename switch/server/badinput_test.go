package server

import (
	"strings"
	"testing"
	"time"
)

const streamErrNS = "urn:ietf:params:xml:ns:xmpp-streams"
const header10 = "<stream:stream to='localhost' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"

// pair logs in jane and dana (legacy streams), available, so tests can check that a bad
// connection did not disturb them.
func pair(t *testing.T, ts *testServer) (jane, dana *rawClient) {
	t.Helper()
	registerRaw(t, ts.addr, "jane", "pw")
	registerRaw(t, ts.addr, "dana", "pw")
	jane = legacyLogin(t, ts.addr, "jane", "pw", "Home")
	dana = legacyLogin(t, ts.addr, "dana", "pw", "Home")
	jane.send("<presence/>")
	syncWith(jane, "jane@localhost/Home")
	dana.send("<presence/>")
	syncWith(dana, "dana@localhost/Home")
	return jane, dana
}

// undisturbed checks that jane and dana can still chat.
func undisturbed(t *testing.T, jane, dana *rawClient) {
	t.Helper()
	jane.send("<message to='dana@localhost' type='chat'><body>still there?</body></message>")
	want := "<message to='dana@localhost' type='chat' from='jane@localhost/Home'><body>still there?</body></message>"
	for {
		s := dana.readStanza()
		if s == idlePing {
			dana.send("<iq id='idle-ping' type='result' to='localhost'/>")
			continue
		}
		if s != want {
			t.Fatalf("dana expected\n  %s\ngot\n  %s", want, s)
		}
		return
	}
}

const idlePing = "<iq id='idle-ping' type='get' from='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"

// expectStreamError reads our header (unless headerSeen) and the stream error, then EOF.
func expectStreamError(t *testing.T, c *rawClient, cond string) {
	t.Helper()
	s := c.readStanza()
	if !strings.HasPrefix(s, "<stream:error><"+cond+" xmlns='"+streamErrNS+"'/>") {
		t.Fatalf("expected stream error %s, got %q", cond, s)
	}
	c.expect("</stream:stream>")
	c.expectEOF()
}

func TestBadInput(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.Limits.MaxStanza = 4096
	})
	jane, dana := pair(t, ts)

	cases := []struct {
		name   string
		header string // "" for none
		login  bool   // log in as a third user first (legacy)
		send   string
		cond   string
	}{
		{"malformed XML", header10, false, "<message><body>unclosed</message>", "not-well-formed"},
		{"malformed after login", "", true, "<message to='dana@localhost'><body></bdy></message>", "not-well-formed"},
		{"garbage before the header", "", false, "hello there\r\n", "not-well-formed"},
		{"comment", header10, false, "<!-- hi -->", "restricted-xml"},
		{"processing instruction", header10, false, "<?php echo 1; ?>", "restricted-xml"},
		{"DTD", "", false, "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>]>", "restricted-xml"},
		{"entity", "", true, "<message to='dana@localhost'><body>&lol;</body></message>", "restricted-xml"},
		{"oversize stanza", "", true, "<message to='dana@localhost'><body>" + strings.Repeat("parrot ", 1000) + "</body></message>", "policy-violation"},
		{"unknown top-level element", header10, false, "<foo xmlns='urn:example:foo'/>", "unsupported-stanza-type"},
		{"unknown host", "<stream:stream to='example.org' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>", false, "", "host-unknown"},
		{"wrong content namespace", "<stream:stream to='localhost' version='1.0' xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'>", false, "", "invalid-namespace"},
		{"message before auth on a 1.0 stream", header10, false, "<message to='dana@localhost'><body>sneaky</body></message>", "not-authorized"},
		{"version with trailing letters", "<stream:stream to='localhost' version='1.0abc' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>", false, "", "unsupported-version"},
		{"version 2.0", "<stream:stream to='localhost' version='2.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>", false, "", "unsupported-version"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var c *rawClient
			if tc.login {
				user := "user" + string(rune('a'+i))
				registerRaw(t, ts.addr, user, "pw")
				c = legacyLogin(t, ts.addr, user, "pw", "x")
			} else {
				c = dialRaw(t, ts.addr)
				if tc.header != "" {
					c.send(tc.header)
					c.readStanza() // our header
					if strings.Contains(tc.header, "version='1.0'") && !strings.Contains(tc.header, "example.org") && !strings.Contains(tc.header, "jabber:server") {
						c.readStanza() // features
					}
				}
			}
			c.send(tc.send)
			if tc.header == "" && !tc.login {
				c.expectRe(headerRe[:len(headerRe)-1] + ` version='1.0'>`)
			}
			expectStreamError(t, c, tc.cond)
			undisturbed(t, jane, dana)
		})
	}
}

func TestUnauthenticatedStanzas(t *testing.T) {
	ts := startServer(t, nil)
	jane, dana := pair(t, ts)

	// Pre-1.0: each is refused with a stanza error and nothing reaches dana.
	c := dialRaw(t, ts.addr)
	c.send(legacyHeader)
	c.expectRe(headerRe)
	c.send("<message id='m1' to='dana@localhost' from='jane@localhost/Home' type='chat'><body>spoofed before login</body></message>")
	c.expect("<message id='m1' type='error'><error code='401' type='auth'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>log in first</text></error></message>")
	c.send("<iq id='q1' type='get' to='localhost'><query xmlns='jabber:iq:roster'/></iq>")
	c.expect("<iq id='q1' type='error'><error code='401' type='auth'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>log in first</text></error></iq>")
	// c has its answers, so its session handled both stanzas: had it routed one, it would
	// be in dana's queue before jane's marker.
	dana.expectNothingBefore(jane, "jane@localhost/Home", "dana@localhost/Home")

	// A flood before login is bounded: after maxStanzasBeforeLogin the stream ends. (The
	// two stanzas above count.)
	for i := 2; i < maxStanzasBeforeLogin; i++ {
		c.send("<iq id='f' type='get'><query xmlns='jabber:iq:version'/></iq>")
	}
	for i := 2; i < maxStanzasBeforeLogin; i++ {
		c.readStanza()
	}
	c.send("<iq id='f' type='get'><query xmlns='jabber:iq:version'/></iq>")
	expectStreamError(t, c, "policy-violation")
	undisturbed(t, jane, dana)
}

func TestSpoofedFromAndErrors(t *testing.T) {
	ts := startServer(t, nil)
	jane, dana := pair(t, ts)
	jane.send("<message to='dana@localhost' from='admin@localhost/root' type='chat'><body>hi</body></message>")
	dana.expect("<message to='dana@localhost' type='chat' from='jane@localhost/Home'><body>hi</body></message>")
	jane.send("<message id='x1' to='nobody@localhost' type='chat'><body>hello?</body></message>")
	jane.expect("<message id='x1' type='error' from='nobody@localhost' to='jane@localhost/Home'><error code='503' type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>")
	jane.send("<message id='x2' to='someone@example.org' type='chat'><body>hello?</body></message>")
	jane.expectRe(`<message id='x2' type='error' from='someone@example.org' to='jane@localhost/Home'><error code='404' type='cancel'><remote-server-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>.*</error></message>`)
	jane.send("<iq id='u1' type='get'><query xmlns='urn:example:unknown'/></iq>")
	jane.expect("<iq id='u1' type='error' to='jane@localhost/Home'><error code='503' type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")
	jane.send("<iq id='u2' type='set' to='dana@localhost'><query xmlns='urn:example:unknown'/></iq>")
	jane.expect("<iq id='u2' type='error' from='dana@localhost' to='jane@localhost/Home'><error code='503' type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")
	// Unknown children of a routed stanza pass through untouched.
	jane.send("<iq id='u3' type='get' to='dana@localhost/Home'><query xmlns='urn:example:unknown'><x a='1'>&lt;y&gt;</x></query></iq>")
	dana.expect("<iq id='u3' type='get' to='dana@localhost/Home' from='jane@localhost/Home'><query xmlns='urn:example:unknown'><x a='1'>&lt;y&gt;</x></query></iq>")
	dana.send("<iq id='u3' type='result' to='jane@localhost/Home'/>")
	jane.expect("<iq id='u3' type='result' to='jane@localhost/Home' from='dana@localhost/Home'/>")
}

// TestSilentMidStanza: a logged-in client that stops mid-stanza is pinged, then closed
// with connection-timeout; its contacts' sessions carry on.
func TestSilentMidStanza(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.IdleTimeout = 400 * time.Millisecond })
	registerRaw(t, ts.addr, "mute", "pw")
	jane, dana := pair(t, ts)
	m := legacyLogin(t, ts.addr, "mute", "pw", "x")
	m.send("<message to='dana@localhost'><body>I was about to say")
	// jane and dana answer the server's pings and are kept.
	for _, c := range []*rawClient{jane, dana} {
		c.expect(idlePing)
		c.send("<iq id='idle-ping' type='result' to='localhost'/>")
	}
	m.expect(idlePing)
	m.expect("<stream:error><connection-timeout xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>no answer to ping</text></stream:error></stream:stream>")
	m.expectEOF()
	jane.send(" ") // a whitespace keepalive also counts as activity
	undisturbed(t, jane, dana)
}

func TestConflictAndShutdown(t *testing.T) {
	ts := startServer(t, nil)
	jane, dana := pair(t, ts)
	dana.send("<presence to='jane@localhost' type='subscribe'/>")
	jane.expect("<presence from='dana@localhost' to='jane@localhost' type='subscribe'/>")
	jane.send("<presence to='dana@localhost' type='subscribed'/>")
	dana.expect("<presence from='jane@localhost' to='dana@localhost' type='subscribed'/>")
	dana.expect("<presence from='jane@localhost/Home' to='dana@localhost/Home'/>")

	// A new session for jane/Home takes over: the old one gets conflict.
	jane2 := legacyLogin(t, ts.addr, "jane", "pw", "Home")
	expectStreamError(t, jane, "conflict")
	dana.expect("<presence from='jane@localhost/Home' to='dana@localhost' type='unavailable'/>")
	jane2.send("<presence><show>away</show><priority>5</priority></presence>")
	dana.expect("<presence from='jane@localhost/Home' to='dana@localhost'><show>away</show><priority>5</priority></presence>")

	ts.stop(t)
	for _, c := range []*rawClient{jane2, dana} {
		s := c.readStanza()
		for strings.HasPrefix(s, "<presence") {
			s = c.readStanza()
		}
		if !strings.HasPrefix(s, "<stream:error><system-shutdown xmlns='"+streamErrNS+"'/>") {
			t.Fatalf("expected system-shutdown, got %q", s)
		}
	}
}

func TestRequireTLSAndNoRegister(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.RequireTLS = true; c.NoRegister = true })
	c := dialRaw(t, ts.addr)
	c.send(header10)
	c.readStanza()
	c.expect("<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>")
	c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGphbmUAcHc=</auth>")
	c.expect("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><encryption-required/><text>STARTTLS first</text></failure>")
	c.send("<iq id='r' type='get'><query xmlns='jabber:iq:register'/></iq>")
	c.expect("<iq id='r' type='error'><error type='modify'><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>TLS is required: use STARTTLS first</text></error></iq>")
	l := dialRaw(t, ts.addr)
	l.send(legacyHeader)
	l.expectRe(headerRe)
	l.send("<iq id='a' type='set'><query xmlns='jabber:iq:auth'><username>x</username><password>y</password><resource>z</resource></query></iq>")
	l.expect("<iq id='a' type='error'><error type='modify'><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>TLS is required: use STARTTLS first</text></error></iq>")

	ts2 := startServer(t, func(c *Config) { c.NoRegister = true })
	r := dialRaw(t, ts2.addr)
	r.send(legacyHeader)
	r.expectRe(headerRe)
	r.send("<iq id='r' type='set'><query xmlns='jabber:iq:register'><username>a</username><password>b</password></query></iq>")
	r.expect("<iq id='r' type='error'><error code='503' type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>registration is turned off</text></error></iq>")
}

// TestStartTLSRefused: STARTTLS where it is not offered gets <failure/> and the stream closes
// (RFC 6120 section 5.4.2.2).
func TestStartTLSRefused(t *testing.T) {
	ts := startServer(t, nil)
	c := dialRaw(t, ts.addr)
	c.send(legacyHeader)
	c.expectRe(headerRe)
	c.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	c.expect("<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:stream>")
	c.expectEOF()
}

// TestClientStreamError: a client that ends its stream with <stream:error/> gets our
// closing tag and the connection closed, no stream error of ours (RFC 6120 section
// 4.9.1.1), before and after login; a 1.1 header is answered as 1.0.
func TestClientStreamError(t *testing.T) {
	ts := startServer(t, nil)
	jane, _ := pair(t, ts)
	c := dialRaw(t, ts.addr)
	c.send("<stream:stream to='localhost' version='1.1' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")
	c.expectRe(headerRe[:len(headerRe)-1] + ` version='1.0'>`)
	c.readStanza() // features
	c.send("<stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>")
	c.expect("</stream:stream>")
	c.expectEOF()

	jane.send("<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>bye</text></stream:error>")
	jane.expect("</stream:stream>")
	jane.expectEOF()
	for deadline := time.Now().Add(5 * time.Second); ts.srv.Sessions() != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions after jane's stream error, want 1 (dana)", ts.srv.Sessions())
		}
	}
}
