package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// lateReturnConn is an upstream connection whose writes return late: the bytes leave at
// once, but the writer gets control back only after delay, as when the goroutine that
// wrote is not scheduled again at once (a busy machine, a garbage collection).
type lateReturnConn struct {
	net.Conn
	delay time.Duration
}

func (c lateReturnConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	time.Sleep(c.delay) // the window under test, not a synchronisation
	return n, err
}

// wrappedUpstream configures a proxy toward the upstream at addr, recording into sink,
// whose upstream connections are wrapped by wrap.
func wrappedUpstream(addr string, sink inspect.Sink, wrap func(net.Conn) net.Conn) Config {
	return Config{
		Sink: sink,
		Logf: func(string, ...any) {},
		Dial: func(ctx context.Context) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			if err != nil {
				return nil, err
			}
			return wrap(c), nil
		},
	}
}

// TestAnswerRecordedAfterRequest: the record of a stanza comes before the record of the
// peer's answer to it, however late the write of the stanza returns. Before, a side
// emitted a record once its write returned, and an answer that came back meanwhile was
// recorded first (seen in the README's session: the register result before its query).
func TestAnswerRecordedAfterRequest(t *testing.T) {
	up := echoUpstream(t, nil)
	sink := &recSink{}
	cfg := wrappedUpstream(up, sink, func(c net.Conn) net.Conn { return lateReturnConn{c, 20 * time.Millisecond} })
	c := benchClient(t, serveProxy(t, cfg, false).addr, nil)
	defer c.Close()
	const n = 5
	for i := range n {
		msg := fmt.Sprintf("<message id='m%d' to='b@localhost'><body>%d</body></message>", i, i)
		io.WriteString(c, msg)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := readUpTo(c, msg); err != nil {
			t.Fatalf("the echo of m%d: %v", i, err)
		}
	}
	// The answer's record may be emitted just after the client read it: wait for it.
	var recs []*inspect.Record
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		recs = sink.all()
		answers := 0
		for _, r := range recs {
			if r.Kind == inspect.KindStanza && r.Name == "message" && r.Dir == inspect.ServerToClient {
				answers++
			}
		}
		if answers == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d answers recorded, want %d", answers, n)
		}
	}
	var order []string
	for _, r := range recs {
		if r.Kind == inspect.KindStanza && r.Name == "message" {
			order = append(order, fmt.Sprintf("%v %s", r.Dir, r.Raw[:len("<message id='m0'")]))
		}
	}
	for i := range n {
		req := fmt.Sprintf("%v <message id='m%d'", inspect.ClientToServer, i)
		ans := fmt.Sprintf("%v <message id='m%d'", inspect.ServerToClient, i)
		if want := []string{req, ans}; len(order) < 2*(i+1) || order[2*i] != req || order[2*i+1] != ans {
			t.Fatalf("stanza %d: want %q then its answer, records in order:\n%s", i, want, strings.Join(order, "\n"))
		}
	}
}

// brokenWriteConn is an upstream connection whose first write that holds marker writes
// only what comes before it and keep more bytes, then fails, as a write that a peer's
// reset cuts short.
type brokenWriteConn struct {
	net.Conn
	marker string
	keep   int
}

var errBrokenWrite = errors.New("write: connection reset by peer (test)")

func (c brokenWriteConn) Write(b []byte) (int, error) {
	i := strings.Index(string(b), c.marker)
	if i < 0 {
		return c.Conn.Write(b)
	}
	n, _ := c.Conn.Write(b[:i+c.keep])
	return n, errBrokenWrite
}

// TestFailedWriteToldAfterItsRecords: the records of a write are emitted before it, so a
// write that fails part-way is told by a note right after them (MilestoneUnwritten) with
// how many of their last bytes did not go; the records with those bytes taken off are
// exactly what the upstream received.
func TestFailedWriteToldAfterItsRecords(t *testing.T) {
	got := make(chan string, 1)
	up := rawServer(t, func(c net.Conn) {
		hdr, err := readHeader(c)
		if err != nil {
			got <- hdr
			return
		}
		io.WriteString(c, serverHeader+plainFeatures)
		b, _ := io.ReadAll(c)
		got <- hdr + string(b)
	})
	sink := &recSink{}
	cfg := wrappedUpstream(up, sink, func(c net.Conn) net.Conn { return brokenWriteConn{c, "<message id='cut'", 10} })
	c, err := net.Dial("tcp", serveProxy(t, cfg, false).addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	clientGot := make(chan string, 1)
	go func() {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		b, _ := io.ReadAll(c)
		clientGot <- string(b)
	}()
	io.WriteString(c, clientHeader)
	io.WriteString(c, "<message id='whole' to='b@localhost'><body>1</body></message><message id='cut' to='b@localhost'><body>2</body></message>")
	upstreamGot := <-got
	cg := <-clientGot
	recs := waitClosed(t, sink, 1)

	var note *inspect.Record
	for i, r := range recs {
		if m := r.Milestone(); m != nil && m.Kind == inspect.MilestoneUnwritten {
			note = r
			if prev := recs[i-1]; prev.Dir != inspect.ClientToServer || !strings.HasPrefix(string(prev.Raw), "<message id='cut'") {
				t.Errorf("the note does not follow the record of the failed write: %v %q", prev.Dir, prev.Raw)
			}
		}
	}
	if note == nil {
		t.Fatalf("no note of the failed write; upstream got %q", upstreamGot)
	}
	m := note.Milestone()
	cut := "<message id='cut' to='b@localhost'><body>2</body></message>"
	if note.Dir != inspect.ClientToServer || note.Origin != inspect.OriginProxy || m.Leg != "upstream" ||
		m.UnwrittenBytes != int64(len(cut)-10) || m.UnwrittenRecords != 1 {
		t.Errorf("note %v %v %+v %q, want c2s, proxy, upstream, %d bytes of 1 record", note.Dir, note.Origin, *m, note.Note(), len(cut)-10)
	}
	if !strings.HasSuffix(upstreamGot, "<message id='whole' to='b@localhost'><body>1</body></message>"+cut[:10]) {
		t.Errorf("upstream got %q", upstreamGot)
	}
	checkTruth(t, recs, recs[0].Conn.ID, cg, upstreamGot)
}
