package inspect

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// lockedCollect is a sink that may be written by the Async goroutine and read by the test.
type lockedCollect struct {
	mu   sync.Mutex
	recs []*Record
}

func (c *lockedCollect) Write(r *Record) error {
	c.mu.Lock()
	c.recs = append(c.recs, r)
	c.mu.Unlock()
	return nil
}

func TestAsyncConcurrentWriters(t *testing.T) {
	out := &lockedCollect{}
	a := NewAsync(out, 10000)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				if err := a.Write(&Record{Kind: KindNote, Note: "x", Conn: &ConnInfo{ID: uint64(g*1000 + i)}}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if len(out.recs) != 4000 || a.Dropped() != 0 {
		t.Fatalf("got %d records, %d dropped", len(out.recs), a.Dropped())
	}
	if err := a.Write(&Record{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

// blockingSink holds every Write until released.
type blockingSink struct {
	release chan struct{}
	n       atomic.Int64
	notes   []string
	mu      sync.Mutex
}

func (b *blockingSink) Write(r *Record) error {
	<-b.release
	b.n.Add(1)
	if r.Kind == KindNote {
		b.mu.Lock()
		b.notes = append(b.notes, r.Note)
		b.mu.Unlock()
	}
	return nil
}

func TestAsyncSlowSinkDropsAndNeverBlocks(t *testing.T) {
	slow := &blockingSink{release: make(chan struct{})}
	a := NewAsync(slow, 4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 1000 {
			a.Write(&Record{Kind: KindStanza})
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Write blocked on a slow sink")
	}
	close(slow.release)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	d := a.Dropped()
	// The queue holds 4, the goroutine holds 1 more in Write.
	if d < 1000-5 || d > 1000 {
		t.Fatalf("dropped %d", d)
	}
	if got := slow.n.Load(); got != int64(1000-d)+1 {
		t.Fatalf("sink got %d records, want %d plus the note", got, 1000-d)
	}
	if len(slow.notes) != 1 || !strings.Contains(slow.notes[0], "records could not be logged") {
		t.Fatalf("notes %q", slow.notes)
	}
}

func TestAsyncReportsSinkError(t *testing.T) {
	boom := errors.New("disk full")
	a := NewAsync(SinkFunc(func(*Record) error { return boom }), 4)
	a.Write(&Record{})
	if err := a.Close(); !errors.Is(err, boom) {
		t.Fatalf("Close = %v", err)
	}
}
