package proxy

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// floodLimit bounds a flood and what waits for its end. Filling the path to a peer that
// stopped reading takes about 4 MB through the proxy (the kernel grows the proxy's send
// buffer to tcp_wmem's maximum): 0.6 s alone, 2-4 s at load 24 under -race.
const floodLimit = 60 * time.Second

// floodMessage is what a flooding peer sends, over and over.
var floodMessage = "<message to='alice@localhost' type='chat'><body>" + strings.Repeat("x", 1000) + "</body></message>"

// flood writes floodMessage to c until a write fails (at most 100,000 times, floodLimit). When
// full is not nil it is closed once a write has made no progress for 200 ms: the path to
// the reader is full.
func flood(c net.Conn, full chan<- struct{}) {
	end := time.Now().Add(floodLimit)
	for range 100_000 {
		b := []byte(floodMessage)
		for len(b) > 0 {
			d := end
			if full != nil && time.Now().Add(200*time.Millisecond).Before(end) {
				d = time.Now().Add(200 * time.Millisecond)
			}
			c.SetWriteDeadline(d)
			n, err := c.Write(b)
			b = b[n:]
			var ne net.Error
			switch {
			case err == nil:
			case full != nil && n == 0 && errors.As(err, &ne) && ne.Timeout() && time.Now().Before(end):
				close(full)
				full = nil
			case errors.As(err, &ne) && ne.Timeout() && time.Now().Before(end):
			default:
				return
			}
		}
	}
}

// shrinkReadBuffer makes c's receive buffer small, so that a peer that stops reading
// fills it quickly.
func shrinkReadBuffer(t testing.TB, c net.Conn) {
	t.Helper()
	if err := c.(*net.TCPConn).SetReadBuffer(4096); err != nil {
		t.Fatal(err)
	}
}

// floodingServer answers the stream header with features, then floods the client with
// messages until the proxy closes the connection; everything it read goes to got.
func floodingServer(t testing.TB, got chan<- string, full chan<- struct{}) string {
	return rawServer(t, func(c net.Conn) {
		c.SetReadDeadline(time.Now().Add(floodLimit))
		var head strings.Builder
		b := make([]byte, 4096)
		for !strings.Contains(head.String(), "version='1.0'>") {
			n, err := c.Read(b)
			head.Write(b[:n])
			if err != nil {
				got <- head.String()
				return
			}
		}
		io.WriteString(c, serverHeader+plainFeatures)
		rest := make(chan string, 1)
		go func() {
			b, _ := io.ReadAll(c)
			rest <- string(b)
		}()
		flood(c, full)
		got <- head.String() + <-rest
	})
}

// waitNoteWithin is waitNote with a deadline of d.
func (s *recSink) waitNoteWithin(t testing.TB, sub string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if strings.Contains(s.notes(), sub) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no note containing %q within %v; notes:\n%s", sub, d, s.notes())
}

// TestClientStopsReading: a client with a small receive buffer stops reading while the
// server floods it. The write timeout closes the connection, the upstream gets a clean
// close, and the log says why.
func TestClientStopsReading(t *testing.T) {
	got := make(chan string, 1)
	tp := startProxy(t, Config{Upstream: floodingServer(t, got, nil), WriteTimeout: 300 * time.Millisecond}, false)
	c := dial(t, tp.addr)
	shrinkReadBuffer(t, c)
	io.WriteString(c, clientHeader)
	readUntil(t, c, "</stream:features>")
	// From here on the client reads nothing.
	tp.sink.waitNoteWithin(t, "the client stopped reading: a write to it did not complete within 300ms (write timeout); connection closed, the upstream got a clean close", floodLimit)
	select {
	case s := <-got:
		if !strings.HasSuffix(s, "</stream:stream>") {
			t.Fatalf("upstream got %q at the end, want a closing tag", s[max(0, len(s)-200):])
		}
	case <-time.After(floodLimit):
		t.Fatal("the upstream's connection was not closed")
	}
	tp.sink.waitNoteWithin(t, "closed after", floodLimit)
}

// TestUpstreamStopsReading: the same the other way round: the client floods, the upstream
// stops reading; the client gets a clean close.
func TestUpstreamStopsReading(t *testing.T) {
	release := make(chan struct{})
	up := rawServer(t, func(c net.Conn) {
		shrinkReadBuffer(t, c)
		readUntil(t, c, "version='1.0'>")
		io.WriteString(c, serverHeader+plainFeatures)
		<-release // reads nothing more
	})
	defer close(release)
	tp := startProxy(t, Config{Upstream: up, WriteTimeout: 300 * time.Millisecond}, false)
	c := dial(t, tp.addr)
	io.WriteString(c, clientHeader)
	readUntil(t, c, "</stream:features>")
	done := make(chan struct{})
	go func() {
		defer close(done)
		flood(c, nil)
	}()
	c.SetReadDeadline(time.Now().Add(floodLimit))
	rest, _ := io.ReadAll(c)
	if string(rest) != "</stream:stream>" {
		t.Fatalf("client got %q, want a clean close", rest)
	}
	<-done
	tp.sink.waitNoteWithin(t, "the upstream stopped reading", floodLimit)
}

// TestIdleTimeoutWithStuckWrite: the idle timeout of a client that stopped reading (and
// sending) ends the connection although a write toward it is stuck and the write timeout
// is long: the stream error does not wait for the stuck write.
func TestIdleTimeoutWithStuckWrite(t *testing.T) {
	got := make(chan string, 1)
	full := make(chan struct{})
	// The keep-alives below come every 50 ms; the idle timeout leaves them ample slack on a
	// busy machine.
	tp := startProxy(t, Config{Upstream: floodingServer(t, got, full), IdleTimeout: time.Second, WriteTimeout: time.Hour}, false)
	c := dial(t, tp.addr)
	shrinkReadBuffer(t, c)
	io.WriteString(c, clientHeader)
	readUntil(t, c, "</stream:features>")
	// Keep the idle timer from firing until the proxy's write toward this client is
	// stuck: the flooding server can write no more.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(floodLimit)
keepalive:
	for {
		select {
		case <-full:
			break keepalive
		case <-tick.C:
			io.WriteString(c, " ")
		case <-deadline:
			t.Fatal("the path to the client never filled")
		}
	}
	tp.sink.waitNoteWithin(t, "the client sent nothing for 1s", floodLimit)
	tp.sink.waitNoteWithin(t, "closed after", floodLimit)
	select {
	case s := <-got:
		if !strings.HasSuffix(s, "</stream:stream>") {
			t.Fatalf("upstream got %q at the end, want a closing tag", s[max(0, len(s)-200):])
		}
	case <-time.After(floodLimit):
		t.Fatal("the upstream's connection was not closed")
	}
	if n := strings.Count(tp.sink.notes(), "stopped reading"); n != 0 {
		t.Errorf("the write cut by the idle timeout was reported as its own failure:\n%s", tp.sink.notes())
	}
}
