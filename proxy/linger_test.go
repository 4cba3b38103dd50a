package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// floodStanzas is how many messages floodServer sends, about 9 KiB in all: more than a
// client's receive buffer of floodRcvBuf holds, less than the proxy's send buffer.
const (
	floodStanzas = 60
	floodRcvBuf  = 1024 // the kernel doubles it and raises it to its minimum (about 2 KiB)
	// busyDeadline bounds each busy client's exchange. It takes about 200 ms on a quiet
	// machine, but the window probes that pace it back off while the client is not
	// scheduled: 1.2 s for the test at load 10, 7-34 s at load 15-27 under -race, some
	// connections several seconds each, close to the 10 s this was.
	busyDeadline = 60 * time.Second
)

// floodServer answers a stream header with a header and features, then answers
// <presence/> with floodStanzas messages, and reads until the connection ends.
func floodServer(t testing.TB) string {
	msg := "<message to='a@localhost' type='chat'><body>" + strings.Repeat("x", 100) + "</body></message>"
	return rawServer(t, func(c net.Conn) {
		var buf strings.Builder
		b := make([]byte, 4096)
		c.SetReadDeadline(time.Now().Add(busyDeadline))
		headerDone, flooded := false, false
		for {
			n, err := c.Read(b)
			buf.Write(b[:n])
			if !headerDone && strings.Contains(buf.String(), "version='1.0'>") {
				headerDone = true
				io.WriteString(c, serverHeader+plainFeatures)
			}
			if !flooded && strings.Contains(buf.String(), "<presence/>") {
				flooded = true
				io.WriteString(c, strings.Repeat(msg, floodStanzas))
			}
			if err != nil {
				return
			}
		}
	})
}

// TestStreamErrorReachesBusyClient: a client that is busy writing, not reading, when it
// sends a byte the proxy refuses still reads the whole stream error once it reads. The
// proxy's error waits in its send buffer behind stanzas the client has not read yet;
// closing a socket with unread input makes the kernel send a reset and throw that send
// buffer away, so the proxy half-closes and drains the client's input first (linger.go).
func TestStreamErrorReachesBusyClient(t *testing.T) {
	tp := startProxy(t, Config{Upstream: floodServer(t)}, false)
	// 50 connections, 10 at a time: the client's small window makes each take about
	// 200 ms (the kernel's probe of a window that was full), or seconds on a busy machine:
	// the probes back off while the client does not read.
	const conns, together = 50, 10
	errs := make(chan error, conns)
	var wg sync.WaitGroup
	for g := range conns / together {
		for i := range together {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, err := busyClient(tp)
				switch {
				case err != nil:
				case !strings.HasSuffix(out, "</stream:error></stream:stream>"):
					err = fmt.Errorf("the client read %d bytes ending in %q; want the whole stream error", len(out), out[max(0, len(out)-200):])
				case strings.Count(out, "<message ") != floodStanzas:
					err = fmt.Errorf("the client got %d messages before the error, want %d; it read %q", strings.Count(out, "<message "), floodStanzas, out[:min(len(out), 3000)])
				}
				if err != nil {
					errs <- fmt.Errorf("connection %d of %d: %w", g*together+i+1, conns, err)
					return
				}
				expectStreamError(t, out, inspect.CondNotWellFormed)
			}()
		}
		wg.Wait()
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// busyClients numbers the busy clients, whose stream headers say who they are (busyClient).
var busyClients atomic.Int64

// busyClient opens a stream with a small receive buffer, asks floodServer for its
// messages and waits until the proxy has written them all to the client's connection
// (their records say so), so that they fill the client's buffer. Then it sends a byte that
// is not XML followed by 32 KiB more, and only then reads everything until the connection
// ends. It returns what it read.
//
// The client finds its connection's records by the from of its stream header, unique in
// the test, not by its port: the kernel gives a new connection the port of one that
// closed (seen after some hundreds of connections to one proxy), whose 60 records then
// ended the wait before the proxy had forwarded anything to this one, and the client got
// the stream error with none of the messages, or, under load, sent its junk while the
// proxy's writes of the messages were stuck on its full window, and got neither.
func busyClient(tp *testProxy) (string, error) {
	d := smallRcvBufDialer(floodRcvBuf)
	ctx, cancel := context.WithTimeout(context.Background(), busyDeadline)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", tp.addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(busyDeadline))
	from := fmt.Sprintf("busy%d@localhost", busyClients.Add(1))
	if _, err := io.WriteString(c, strings.Replace(clientHeader, " to=", " from='"+from+"' to=", 1)); err != nil {
		return "", err
	}
	var got bytes.Buffer
	b := make([]byte, 4096)
	for !strings.Contains(got.String(), plainFeatures) {
		n, err := c.Read(b)
		got.Write(b[:n])
		if err != nil {
			return got.String(), fmt.Errorf("reading the features: %w", err)
		}
	}
	if _, err := io.WriteString(c, "<presence/>"); err != nil {
		return "", err
	}
	deadline := time.Now().Add(busyDeadline)
	for countDelivered(tp.sink, from, "message") < floodStanzas {
		if time.Now().After(deadline) {
			return "", fmt.Errorf("the proxy wrote %d of %d messages toward the client within %v", countDelivered(tp.sink, from, "message"), floodStanzas, busyDeadline)
		}
		time.Sleep(time.Millisecond) // poll for the records of the written messages
	}
	// The write fails on a proxy that closes at once, answering the garbage with a reset;
	// what the client reads afterwards is what counts.
	junk := bytes.Repeat([]byte("<x>garbage</x>"), 32<<10/14)
	c.Write(append([]byte("<message>\x01"), junk...))
	_, err = io.Copy(&got, c)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		return got.String(), fmt.Errorf("reading the rest: %w", err)
	}
	return got.String(), nil
}

// smallRcvBufDialer dials with a receive buffer of n bytes, set before the connection
// is made.
func smallRcvBufDialer(n int) net.Dialer {
	return net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) { serr = setRcvBuf(fd, n) }); err != nil {
			return err
		}
		return serr
	}}
}

// countDelivered counts the stanza records named name that the proxy wrote toward the
// client whose stream header has from as its from.
func countDelivered(s *recSink, from string, name string) int {
	recs := s.all()
	var conn *inspect.ConnInfo
	for _, r := range recs {
		if r.Conn != nil && r.Dir == inspect.ClientToServer && r.Kind == inspect.KindStreamOpen && strings.Contains(string(r.Raw), " from='"+from+"' ") {
			conn = r.Conn
			break
		}
	}
	n := 0
	for _, r := range recs {
		if conn != nil && r.Conn != nil && r.Conn.ID == conn.ID && r.Dir == inspect.ServerToClient && r.Kind == inspect.KindStanza && r.Name == name && r.Verdict.Delivered() {
			n++
		}
	}
	return n
}
