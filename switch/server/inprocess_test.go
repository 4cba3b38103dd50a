package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/switch/local"
)

// startInProcess runs a switch like startServer (on TCP) and also on a switch/local
// listener, with mod applied; it returns both.
func startInProcess(t *testing.T, mod func(*Config)) (*testServer, *local.Listener) {
	t.Helper()
	ln := local.Listen("inprocess-test", 0)
	ts := startServer(t, func(c *Config) {
		if mod != nil {
			mod(c)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ts.srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Errorf("Serve on the local listener did not return after cancel")
		}
	})
	return ts, ln
}

// readUntilLocal reads from r until the text read so far contains sub.
func readUntilLocal(t *testing.T, r *bufio.Reader, sub string) string {
	t.Helper()
	var b strings.Builder
	for !strings.Contains(b.String(), sub) {
		c, err := r.ReadByte()
		if err != nil {
			t.Fatalf("reading until %q: %v; got %q", sub, err, b.String())
		}
		b.WriteByte(c)
	}
	return b.String()
}

const inProcessHeader = "<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"

// startTLSLocal dials ln, opens a stream and asks for STARTTLS up to the switch's
// <proceed/>; it returns the connection (closed at the test's end), its reader and the
// features before STARTTLS.
func startTLSLocal(t *testing.T, ln *local.Listener) (net.Conn, *bufio.Reader, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := ln.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	conn.Write([]byte(inProcessHeader))
	before := readUntilLocal(t, r, "</stream:features>")
	conn.Write([]byte("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"))
	readUntilLocal(t, r, "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	return conn, r, before
}

// With InProcessLink, STARTTLS on a switch/local connection secures the stream without a
// handshake: <proceed/>, then a new stream in clear on the same connection gets the
// features of a stream after TLS (no starttls, PLAIN offered as over TLS).
func TestInProcessLinkStartTLS(t *testing.T) {
	var notes []string
	notesCh := make(chan string, 64)
	ts, ln := startInProcess(t, func(c *Config) {
		c.InProcessLink = true
		c.BehindProxy = true // as the main job's switch: PLAIN only over TLS
		c.Observe = inspect.SinkFunc(func(r *inspect.Record) error {
			if r.Kind == inspect.KindNote {
				select {
				case notesCh <- r.Note():
				default:
				}
			}
			return nil
		})
	})
	conn, r, before := startTLSLocal(t, ln)
	if !strings.Contains(before, "<starttls") || strings.Contains(before, "<mechanism>PLAIN</mechanism>") {
		t.Fatalf("features before STARTTLS: %s", before)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn.Write([]byte(inProcessHeader))
	after := readUntilLocal(t, r, "</stream:features>")
	if strings.Contains(after, "<starttls") || !strings.Contains(after, "<mechanism>PLAIN</mechanism>") {
		t.Fatalf("features after STARTTLS on the in-process link: %s", after)
	}
	for len(notes) == 0 || !strings.Contains(notes[len(notes)-1], "in-process link") {
		select {
		case n := <-notesCh:
			notes = append(notes, n)
		case <-ctx.Done():
			t.Fatalf("no note of the in-process STARTTLS; notes: %q", notes)
		}
	}

	// The same server on TCP: STARTTLS is a real handshake, and the stream after it gets
	// the same features.
	c := dialRaw(t, ts.addr)
	c.send(inProcessHeader)
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	readUntilLocal(t, c.r, "</stream:features>")
	c.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	readUntilLocal(t, c.r, "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	tc := tls.Client(c.conn, &tls.Config{ServerName: "localhost", RootCAs: ts.pool})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS handshake on TCP with InProcessLink set: %v", err)
	}
	tc.Write([]byte(inProcessHeader))
	tcpAfter := readUntilLocal(t, bufio.NewReader(tc), "</stream:features>")
	if i := strings.Index(tcpAfter, "<stream:features>"); i < 0 || tcpAfter[i:] != after[strings.Index(after, "<stream:features>"):] {
		t.Fatalf("features after STARTTLS: on TCP %s, on the in-process link %s", tcpAfter, after)
	}
}

// Without InProcessLink, STARTTLS on a switch/local connection is a real TLS handshake.
func TestInProcessLinkOff(t *testing.T) {
	ts, ln := startInProcess(t, nil)
	conn, _, _ := startTLSLocal(t, ln)
	tc := tls.Client(conn, &tls.Config{ServerName: "localhost", RootCAs: ts.pool})
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS handshake on a local connection without InProcessLink: %v", err)
	}
}
