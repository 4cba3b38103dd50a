package proxy

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// batchSink records what the proxy hands on, and in which calls.
type batchSink struct {
	mu      sync.Mutex
	recs    []*inspect.Record
	batches []int // the size of each WriteBatch call
}

func (s *batchSink) Write(r *inspect.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs = append(s.recs, r)
	return nil
}

func (s *batchSink) WriteBatch(rs []*inspect.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs = append(s.recs, rs...)
	s.batches = append(s.batches, len(rs))
	return nil
}

// ids returns the ids of the message records in direction dir, in the order handed on.
func (s *batchSink) ids(dir inspect.Direction) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, r := range s.recs {
		if r.Kind == inspect.KindStanza && r.Name == "message" && r.Dir == dir {
			ids = append(ids, r.Attr("id"))
		}
	}
	return ids
}

// TestRecordsOfOneWriteComeTogether: the records of the stanzas forwarded in one write
// reach a sink that takes batches (inspect.BatchSink, the sink chain) in one call, in the
// order of the stanzas, in both directions.
func TestRecordsOfOneWriteComeTogether(t *testing.T) {
	sink := &batchSink{}
	c := echoClient(t, sink)
	const n = 20
	var b strings.Builder
	var want []string
	for i := range n {
		id := fmt.Sprintf("m%07d", i)
		b.WriteString(strings.Replace(benchMsg, "m0000001", id, 1))
		want = append(want, id)
	}
	c.SetDeadline(time.Now().Add(time.Minute))
	if _, err := io.WriteString(c, b.String()); err != nil { // one write: 20 stanzas
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, b.Len())); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []inspect.Direction{inspect.ClientToServer, inspect.ServerToClient} {
		for deadline := time.Now().Add(10 * time.Second); len(sink.ids(dir)) < n; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%v: %d message records of %d", dir, len(sink.ids(dir)), n)
			}
		}
		if got := sink.ids(dir); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("%v: message records %v, want %v", dir, got, want)
		}
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if len(sink.batches) == 0 || maxOf(sink.batches) < 2 {
		t.Fatalf("batches handed on: %v; the 20 stanzas of one write came one by one", sink.batches)
	}
}

func maxOf(xs []int) int {
	m := 0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}
