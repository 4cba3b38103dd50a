//go:build linux

package proxy

import (
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// unackedNotes returns the notes that say bytes toward a leg were not acknowledged.
func (s *recSink) unackedNotes(leg string) []*inspect.Record {
	var out []*inspect.Record
	for _, r := range s.all() {
		if m := r.Milestone(); m != nil && m.Kind == inspect.MilestoneUnacked && m.Leg == leg {
			out = append(out, r)
		}
	}
	return out
}

// recordedToClient returns how many bytes the records say were delivered toward the
// client.
func (s *recSink) recordedToClient() int64 {
	var n int64
	for _, r := range s.all() {
		if r.Dir == inspect.ServerToClient && r.Kind != inspect.KindNote && r.Verdict.Delivered() {
			n += int64(len(r.Raw))
		}
	}
	return n
}

// oneUnackedToClient returns the one note of bytes toward the client not acknowledged.
func (s *recSink) oneUnackedToClient(t *testing.T) *inspect.Record {
	t.Helper()
	notes := s.unackedNotes("client")
	if len(notes) != 1 {
		t.Fatalf("%d notes of unacknowledged bytes toward the client, want 1; notes:\n%s", len(notes), s.notes())
	}
	return notes[0]
}

// checkUnackedAccount checks a note of unacknowledged bytes against what the client
// received: never more than was recorded toward it, and at least what was recorded less
// what the note says may not have reached it.
func checkUnackedAccount(t *testing.T, recorded, received int64, rerr error, note *inspect.Record) {
	t.Helper()
	m := note.Milestone()
	t.Logf("recorded %d bytes toward the client, it received %d (read error %v), unacknowledged %d (%d records): %s",
		recorded, received, rerr, m.UnackedBytes, m.UnackedRecords, note.Note())
	if received > recorded {
		t.Errorf("the client received %d bytes, more than the %d recorded", received, recorded)
	}
	if recorded-m.UnackedBytes > received {
		t.Errorf("recorded %d - unacknowledged %d = %d bytes claimed delivered, the client received only %d",
			recorded, m.UnackedBytes, recorded-m.UnackedBytes, received)
	}
}

// TestUnackedAtWriteTimeout: a client stops reading while the server floods it, until the
// write timeout closes its connection. The record of what was forwarded to it claims more
// than the client gets; the note says how much it may not have received, and what the
// client can still read after the close plus that count covers what was recorded.
func TestUnackedAtWriteTimeout(t *testing.T) { testUnackedAtWriteTimeout(t, false) }

// TestUnackedAtWriteTimeoutTLS: the same with a Direct TLS client: the count is of TLS
// record bytes, more than the plaintext they carry, so it still covers what the client
// does not get.
func TestUnackedAtWriteTimeoutTLS(t *testing.T) { testUnackedAtWriteTimeout(t, true) }

func testUnackedAtWriteTimeout(t *testing.T, direct bool) {
	got := make(chan string, 1)
	authority := newCA(t)
	tp := startProxy(t, Config{Upstream: floodingServer(t, got, nil), WriteTimeout: 300 * time.Millisecond,
		CA: authority, AllowPlaintextUpstream: true}, direct)
	var c net.Conn = dial(t, tp.addr)
	shrinkReadBuffer(t, c)
	if direct {
		tc := tls.Client(c, &tls.Config{ServerName: "localhost", RootCAs: authority.Pool()})
		tc.SetDeadline(time.Now().Add(waitLimit))
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		tc.SetDeadline(time.Time{})
		c = tc
	}
	io.WriteString(c, clientHeader)
	head := readUntil(t, c, "</stream:features>")
	// From here on the client reads nothing until the proxy has closed its connection.
	tp.sink.waitNoteWithin(t, "the client stopped reading", floodLimit)
	tp.sink.waitNoteWithin(t, "closed after", floodLimit)
	recorded := tp.sink.recordedToClient()
	note := tp.sink.oneUnackedToClient(t)
	m := note.Milestone()
	// The client reads what reaches it: at least what the record says reached it, or
	// until the connection ends (a reset or its end, or nothing more comes for 5 s).
	received := int64(len(head))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 64<<10)
	var rerr error
	for i := 0; i < 100_000 && rerr == nil && received < recorded-m.UnackedBytes; i++ {
		var n int
		n, rerr = c.Read(b)
		received += int64(n)
	}
	if m.UnackedBytes <= 0 || note.Dir != inspect.ServerToClient || note.Origin != inspect.OriginProxy {
		t.Fatalf("note %+v %+v, want bytes > 0 toward the client, from the proxy", note, m)
	}
	switch {
	case direct && (m.UnackedRecords != 0 || !strings.Contains(note.Note(), "bytes of TLS records")):
		t.Errorf("note %q (%d records) on a TLS leg, want a count of TLS record bytes", note.Note(), m.UnackedRecords)
	case !direct && m.UnackedRecords <= 0 && !strings.Contains(note.Note(), "more than the last"):
		t.Errorf("note %q maps to no records", note.Note())
	}
	checkUnackedAccount(t, recorded, received, rerr, note)
	if notes := tp.sink.unackedNotes("upstream"); len(notes) != 0 {
		t.Errorf("the upstream, which read everything, got a note: %s", notes[0].Note())
	}
	select {
	case <-got:
	case <-time.After(floodLimit):
		t.Fatal("the upstream's connection was not closed")
	}
}

// TestUnackedNoneOnNormalClose: clients that read everything and close their streams
// get no note of unacknowledged bytes, on TLS legs either.
func TestUnackedNoneOnNormalClose(t *testing.T) {
	swAddr, swRoots := startSwitch(t, true)
	authority := newCA(t)
	tp := startProxy(t, Config{Upstream: swAddr, CA: authority, UpstreamTLS: &tls.Config{RootCAs: swRoots}}, false)
	alice := melliumLogin(t, tp.addr, authority.Pool(), false, "alice", "wonderland")
	bob := melliumLogin(t, tp.addr, authority.Pool(), false, "bob", "builder")
	for i := range 20 {
		alice.Chat(bob.JID(), "hello "+strings.Repeat("y", 100*i))
	}
	bob.WaitFor("hello " + strings.Repeat("y", 1900))
	alice.Close()
	bob.Close()
	deadline := time.Now().Add(waitLimit)
	for strings.Count(tp.sink.notes(), "closed after") < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	tp.stop()
	if n := strings.Count(tp.sink.notes(), "closed after"); n != 2 {
		t.Fatalf("%d connections closed, want 2; notes:\n%s", n, tp.sink.notes())
	}
	for _, leg := range []string{"client", "upstream"} {
		if notes := tp.sink.unackedNotes(leg); len(notes) != 0 {
			t.Errorf("a normal close recorded unacknowledged bytes: %s", notes[0].Note())
		}
	}
}

// unackedBytes counts what the peer has not acknowledged, and a closed or non-socket
// connection is unknown.
func TestUnackedBytesCount(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if n, ok := unackedBytes(c); !ok || n != 0 {
		t.Fatalf("idle connection: %d, %v; want 0, true", n, ok)
	}
	c.Write([]byte("hello"))
	deadline := time.Now().Add(waitLimit)
	n, ok := unackedBytes(c)
	for ok && n != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // the peer's kernel acknowledges without the peer reading
		n, ok = unackedBytes(c)
	}
	if !ok || n != 0 {
		t.Fatalf("after the peer's kernel acknowledged: %d, %v", n, ok)
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, ok := unackedBytes(a); ok {
		t.Error("a pipe has a count")
	}
	c.Close()
	if _, ok := unackedBytes(c); ok {
		t.Error("a closed connection has a count")
	}
}

// TestUnackedAfterLinger: a client that does not read gets a stream error behind
// messages it has not read; the proxy lingers on its connection and, the client neither
// reading nor closing, closes it when the linger runs out. The note says how many bytes
// the client had not acknowledged, and what it reads afterwards covers the rest of what
// was recorded toward it, the stream error included.
func TestUnackedAfterLinger(t *testing.T) {
	tp := startProxy(t, Config{Upstream: floodServer(t)}, false)
	d := smallRcvBufDialer(floodRcvBuf)
	c, err := d.Dial("tcp", tp.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	from := "lingering@localhost"
	io.WriteString(c, strings.Replace(clientHeader, " to=", " from='"+from+"' to=", 1))
	head := readUntil(t, c, plainFeatures)
	io.WriteString(c, "<presence/>")
	deadline := time.Now().Add(busyDeadline)
	for countDelivered(tp.sink, from, "message") < floodStanzas {
		if time.Now().After(deadline) {
			t.Fatalf("the proxy wrote %d of %d messages toward the client", countDelivered(tp.sink, from, "message"), floodStanzas)
		}
		time.Sleep(time.Millisecond) // poll for the records of the written messages
	}
	io.WriteString(c, "<message>\x01")
	// The client reads nothing, and does not close, until the proxy closed.
	tp.sink.waitNoteWithin(t, "closed after", busyDeadline)
	recorded := tp.sink.recordedToClient()
	note := tp.sink.oneUnackedToClient(t)
	m := note.Milestone()
	if m.UnackedBytes <= 0 || m.UnackedRecords <= 0 {
		t.Errorf("note %q: %d bytes in %d records, want both > 0", note.Note(), m.UnackedBytes, m.UnackedRecords)
	}
	c.SetReadDeadline(time.Now().Add(waitLimit))
	rest, rerr := io.ReadAll(c)
	received := int64(len(head) + len(rest))
	checkUnackedAccount(t, recorded, received, rerr, note)
}

// TestUnackedAtShutdown: the proxy stops while its writes toward a client that stopped
// reading are stuck; the kill at shutdown records what the client had not acknowledged.
func TestUnackedAtShutdown(t *testing.T) {
	got := make(chan string, 1)
	full := make(chan struct{})
	tp := startProxy(t, Config{Upstream: floodingServer(t, got, full), WriteTimeout: time.Hour}, false)
	c := dial(t, tp.addr)
	shrinkReadBuffer(t, c)
	io.WriteString(c, clientHeader)
	readUntil(t, c, "</stream:features>")
	select {
	case <-full:
	case <-time.After(floodLimit):
		t.Fatal("the path to the client never filled")
	}
	tp.stop()
	if note := tp.sink.oneUnackedToClient(t); note.Milestone().UnackedBytes <= 0 {
		t.Errorf("note %q: %d bytes", note.Note(), note.Milestone().UnackedBytes)
	}
	if !strings.Contains(tp.sink.notes(), "proxy shutting down") {
		t.Errorf("no shutdown note:\n%s", tp.sink.notes())
	}
}
