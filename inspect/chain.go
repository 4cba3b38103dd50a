package inspect

import (
	"errors"
	"sync"
	"time"
)

// Output is one consumer at the end of a Chain: a printer, the JSON log, the capture
// writer, the web view.
type Output struct {
	Sink Sink
	// Lossy outputs (the terminal) skip records when they cannot keep up and say where,
	// with a note (see Skip). The others are lossless: when they cannot keep up the
	// producers wait (see Block), so a log never misses a record.
	Lossy bool
	// Inline outputs (the metrics) have no queue: they are written first, in the producer's
	// goroutine under the chain's lock, before any queued output gets the record. An
	// inline sink must be quick and never wait (it holds up every producer), and must only
	// read the record, like every output; parsing it (Element) is work the traffic waits for.
	// Lossy does not apply to it.
	Inline bool
	// Show, when set, chooses the records the output gets: it is asked in the producer's
	// goroutine under the chain's lock, in the order of the records, before the output's
	// queue, so that a record the output would not show costs no queueing and no wake-up
	// of the output's goroutine (the terminal with --filter-name that matches little,
	// under load). A lossy output's skip notes then count only records it would have
	// shown, and are not asked about. Show runs on the traffic's path: it must be quick,
	// and decide on what a record is, not on a tree it parses.
	Show func(r *Record) bool
}

// ChainOptions configure a Chain.
type ChainOptions struct {
	// ShowSecrets leaves the redactor out (--show-secrets).
	ShowSecrets bool
	// IQTimeout is how long an iq request may wait for its answer before the tracker
	// reports it (see NewIQTracker); NoIQTrack leaves the tracker out (for input that
	// holds one direction, or a log that was tracked when it was written).
	IQTimeout time.Duration
	NoIQTrack bool
	// Queue is the number of records each output may hold when it is slower than the
	// producers; each output then runs in its own goroutine. 0 writes every output in the
	// producer's goroutine, one after the other: right for a file being read, where nothing
	// waits for the outputs but the reader.
	Queue int
}

// Chain is the sink chain, composed once for every front end:
//
//	producers -> redactor (unless ShowSecrets) -> iq tracker -> numbering
//	          -> tee(inline outputs, then the others, each behind its own queue)
//
// The redactor is the only stage that knows what a secret is, so every output gets the
// same redacted records and a new output needs nothing but a place in the list. Past the
// numbering a record is not changed any more, so every output gets the same record, not
// a copy: the outputs only read it, and the one thing a reader adds to it, the tree it
// parses on first use, is made safe for concurrent use (Record.Element). The
// tracker and the numbering run under one lock in the order records arrive, so every
// output sees the same records, numbered alike, in the same order. Write is safe for
// concurrent use; it returns once every output has the record queued (or, for a lossy
// output with a full queue, skipped), so the time it takes is the backpressure of the
// lossless outputs.
type Chain struct {
	head    Sink // the redactor, or the locked stages when secrets are shown
	redact  bool // the redactor is in (not ShowSecrets): WriteBatch redacts before the lock
	mu      sync.Mutex
	locked  Sink // tracker -> numbering -> tee, under mu
	tracker *IQTracker
	queues  []*Async
}

// NewChain composes the chain in front of outs. Close it after the last Write.
func NewChain(opt ChainOptions, outs ...Output) *Chain {
	c := &Chain{}
	sinks := make([]Sink, 0, len(outs))
	for _, o := range outs {
		if o.Sink != nil && o.Inline {
			var s Sink = o.Sink
			if o.Show != nil {
				s = &showing{show: o.Show, next: s}
			}
			sinks = append(sinks, s)
		}
	}
	for _, o := range outs {
		if o.Sink == nil || o.Inline {
			continue
		}
		s := o.Sink
		if opt.Queue > 0 {
			policy := Block
			if o.Lossy {
				policy = Skip
			}
			q := NewAsync(s, opt.Queue, policy)
			c.queues = append(c.queues, q)
			s = q
		}
		if o.Show != nil {
			s = &showing{show: o.Show, next: s}
		}
		sinks = append(sinks, s)
	}
	c.locked = Number(Tee(sinks...))
	if !opt.NoIQTrack {
		c.tracker = NewIQTracker(c.locked, opt.IQTimeout)
		c.locked = c.tracker
	}
	c.head = SinkFunc(c.writeLocked)
	if !opt.ShowSecrets {
		c.head = NewRedactor(c.head)
		c.redact = true
	}
	return c
}

// Write passes r down the chain. r belongs to the chain afterwards: its producer must not
// change it.
func (c *Chain) Write(r *Record) error { return c.head.Write(r) }

func (c *Chain) writeLocked(r *Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.locked.Write(r)
}

// WriteBatch passes the records of rs down the chain, in order, as Write of each would
// (see BatchSink), with the fixed costs of a record paid once for them all: the chain's
// lock is taken once, and each output is handed the batch whole (a queue takes it under
// its lock once and wakes its goroutine once). Every output sees the same records in the
// same order, numbered alike, as with Write; a lossless output's full queue makes
// WriteBatch wait, a lossy one skips with a note. A producer that has several records
// together (the records of one write toward a peer) should use it. The records belong
// to the chain afterwards; rs stays the caller's, whose elements the redactor replaces
// by their redacted copies.
func (c *Chain) WriteBatch(rs []*Record) error {
	if len(rs) == 0 {
		return nil
	}
	if c.redact {
		redactAll(rs) // outside the lock, as Write does
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return WriteBatch(c.locked, rs)
}

// showing passes next the records show chooses (Output.Show). It runs under the chain's
// lock: buf, the records of a batch that it shows, is its own.
type showing struct {
	show func(*Record) bool
	next Sink
	buf  []*Record
}

func (s *showing) Write(r *Record) error {
	if !s.show(r) {
		return nil
	}
	return s.next.Write(r)
}

func (s *showing) WriteBatch(rs []*Record) error {
	buf := s.buf[:0]
	for _, r := range rs {
		if s.show(r) {
			buf = append(buf, r)
		}
	}
	if len(buf) == 0 {
		s.buf = buf
		return nil
	}
	err := WriteBatch(s.next, buf)
	clear(buf) // hold no record past its writing
	s.buf = buf[:0]
	return err
}

// Skipped returns how many records the lossy outputs skipped, in all.
func (c *Chain) Skipped() uint64 {
	var n uint64
	for _, q := range c.queues {
		n += q.Skipped()
	}
	return n
}

// Close reports the requests never answered, then waits until every output has written
// what its queue holds. It does not flush or close the outputs. It returns the errors the
// outputs returned.
func (c *Chain) Close() error {
	var errs []error
	if c.tracker != nil {
		c.mu.Lock()
		errs = append(errs, c.tracker.Close())
		c.mu.Unlock()
	}
	for _, q := range c.queues {
		errs = append(errs, q.Close())
	}
	return errors.Join(errs...)
}
