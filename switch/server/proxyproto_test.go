package server

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"

	"github.com/stanzascope/stanzascope/inspect"
)

// TestProxyHeaderRoundTrip: what AppendProxyHeader writes, ParseProxyHeader reads back,
// byte for byte as HAProxy's send-proxy-v2 lays it out.
func TestProxyHeaderRoundTrip(t *testing.T) {
	srv4 := netip.MustParseAddrPort("192.0.2.1:5222")
	srv6 := netip.MustParseAddrPort("[2001:db8::1]:5222")
	for _, tc := range []struct {
		client, server netip.AddrPort
		want           netip.AddrPort
		len            int
	}{
		{netip.MustParseAddrPort("198.51.100.7:40000"), srv4, netip.MustParseAddrPort("198.51.100.7:40000"), 16 + 12},
		{netip.MustParseAddrPort("[::ffff:198.51.100.7]:40000"), srv4, netip.MustParseAddrPort("198.51.100.7:40000"), 16 + 12},
		{netip.MustParseAddrPort("[2001:db8:5::9]:1234"), srv6, netip.MustParseAddrPort("[2001:db8:5::9]:1234"), 16 + 36},
		{netip.MustParseAddrPort("[2001:db8:5::9]:1234"), srv4, netip.MustParseAddrPort("[2001:db8:5::9]:1234"), 16 + 36},
		{netip.AddrPort{}, srv4, netip.AddrPort{}, 16}, // LOCAL
	} {
		b := AppendProxyHeader([]byte("x"), tc.client, tc.server)[1:]
		if len(b) != tc.len {
			t.Errorf("%v: %d bytes, want %d", tc.client, len(b), tc.len)
		}
		tail := append(b, "<stream:stream>"...)
		n, got, err := ParseProxyHeader(tail)
		if err != nil || n != len(b) || got != tc.want {
			t.Errorf("%v: parsed %d bytes, %v, %v; want %d, %v", tc.client, n, got, err, len(b), tc.want)
		}
		// Every cut short of the whole header asks for more.
		for i := range len(b) {
			if _, _, err := ParseProxyHeader(b[:i]); !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("%v cut at %d: %v, want io.ErrUnexpectedEOF", tc.client, i, err)
			}
		}
	}
	// HAProxy's example: TCP over IPv4 from 127.0.0.1:56324 to 127.0.0.1:443.
	haproxy := []byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\x7f\x00\x00\x01\x7f\x00\x00\x01\xdc\x04\x01\xbb")
	if n, got, err := ParseProxyHeader(haproxy); err != nil || n != 28 || got != netip.MustParseAddrPort("127.0.0.1:56324") {
		t.Errorf("HAProxy's header: %d, %v, %v", n, got, err)
	}
	if b := AppendProxyHeader(nil, netip.MustParseAddrPort("127.0.0.1:56324"), netip.MustParseAddrPort("127.0.0.1:443")); !bytes.Equal(b, haproxy) {
		t.Errorf("AppendProxyHeader = %q, want HAProxy's %q", b, haproxy)
	}
}

// TestProxyHeaderInvalid: what is not a version 2 header is refused with errNoProxyHeader
// and a reason; a header for a family without a TCP address gives no client.
func TestProxyHeaderInvalid(t *testing.T) {
	sig := "\r\n\r\n\x00\r\nQUIT\n"
	for name, in := range map[string]string{
		"XMPP instead":   "<stream:stream to='localhost'>",
		"version 1":      "PROXY TCP4 198.51.100.7 192.0.2.1 40000 5222\r\n",
		"version 3":      sig + "\x31\x11\x00\x0c" + strings.Repeat("\x00", 12),
		"command 2":      sig + "\x22\x11\x00\x0c" + strings.Repeat("\x00", 12),
		"too long":       sig + "\x21\x11\x10\x00",
		"short IPv4":     sig + "\x21\x11\x00\x04" + strings.Repeat("\x00", 4),
		"short IPv6":     sig + "\x21\x21\x00\x0c" + strings.Repeat("\x00", 12),
		"bad first byte": "\r\n\r\n\x01",
	} {
		if _, _, err := ParseProxyHeader([]byte(in)); !errors.Is(err, errNoProxyHeader) {
			t.Errorf("%s: %v, want errNoProxyHeader", name, err)
		}
	}
	udp := sig + "\x21\x12\x00\x0c" + strings.Repeat("\x01", 12)
	if n, client, err := ParseProxyHeader([]byte(udp)); err != nil || n != 28 || client.IsValid() {
		t.Errorf("UDP: %d, %v, %v; want 28 bytes, no client", n, client, err)
	}
}

// FuzzProxyHeader: ParseProxyHeader never reads past its input nor accepts a header it
// cannot give back: a TCP client it returns is what AppendProxyHeader writes again.
func FuzzProxyHeader(f *testing.F) {
	f.Add(AppendProxyHeader(nil, netip.MustParseAddrPort("198.51.100.7:40000"), netip.MustParseAddrPort("192.0.2.1:5222")))
	f.Add(AppendProxyHeader(nil, netip.MustParseAddrPort("[2001:db8::9]:1"), netip.MustParseAddrPort("[2001:db8::1]:5222")))
	f.Add(AppendProxyHeader(nil, netip.AddrPort{}, netip.AddrPort{}))
	f.Add([]byte("<stream:stream>"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, client, err := ParseProxyHeader(b)
		if err != nil {
			if n != 0 || client.IsValid() {
				t.Fatalf("error %v with %d bytes, client %v", err, n, client)
			}
			if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, errNoProxyHeader) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if n < 16 || n > len(b) || n > maxProxyHeader {
			t.Fatalf("header of %d bytes in %d", n, len(b))
		}
		if client.IsValid() {
			again := AppendProxyHeader(nil, client, netip.AddrPort{})
			if _, back, err := ParseProxyHeader(again); err != nil || back != client {
				t.Fatalf("client %v written again reads %v, %v", client, back, err)
			}
		}
	})
}

// TestTrustProxy: behind a trusted proxy, the client's address is the one its PROXY header
// gives: in the records and for the limits per address, so that two clients of the proxy
// are two addresses, not one. A connection without the header is closed, and the log says
// so.
func TestTrustProxy(t *testing.T) {
	logs := new(logBuffer)
	rec := new(recorder)
	ts := startServer(t, func(c *Config) {
		c.TrustProxy = true
		c.MaxConnsPerIP = 1
		c.Logf = logs.logf
		c.Observe = rec
	})
	from := func(client string) *rawClient {
		c := dialRaw(t, ts.addr)
		c.send(string(AppendProxyHeader(nil, netip.MustParseAddrPort(client), netip.MustParseAddrPort(ts.addr))))
		return c
	}
	jane := from("198.51.100.7:40000")
	jane.send(legacyHeader)
	jane.expectRe(headerRe)
	jane.send("<iq id='r' type='set'><query xmlns='jabber:iq:register'><username>jane</username><password>pw</password></query></iq>")
	jane.expect("<iq id='r' type='result'/>")

	again := from("198.51.100.7:40001") // the same client address, through the same proxy
	again.readStanza()
	if got := again.readStanza(); !strings.Contains(got, "too many connections from 198.51.100.7 (limit 1)") {
		t.Fatalf("second connection of 198.51.100.7: %s", got)
	}
	other := from("198.51.100.8:40000")
	other.send(legacyHeader)
	other.expectRe(headerRe)
	other.send("<iq id='a' type='set'><query xmlns='jabber:iq:auth'><username>jane</username><password>pw</password><resource>r</resource></query></iq>")
	other.expect("<iq id='a' type='result'/>")

	// The records carry the client's address, not the proxy's.
	seen := map[string]bool{}
	for _, r := range rec.snapshot() {
		if r.Kind == inspect.KindConnOpen {
			seen[r.Conn.Client.String()] = true
		}
	}
	if !seen["198.51.100.7:40000"] || !seen["198.51.100.8:40000"] {
		t.Errorf("connections opened from %v", seen)
	}

	// No header: closed, nothing written.
	bare := dialRaw(t, ts.addr)
	bare.send(legacyHeader)
	bare.expectEOF()
	logs.waitLine(t, "connections without a PROXY header")
	// Half a header, then the client stops: closed at the login deadline at the latest
	// (the test server's: the default), here at once because the client closes its side.
	half := dialRaw(t, ts.addr)
	half.send("\r\n\r\n\x00\r\nQUI")
	half.conn.(interface{ CloseWrite() error }).CloseWrite()
	half.expectEOF()
}
