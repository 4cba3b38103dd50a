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
// The goroutine takes the whole queue at once and writes it out while producers fill the
// next one: under load a record costs its producer an append under a lock, not a channel
// operation, and the goroutine is woken once per batch, not per record. (A channel per
// queue cost the main job about 3 % of its CPU: every record goes to three queues.) At
// most size records wait in the queue, besides the batch being written.
//
// When the queue runs empty, Async calls next's Flush method if it has one: a buffered
// file is written in large pieces under load and is complete on disk whenever the
// traffic pauses.
type Async struct {
	next     Sink
	overflow Overflow
	size     int
	mu       sync.Mutex
	queue    []*Record // waiting for the goroutine; at most size
	spare    []*Record // the goroutine's last batch, emptied, for the next queue
	idle     bool      // the goroutine waits for records (nonEmpty)
	nonEmpty sync.Cond // signalled when a record comes to an idle goroutine, or on Close
	room     sync.Cond // Block: signalled when the goroutine takes the queue
	waiting  int       // Block: writers waiting for room
	closed   bool
	done     chan struct{}
	gap      gap // Skip: the records skipped since the last note
	skipped  atomic.Uint64
	errOnce  sync.Once
	err      error // first error from next, returned by Close
}

// NewAsync starts the goroutine that feeds next from a queue of size records (at least 1).
// Call Close to stop it.
func NewAsync(next Sink, size int, overflow Overflow) *Async {
	size = max(size, 1)
	a := &Async{next: next, overflow: overflow, size: size, done: make(chan struct{})}
	a.queue = make([]*Record, 0, min(size, 256))
	a.nonEmpty.L, a.room.L = &a.mu, &a.mu
	go a.loop()
	return a
}

// flusher is the optional part of a sink that buffers.
type flusher interface{ Flush() error }

func (a *Async) loop() {
	defer close(a.done)
	f, _ := a.next.(flusher)
	a.mu.Lock()
	for {
		// Writers still waiting for room when Close came push their records before
		// the goroutine ends: a blocked Write loses nothing.
		for len(a.queue) == 0 && (!a.closed || a.waiting > 0) {
			a.idle = true
			a.nonEmpty.Wait()
			a.idle = false
		}
		if len(a.queue) == 0 { // closed, and all written
			a.mu.Unlock()
			return
		}
		batch := a.queue
		a.queue, a.spare = a.spare[:0], nil
		if a.waiting > 0 {
			a.room.Broadcast()
		}
		a.mu.Unlock()
		for _, r := range batch {
			a.write(r)
		}
		clear(batch) // hold no record past its writing
		a.mu.Lock()
		a.spare = batch[:0]
		if f != nil && len(a.queue) == 0 {
			a.mu.Unlock()
			if err := f.Flush(); err != nil {
				a.errOnce.Do(func() { a.err = err })
			}
			a.mu.Lock()
		}
	}
}

func (a *Async) write(r *Record) {
	if err := a.next.Write(r); err != nil {
		a.errOnce.Do(func() { a.err = err })
	}
}

// wake wakes the goroutine when it waits for records and there are some.
func (a *Async) wake() {
	if a.idle && len(a.queue) > 0 {
		a.nonEmpty.Signal()
	}
}

// put queues r as the Overflow policy says, without waking the goroutine unless it must
// wait for room (the caller wakes it once it has put what it has). a.mu must be held.
func (a *Async) put(r *Record) {
	if a.overflow == Block {
		// A writer that waits here when Close comes still queues its record (loop).
		for len(a.queue) >= a.size {
			a.wake() // what a batch put before has not been handed over yet
			a.waiting++
			a.room.Wait()
			a.waiting--
		}
		a.queue = append(a.queue, r)
		return
	}
	if a.gap.n > 0 {
		// Room for the note is checked before the note is made: making it (formatting
		// its text) for every record while the queue stays full would cost the traffic.
		if len(a.queue) >= a.size {
			a.skip(r)
			return
		}
		a.queue = append(a.queue, a.gap.note())
		a.gap = gap{}
	}
	if len(a.queue) >= a.size {
		a.skip(r)
		return
	}
	a.queue = append(a.queue, r)
}

// Write queues r: at once when there is room, else as the Overflow policy says.
func (a *Async) Write(r *Record) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return ErrClosed
	}
	a.put(r)
	a.wake()
	return nil
}

// WriteBatch queues the records of rs in order, as Write of each would, under one taking
// of the lock and with one wake-up of the goroutine: a Block queue waits for room as
// often as it needs (waking the goroutine first), a Skip queue skips what does not fit
// and notes it where the records are missing.
func (a *Async) WriteBatch(rs []*Record) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return ErrClosed
	}
	for _, r := range rs {
		a.put(r)
	}
	a.wake()
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
	a.nonEmpty.Signal()
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
	return (&Record{Time: g.last, Kind: KindNote}).WithNote(fmt.Sprintf(
		"%d record%s skipped here%s: this output could not keep up (the JSON log and the capture never skip)", g.n, s, where))
}
