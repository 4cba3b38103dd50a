package main

import (
	"bytes"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stanzascope/stanzascope/inspect"
)

type noteSink struct {
	mu   sync.Mutex
	recs []*inspect.Record
}

func (s *noteSink) Write(r *inspect.Record) error {
	s.mu.Lock()
	s.recs = append(s.recs, r)
	s.mu.Unlock()
	return nil
}

// TestReporter: before and after the display, report lines go to stderr; while it runs,
// they are note records with their time, and those about a connection carry it.
func TestReporter(t *testing.T) {
	var stderr bytes.Buffer
	r := newReporter(&stderr)
	r.logf("proxy: before the display")
	sink := &noteSink{}
	r.attach(sink)
	r.logf("proxy: connection %d: client TLS handshake failed: %s", 4, "bad certificate")
	r.logf("switch: conn 7 bound jane@localhost/x") // the standalone switch: its numbers are the display's
	r.logf("rules: reloaded %d rules", 3)
	r.detach()
	r.logf("proxy: after the display")
	if got := stderr.String(); got != "proxy: before the display\nproxy: after the display\n" {
		t.Errorf("stderr: %q", got)
	}
	want := []struct {
		conn uint64
		note string
	}{{4, "proxy: client TLS handshake failed: bad certificate"}, {7, "switch: bound jane@localhost/x"}, {0, "rules: reloaded 3 rules"}}
	if len(sink.recs) != len(want) {
		t.Fatalf("%d records", len(sink.recs))
	}
	for i, w := range want {
		rec := sink.recs[i]
		var conn uint64
		if rec.Conn != nil {
			conn = rec.Conn.ID
		}
		if rec.Kind != inspect.KindNote || rec.Time.IsZero() || conn != w.conn || rec.Note() != w.note {
			t.Errorf("record %d: kind %v conn %d note %q time %v", i, rec.Kind, conn, rec.Note(), rec.Time)
		}
	}
}

// TestReporterSwitchBehindProxy: in the default mode a line of the embedded switch about
// its connection k is shown on the proxy's connection whose upstream leg k is; once that
// connection closes, the reporter forgets it.
func TestReporterSwitchBehindProxy(t *testing.T) {
	r := newReporter(&bytes.Buffer{})
	sink := &noteSink{}
	r.attach(sink)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sw := r.switchListener(ln)
	defer sw.Close()
	var accepted []net.Conn
	for _, proxyConn := range []uint64{5, 9} {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		r.dialedFor(proxyConn, c, "")
		a, err := sw.Accept()
		if err != nil {
			t.Fatal(err)
		}
		accepted = append(accepted, a)
	}
	r.logf("switch: conn 2 bound dana@localhost/Home")
	r.logf("switch: conn 1: registered jane@localhost")
	accepted[0].Close()
	r.logf("switch: conn 1: gone")
	r.logf("switch: conn 3 unknown")
	var got []string
	for _, rec := range sink.recs {
		s := rec.Note()
		if rec.Conn != nil {
			s = "#" + strconv.FormatUint(rec.Conn.ID, 10) + " " + s
		}
		got = append(got, s)
	}
	want := "#9 switch: bound dana@localhost/Home|#5 switch: registered jane@localhost|switch: conn 1: gone|switch: conn 3 unknown"
	if g := strings.Join(got, "|"); g != want {
		t.Errorf("got  %s\nwant %s", g, want)
	}
	if len(r.switchAddr) != 1 || len(r.dialed) != 1 {
		t.Errorf("closed connections are remembered: %v %v", r.switchAddr, r.dialed)
	}
}
