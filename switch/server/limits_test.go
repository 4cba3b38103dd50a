package server

import (
	"bufio"
	"encoding/base64"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// dialFrom connects to addr from the loopback address src (127.0.0.0/8 is all loopback on
// Linux): each test plays clients from several addresses, as the limits per address see
// them.
func dialFrom(t testing.TB, addr, src string) *rawClient {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawClient{t: t, conn: c, r: bufio.NewReader(c)}
}

// openStream dials from src and opens a pre-1.0 stream.
func openStream(t testing.TB, addr, src string) *rawClient {
	t.Helper()
	c := dialFrom(t, addr, src)
	c.send(legacyHeader)
	c.expectRe(headerRe)
	return c
}

// TestConnsPerIP: an address with MaxConnsPerIP connections open gets policy-violation
// with the limit for one more, others connect as usual, and a closed connection frees its
// place.
func TestConnsPerIP(t *testing.T) {
	logs := new(logBuffer)
	ts := startServer(t, func(c *Config) { c.MaxConnsPerIP = 3; c.Logf = logs.logf })
	var open []*rawClient
	for range 3 {
		open = append(open, openStream(t, ts.addr, "127.0.0.2"))
	}
	over := dialFrom(t, ts.addr, "127.0.0.2")
	// Refused before its header: ours comes first (an XMPP 1.0 one, as the server's
	// default), then the error.
	over.readStanza()
	over.expect("<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>too many connections from 127.0.0.2 (limit 3)</text></stream:error></stream:stream>")
	over.expectEOF()
	logs.waitLine(t, "too many connections from 127.0.0.2 (limit 3)")
	if n := ts.srv.cfg.Stats.RefusedConns.Load(); n != 1 {
		t.Errorf("Stats.RefusedConns = %d, want 1", n)
	}

	// Another address is not affected.
	other := legacyLoginFrom(t, ts.addr, "127.0.0.3", "dana")
	other.send("</stream:stream>")

	// One closes: its place is free once the server has seen it go.
	open[0].send("</stream:stream>")
	open[0].expect("</stream:stream>")
	open[0].expectEOF()
	// A refused connection may be closed before our bytes reach it (a reset): only the
	// answer to a request proves the connection was served.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := dialFrom(t, ts.addr, "127.0.0.2")
		c.conn.SetDeadline(time.Now().Add(5 * time.Second))
		_, err := io.WriteString(c.conn, legacyHeader)
		var got string
		if err == nil {
			got, err = c.tryStanza(5 * time.Second) // our header
		}
		if err == nil && !strings.Contains(got, "too many connections") {
			_, err = io.WriteString(c.conn, "<iq id='form' type='get'><query xmlns='jabber:iq:register'/></iq>")
			if err == nil {
				got, err = c.tryStanza(5 * time.Second)
			}
		}
		if err == nil && strings.HasPrefix(got, "<iq id='form' type='result'") { // served: the place was free
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still refused after a close: %q, %v", got, err)
		}
		c.conn.Close()
	}
}

// legacyLoginFrom registers user (password pw) and logs in from src with iq:auth.
func legacyLoginFrom(t testing.TB, addr, src, user string) *rawClient {
	t.Helper()
	c := openStream(t, addr, src)
	c.send("<iq id='r' type='set'><query xmlns='jabber:iq:register'><username>" + user + "</username><password>pw</password></query></iq>")
	c.expect("<iq id='r' type='result'/>")
	c.send("<iq id='a' type='set'><query xmlns='jabber:iq:auth'><username>" + user + "</username><password>pw</password><resource>r</resource></query></iq>")
	c.expect("<iq id='a' type='result'/>")
	return c
}

// TestRegistrationsPerIP: a registration flood from one address is refused with
// resource-constraint and when to try again (what ejabberd's registration_timeout does);
// another address registers as usual.
func TestRegistrationsPerIP(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.RegistrationsPerMinute = 3 })
	c := openStream(t, ts.addr, "127.0.0.2")
	reg := func(c *rawClient, user string) string {
		c.send("<iq id='" + user + "' type='set'><query xmlns='jabber:iq:register'><username>" + user + "</username><password>pw</password></query></iq>")
		return c.readStanza()
	}
	for _, u := range []string{"a1", "a2", "a3"} {
		if got := reg(c, u); got != "<iq id='"+u+"' type='result'/>" {
			t.Fatalf("registration %s: %s", u, got)
		}
	}
	got := reg(c, "a4")
	if !matchRe(`<iq id='a4' type='error'><error code='500' type='wait'><resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>too many registrations from 127\.0\.0\.2: try again in (19|20)s</text></error></iq>`, got) {
		t.Fatalf("fourth registration: %s", got)
	}
	// A new connection from the same address is the same address.
	if got := reg(openStream(t, ts.addr, "127.0.0.2"), "a5"); !strings.Contains(got, "resource-constraint") {
		t.Fatalf("registration on a new connection: %s", got)
	}
	if got := reg(openStream(t, ts.addr, "127.0.0.3"), "b1"); got != "<iq id='b1' type='result'/>" {
		t.Fatalf("registration from another address: %s", got)
	}
	if n := ts.srv.cfg.Stats.RefusedRegistrations.Load(); n != 2 {
		t.Errorf("Stats.RefusedRegistrations = %d, want 2", n)
	}
	// The refused accounts do not exist.
	c.send("<iq id='x' type='set'><query xmlns='jabber:iq:auth'><username>a4</username><password>pw</password><resource>r</resource></query></iq>")
	c.expectRe(`<iq id='x' type='error'>.*<not-authorized .*`)
}

// TestLoginsPerIP: login attempts past the rate are refused before the password is looked
// at, with iq:auth (resource-constraint) and SASL (temporary-auth-failure), both with
// when to try again; another address logs in.
func TestLoginsPerIP(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.LoginsPerMinute = 2; c.RegistrationsPerMinute = -1 })
	registerRaw(t, ts.addr, "jane", "pw")
	login := func(c *rawClient, id, pass string) string {
		c.send("<iq id='" + id + "' type='set'><query xmlns='jabber:iq:auth'><username>jane</username><password>" + pass + "</password><resource>" + id + "</resource></query></iq>")
		return c.readStanza()
	}
	c := openStream(t, ts.addr, "127.0.0.2")
	if got := login(c, "l1", "wrong"); !strings.Contains(got, "not-authorized") {
		t.Fatalf("first attempt: %s", got)
	}
	if got := login(c, "l2", "pw"); got != "<iq id='l2' type='result'/>" {
		t.Fatalf("second attempt: %s", got)
	}
	c2 := openStream(t, ts.addr, "127.0.0.2")
	got := login(c2, "l3", "pw") // the right password: refused all the same
	if !matchRe(`<iq id='l3' type='error'><error code='500' type='wait'><resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>too many logins from 127\.0\.0\.2: try again in (29|30)s</text></error></iq>`, got) {
		t.Fatalf("third attempt: %s", got)
	}

	// SASL from the same address.
	s := dialFrom(t, ts.addr, "127.0.0.2")
	s.send(header10)
	s.readStanza()
	s.readStanza() // features
	s.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + base64.StdEncoding.EncodeToString([]byte("\x00jane\x00pw")) + "</auth>")
	if got := s.readStanza(); !matchRe(`<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><temporary-auth-failure/><text>too many logins from 127\.0\.0\.2: try again in \d+s</text></failure>`, got) {
		t.Fatalf("SASL attempt: %s", got)
	}

	if got := login(openStream(t, ts.addr, "127.0.0.3"), "o1", "pw"); got != "<iq id='o1' type='result'/>" {
		t.Fatalf("login from another address: %s", got)
	}
	if n := ts.srv.cfg.Stats.RefusedLogins.Load(); n != 2 {
		t.Errorf("Stats.RefusedLogins = %d, want 2 (iq:auth and SASL)", n)
	}
}

// TestAuthFailureDelay: past AuthFailuresPerMinute, the failures of an address are
// answered after the delay, and only those: the account is not locked, its owner logs in
// from another address at once, and a right password from the flooding address is not
// delayed either.
func TestAuthFailureDelay(t *testing.T) {
	const delay = 300 * time.Millisecond
	ts := startServer(t, func(c *Config) {
		c.AuthFailuresPerMinute = 2
		c.AuthFailureDelay = delay
		c.LoginsPerMinute = -1
	})
	registerRaw(t, ts.addr, "jane", "pw")
	attempt := func(c *rawClient, id, pass string) (string, time.Duration) {
		start := time.Now()
		c.send("<iq id='" + id + "' type='set'><query xmlns='jabber:iq:auth'><username>jane</username><password>" + pass + "</password><resource>" + id + "</resource></query></iq>")
		return c.readStanza(), time.Since(start)
	}
	var c *rawClient
	for i, id := range []string{"f1", "f2", "f3", "f4"} {
		if i%2 == 0 { // five failures close a connection (maxAuthFailures): use new ones
			c = openStream(t, ts.addr, "127.0.0.2")
		}
		got, took := attempt(c, id, "guess")
		if !strings.Contains(got, "not-authorized") {
			t.Fatalf("attempt %s: %s", id, got)
		}
		// Past the second, every failure waits for the delay: a lower bound, which a slow
		// machine cannot break.
		if i >= 2 && took < delay {
			t.Fatalf("failure %s answered after %v, before the delay of %v", id, took, delay)
		}
	}
	if n := ts.srv.cfg.Stats.DelayedAuthFailures.Load(); n != 2 {
		t.Errorf("Stats.DelayedAuthFailures = %d, want 2", n)
	}
	if got, _ := attempt(c, "ok", "pw"); got != "<iq id='ok' type='result'/>" {
		t.Fatalf("the right password from the same address: %s", got)
	}
	if got, _ := attempt(openStream(t, ts.addr, "127.0.0.3"), "owner", "pw"); got != "<iq id='owner' type='result'/>" {
		t.Fatalf("the owner from another address: %s", got)
	}
}

// TestSessionsPerAccount: one more resource than MaxSessionsPerAccount is refused with
// resource-constraint; replacing a bound resource is not one more.
func TestSessionsPerAccount(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.MaxSessionsPerAccount = 2 })
	registerRaw(t, ts.addr, "jane", "pw")
	legacyLogin(t, ts.addr, "jane", "pw", "one")
	legacyLogin(t, ts.addr, "jane", "pw", "two")
	c := dialRaw(t, ts.addr)
	c.send(legacyHeader)
	c.expectRe(headerRe)
	c.send("<iq id='auth1' type='set'><query xmlns='jabber:iq:auth'><username>jane</username><password>pw</password><resource>three</resource></query></iq>")
	c.expectRe(`<iq id='auth1' type='error'><error code='500' type='wait'><resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>too many sessions for this account</text></error></iq>`)
	legacyLogin(t, ts.addr, "jane", "pw", "two") // takes over two
}

// TestClientKey: IPv4 addresses count one by one, IPv6 ones by their /64, and an
// IPv4-mapped IPv6 address as the IPv4 one.
func TestClientKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":               "192.0.2.7",
		"::ffff:192.0.2.7":        "192.0.2.7",
		"2001:db8:1:2:3:4:5:6":    "2001:db8:1:2::",
		"2001:db8:1:2:ffff::1":    "2001:db8:1:2::",
		"2001:db8:1:3::1":         "2001:db8:1:3::",
		"::1":                     "::",
		"fe80::1%eth0":            "fe80::",
		"2001:db8:1:2:3:4:5:6%x1": "2001:db8:1:2::",
	} {
		if got := clientKey(netip.MustParseAddr(in)); got.String() != want {
			t.Errorf("clientKey(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestRateLimit: the bucket holds perMinute, refills one every minute/perMinute, says how
// long to wait, and forgets addresses whose bucket is full again.
func TestRateLimit(t *testing.T) {
	r := rateLimit{perMinute: 6, sweepAt: 2}
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 6 {
		if ok, _ := r.take(a, t0); !ok {
			t.Fatalf("event %d refused", i)
		}
	}
	ok, wait := r.take(a, t0.Add(time.Second))
	if ok || wait != 9*time.Second {
		t.Fatalf("seventh: %v, wait %v; want refused, 9s", ok, wait)
	}
	if ok, _ := r.take(a, t0.Add(10*time.Second)); !ok {
		t.Fatal("refused after a token came back")
	}
	if ok, _ := r.take(a, t0.Add(10*time.Second)); ok {
		t.Fatal("a second event on one token")
	}
	if ok, _ := r.take(b, t0); !ok {
		t.Fatal("another address refused")
	}
	// A minute later both buckets are full: adding a third address sweeps them.
	c := netip.MustParseAddr("192.0.2.3")
	r.take(c, t0.Add(2*time.Minute))
	if len(r.m) != 1 || r.m[c] == nil {
		t.Fatalf("after the sweep the table holds %d addresses", len(r.m))
	}
	off := rateLimit{}
	if ok, _ := off.take(a, t0); !ok {
		t.Fatal("no limit refused")
	}
}
