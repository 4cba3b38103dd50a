package inspect

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClosed is returned by Async.Write after Close.
var ErrClosed = errors.New("inspect: sink closed")

// Overflow says what an Async does with a record when its queue is full.
type Overflow uint8

const (
	// Block makes Write wait for room: no record is ever lost, and a sink that cannot keep
	// up slows its producers down (backpressure). For the JSON log and the capture, which a
	// user keeps as evidence.
	Block Overflow = iota
	// Skip makes Write drop the record and count it. The sink then gets, before the next
	// record that fits, a note saying how many records were skipped there, with their
	// numbers and times. For the terminal, which must never hold the traffic up.
	Skip
)

// Async decouples producers from a sink that may be slow: Write hands the record to a
// bounded queue and one goroutine writes the queue to next. What happens when the queue is
// full is the Overflow policy. Write is safe for concurrent use. The record is read by
// the queue's goroutine afterwards: nobody may change it any more (Chain gives one record
// to every queue; the tree a reader parses is the one change, and it is safe for
// concurrent use, see Record.Element).
//
// When the queue runs empty, Async calls next's Flush method if it has one: a buffered
// file is written in large pieces under load and is complete on disk whenever the
// traffic pauses.
type Async struct {
	next     Sink
	overflow Overflow
	ch       chan *Record
	done     chan struct{}
	mu       sync.Mutex // serialises Write and Close; a blocked Write holds it
	closed   bool
	gap      gap // Skip: the records skipped since the last note
	skipped  atomic.Uint64
	errOnce  sync.Once
	err      error // first error from next, returned by Close
}

// NewAsync starts the goroutine that feeds next from a queue of size records (at least 1).
// Call Close to stop it.
func NewAsync(next Sink, size int, overflow Overflow) *Async {
	a := &Async{next: next, overflow: overflow, ch: make(chan *Record, max(size, 1)), done: make(chan struct{})}
	go a.loop()
	return a
}

// flusher is the optional part of a sink that buffers.
type flusher interface{ Flush() error }

func (a *Async) loop() {
	defer close(a.done)
	f, _ := a.next.(flusher)
	for r := range a.ch {
		a.write(r)
		if f != nil && len(a.ch) == 0 {
			if err := f.Flush(); err != nil {
				a.errOnce.Do(func() { a.err = err })
			}
		}
	}
}

func (a *Async) write(r *Record) {
	if err := a.next.Write(r); err != nil {
		a.errOnce.Do(func() { a.err = err })
	}
}

// Write queues r: at once when there is room, else as the Overflow policy says.
func (a *Async) Write(r *Record) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return ErrClosed
	}
	if a.overflow == Block {
		a.ch <- r
		return nil
	}
	if a.gap.n > 0 {
		// Room for the note is checked before the note is made: a select would make it
		// (formatting its text) for every record while the queue stays full. Writers hold
		// a.mu, so room seen here is still there for the send.
		if len(a.ch) == cap(a.ch) {
			a.skip(r)
			return nil
		}
		a.ch <- a.gap.note()
		a.gap = gap{}
	}
	select {
	case a.ch <- r:
	default:
		a.skip(r)
	}
	return nil
}

func (a *Async) skip(r *Record) {
	a.gap.add(r)
	a.skipped.Add(1)
}

// Skipped returns how many records were skipped because the queue was full (always 0
// with Block).
func (a *Async) Skipped() uint64 { return a.skipped.Load() }

// Close writes what is queued, then the note of a gap not yet reported, and stops the
// goroutine. It returns the first error next returned. Close is idempotent; it does not
// close next.
func (a *Async) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		<-a.done
		return a.err
	}
	a.closed = true
	close(a.ch)
	a.mu.Unlock()
	<-a.done
	if a.gap.n > 0 {
		a.write(a.gap.note())
		a.gap = gap{}
	}
	return a.err
}

// gap describes consecutive records a Skip queue dropped.
type gap struct {
	n                 uint64
	firstSeq, lastSeq uint64
	first, last       time.Time
}

func (g *gap) add(r *Record) {
	if g.n == 0 {
		g.firstSeq, g.first = r.Seq, r.Time
	}
	g.n++
	g.lastSeq, g.last = r.Seq, r.Time
}

// note is the record that tells, where the records are missing, what is missing.
func (g *gap) note() *Record {
	where := ""
	if g.firstSeq != 0 {
		where = fmt.Sprintf(" #%d", g.firstSeq)
		if g.lastSeq != g.firstSeq {
			where += fmt.Sprintf(" to #%d", g.lastSeq)
		}
	}
	if !g.first.IsZero() {
		where += " from " + g.first.Format("15:04:05.000") + " to " + g.last.Format("15:04:05.000")
	}
	s := "s"
	if g.n == 1 {
		s = ""
	}
	return &Record{Time: g.last, Kind: KindNote, Note: fmt.Sprintf(
		"%d record%s skipped here%s: this output could not keep up (the JSON log and the capture never skip)", g.n, s, where)}
}
