package proxy

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/proxy/ca"
)

// recSink collects records; safe for concurrent use.
type recSink struct {
	mu   sync.Mutex
	recs []*inspect.Record
}

func (s *recSink) Write(r *inspect.Record) error {
	s.mu.Lock()
	s.recs = append(s.recs, r)
	s.mu.Unlock()
	return nil
}

func (s *recSink) all() []*inspect.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*inspect.Record(nil), s.recs...)
}

// notes returns the text of every note and connection record.
func (s *recSink) notes() string {
	var b strings.Builder
	for _, r := range s.all() {
		if r.Note() != "" {
			b.WriteString(r.Note())
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// waitLimit bounds the waits for an event in these tests: generous, since under -race on
// a busy machine (load 20-30 on 2 cores) a step that takes milliseconds alone can take
// seconds; a test that passes does not wait for it.
const waitLimit = 30 * time.Second

// waitNote waits until a record's note contains sub.
func (s *recSink) waitNote(t testing.TB, sub string) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for time.Now().Before(deadline) {
		if strings.Contains(s.notes(), sub) {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no note containing %q; notes:\n%s", sub, s.notes())
}

type testProxy struct {
	addr string
	p    *Proxy
	sink *recSink
	stop func()
}

// startProxy runs a proxy with cfg on a loopback listener (Direct TLS when direct) and
// stops it, checking that Serve returns, at test end.
func startProxy(t testing.TB, cfg Config, direct bool) *testProxy {
	t.Helper()
	sink := &recSink{}
	if cfg.Sink == nil {
		cfg.Sink = sink
	}
	if cfg.Logf == nil {
		cfg.Logf = t.Logf
	}
	tp := serveProxy(t, cfg, direct)
	tp.sink = sink
	return tp
}

// serveProxy runs a proxy with cfg on a loopback listener (Direct TLS when direct) and
// stops it, checking that Serve returns, at test end.
func serveProxy(t testing.TB, cfg Config, direct bool) *testProxy {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		if direct {
			done <- p.ServeTLS(ctx, ln)
		} else {
			done <- p.Serve(ctx, ln)
		}
	}()
	var once sync.Once
	tp := &testProxy{addr: ln.Addr().String(), p: p}
	tp.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Serve: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("Serve did not return after cancel")
			}
		})
	}
	t.Cleanup(tp.stop)
	return tp
}

// rawServer is an upstream written by hand: handle runs for each connection.
func rawServer(t testing.TB, handle func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String()
}

// readUntil reads from r until the bytes read contain sub, or fails after 5 s.
func readUntil(t testing.TB, c net.Conn, sub string) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitLimit))
	defer c.SetReadDeadline(time.Time{})
	var buf bytes.Buffer
	b := make([]byte, 4096)
	for !strings.Contains(buf.String(), sub) {
		n, err := c.Read(b)
		buf.Write(b[:n])
		if err != nil {
			t.Fatalf("reading until %q: %v; got %q", sub, err, buf.String())
		}
	}
	return buf.String()
}

// readAll reads until EOF (at most waitLimit).
func readAll(t testing.TB, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitLimit))
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read all: %v (got %q)", err, b)
	}
	return string(b)
}

func newCA(t testing.TB) *ca.CA {
	t.Helper()
	c, err := ca.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

const (
	clientHeader = "<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
	serverHeader = "<?xml version='1.0'?><stream:stream from='localhost' id='s1' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
)

// echoClient serves a proxy in front of an echoing upstream, with sink (nil: none), and
// returns a client logged in through it (benchClient); both end with the test.
func echoClient(t testing.TB, sink inspect.Sink) net.Conn {
	t.Helper()
	cfg := Config{Upstream: echoUpstream(t, nil), Logf: func(string, ...any) {}}
	if sink != nil {
		cfg.Sink = sink
	}
	c := benchClient(t, serveProxy(t, cfg, false).addr, nil)
	t.Cleanup(func() { c.Close() })
	return c
}
