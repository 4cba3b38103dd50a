package proxy

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/switch/local"
)

// countConn counts the writes made on it.
type countConn struct {
	net.Conn
	writes atomic.Int64
}

func (c *countConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// readyPipe is a pipe's source (a flushReader) reading src, with a side toward the other
// peer whose writes are counted.
type readyPipe struct {
	r      flushReader
	dest   *side
	writes *countConn
	err    error
}

func newReadyPipe(t *testing.T, src net.Conn) *readyPipe {
	out, peer := local.Pipe("dest", "peer", 0)
	t.Cleanup(func() { out.Close(); peer.Close() }) // ends the copy below
	go io.Copy(io.Discard, peer)
	cc := &countConn{Conn: out}
	p := &readyPipe{dest: newSide("client", true, cc, 5*time.Second), writes: cc}
	p.r = flushReader{c: src, dest: func() *side { return p.dest }, stop: new(atomic.Bool), dead: make(chan struct{}),
		err: &p.err, wait: &pipeWait{}, ready: readyFunc(src)}
	return p
}

// tlsPair returns the two ends of a TLS connection over a local pipe, the server end made
// as the proxy makes its legs.
func tlsPair(t *testing.T) (client *tls.Conn, server *tls.Conn) {
	t.Helper()
	a, b := local.Pipe("client", "proxy", 0)
	ca := newCA(t)
	leaf, err := ca.Leaf("localhost")
	if err != nil {
		t.Fatal(err)
	}
	server = tlsLegServer(b, &tls.Config{Certificates: []tls.Certificate{*leaf}})
	done := make(chan error, 1)
	go func() { done <- server.Handshake() }()
	client = tlsClient(t, a, ca.Pool())
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return client, server
}

// The pipe writes what it queued only when its next read would wait: records that are
// there already are read first, however many, and the queue leaves in one write. Before,
// a TLS leg flushed once per record.
func TestReadyTLSFlushesOnlyBeforeWaiting(t *testing.T) {
	client, server := tlsPair(t)
	defer client.Close()
	p := newReadyPipe(t, server)
	for _, s := range []string{"<a/>", "<b/>", "<c/>"} {
		if _, err := io.WriteString(client, s); err != nil { // one TLS record each
			t.Fatal(err)
		}
	}
	if err := p.dest.queue([]byte("<x/>"), nil); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	for _, want := range []string{"<a/>", "<b/>", "<c/>"} {
		n, err := p.r.Read(buf)
		if err != nil || string(buf[:n]) != want {
			t.Fatalf("read %q, %v; want %q", buf[:n], err, want)
		}
		if w := p.writes.writes.Load(); w != 0 {
			t.Fatalf("%d writes toward the other peer while input was there; want none", w)
		}
	}
	// Nothing more: the read flushes, then waits.
	got := make(chan string, 1)
	go func() {
		n, err := p.r.Read(buf)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(buf[:n])
	}()
	deadline := time.Now().Add(5 * time.Second)
	for p.writes.writes.Load() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d writes toward the other peer before a read that waits; want 1", p.writes.writes.Load())
		}
		time.Sleep(time.Millisecond)
	}
	// The connection is still good after the reads that would have waited.
	io.WriteString(client, "<d/>")
	select {
	case s := <-got:
		if s != "<d/>" {
			t.Fatalf("after waiting, read %q; want <d/>", s)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the read that waited did not return")
	}
	// Bytes followed by the end (close_notify): what was queued goes first, then both.
	p.dest.queue([]byte("<y/>"), nil)
	io.WriteString(client, "<e/>")
	client.Close()
	var all []byte
	for range 3 {
		n, err := p.r.Read(buf)
		all = append(all, buf[:n]...)
		if err != nil {
			if !errors.Is(err, io.EOF) || string(all) != "<e/>" {
				t.Fatalf("at the end read %q, %v; want <e/> and EOF", all, err)
			}
			break
		}
	}
	if w := p.writes.writes.Load(); w != 2 {
		t.Fatalf("%d writes toward the other peer at the end; want 2", w)
	}
}

// On a plaintext local connection (the embedded switch's), what its buffer holds is read
// before flushing too.
func TestReadyLocalFlushesOnlyBeforeWaiting(t *testing.T) {
	a, b := local.Pipe("switch", "proxy", 0)
	defer a.Close()
	p := newReadyPipe(t, b)
	io.WriteString(a, "<a/>")
	p.dest.queue([]byte("<x/>"), nil)
	buf := make([]byte, 2)
	for _, want := range []string{"<a", "/>"} {
		n, err := p.r.Read(buf)
		if err != nil || string(buf[:n]) != want {
			t.Fatalf("read %q, %v; want %q", buf[:n], err, want)
		}
	}
	if w := p.writes.writes.Load(); w != 0 {
		t.Fatalf("%d writes toward the other peer while input was there; want none", w)
	}
	a.Close()
	if n, err := p.r.Read(buf); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("at the end read %d, %v; want EOF", n, err)
	}
	if w := p.writes.writes.Load(); w != 1 {
		t.Fatalf("%d writes toward the other peer before the end; want 1", w)
	}
}

// While the connection ends (draining, killed), the pipe reads as before, flushing
// first: the end's deadline decides, not the input.
func TestReadyNotWhileEnding(t *testing.T) {
	client, server := tlsPair(t)
	defer client.Close()
	p := newReadyPipe(t, server)
	io.WriteString(client, "<a/>")
	io.WriteString(client, "<b/>")
	p.r.stop.Store(true)
	p.dest.queue([]byte("<x/>"), nil)
	buf := make([]byte, 64)
	if n, err := p.r.Read(buf); err != nil || string(buf[:n]) != "<a/>" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if w := p.writes.writes.Load(); w != 1 {
		t.Fatalf("%d writes toward the other peer while draining; want 1 (flushed before the read)", w)
	}
}
