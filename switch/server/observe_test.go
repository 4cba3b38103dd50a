package server

import (
	"sync"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// recorder is a concurrency-safe Sink that keeps every record.
type recorder struct {
	mu   sync.Mutex
	recs []*inspect.Record
}

func (r *recorder) Write(rec *inspect.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec)
	return nil
}

func (r *recorder) snapshot() []*inspect.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*inspect.Record(nil), r.recs...)
}

// TestObserve: every event in and out reaches the observer, with its connection,
// direction and time, and stanzas parse in the namespace context they carry.
func TestObserve(t *testing.T) {
	rec := &recorder{}
	ts := startServer(t, func(c *Config) { c.Observe = rec })
	jane, dana := pair(t, ts)
	undisturbed(t, jane, dana)
	jane.send("</stream:stream>")
	jane.expect("</stream:stream>")
	jane.expectEOF()
	// A record is written after the bytes it holds: a connection's last record
	// (conn-close) after its socket is closed, and what a session's writer wrote after
	// the write, so the client can see them first. Wait for the three closes (two
	// registrations and jane) and the message routed to dana, bounded.
	var recs []*inspect.Record
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		recs = rec.snapshot()
		n, routed := 0, false
		for _, r := range recs {
			if r.Kind == inspect.KindConnClose {
				n++
			}
			routed = routed || r.Dir == inspect.ServerToClient && r.Name == "message"
		}
		if n >= 3 && routed || time.Now().After(deadline) {
			break
		}
	}

	var in, out, opens, closes int
	sawRouted := false
	for _, r := range recs {
		if r.Conn == nil || r.Time.IsZero() {
			t.Fatalf("record without connection or time: %+v", r)
		}
		switch r.Kind {
		case inspect.KindConnOpen:
			opens++
		case inspect.KindConnClose:
			closes++
		case inspect.KindStanza:
			if r.Dir == inspect.ClientToServer {
				in++
			} else {
				out++
			}
			el, err := r.Element()
			if err != nil {
				t.Fatalf("%s stanza %q does not parse in its context: %v", r.Dir, r.Raw, err)
			}
			if r.Dir == inspect.ServerToClient && el.Local == "message" && el.Attr("from") == "jane@localhost/Home" {
				sawRouted = true
			}
		}
	}
	if opens < 4 || closes < 3 || in == 0 || out == 0 || !sawRouted {
		t.Fatalf("records: %d conn-open, %d conn-close, %d in, %d out, routed message seen %v", opens, closes, in, out, sawRouted)
	}
}
