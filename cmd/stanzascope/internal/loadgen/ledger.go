package loadgen

import (
	"math/bits"
	"sync/atomic"
)

// bitset is a growable set of small positive integers (message sequence numbers).
type bitset []uint64

// set adds n and reports whether it was already there.
func (b *bitset) set(n int64) (was bool) {
	w := int(n >> 6)
	if w >= len(*b) {
		grown := make(bitset, max(w+1, 2*len(*b), 16))
		copy(grown, *b)
		*b = grown
	}
	m := uint64(1) << (n & 63)
	was = (*b)[w]&m != 0
	(*b)[w] |= m
	return was
}

// has reports whether n is in the set.
func (b bitset) has(n int64) bool {
	w := int(n >> 6)
	return w < len(b) && b[w]&(1<<(n&63)) != 0
}

// countAndNot returns the number of members of b that are not in c.
func (b bitset) countAndNot(c bitset) int64 {
	var n int
	for i, w := range b {
		if i < len(c) {
			w &^= c[i]
		}
		n += bits.OnesCount64(w)
	}
	return int64(n)
}

// Flow is the account of the messages one client sends to its peer, numbered 1, 2, ...
// Sent is advanced by the sender before the bytes are written; Received is called by the
// peer's reader, Errored by the sender's own reader when the server bounces a message. The
// two readers are different goroutines: each owns one of the bitsets, and the counters
// they share are atomic, so progress can be read at any time. Tally is called once all
// three have stopped.
type Flow struct {
	sent       atomic.Int64
	delivered  atomic.Int64 // distinct sequence numbers received
	errored    atomic.Int64 // distinct sequence numbers bounced
	dups       atomic.Int64 // receptions of a number already received
	unexpected atomic.Int64 // stamps naming a number never sent
	recv       bitset       // owned by the receiver's reader
	errs       bitset       // owned by the sender's reader
}

// Send reserves the next n sequence numbers and returns the first.
func (f *Flow) Send(n int64) (first int64) { return f.sent.Add(n) - n + 1 }

// Sent returns the number of messages sent so far.
func (f *Flow) Sent() int64 { return f.sent.Load() }

// Acked returns how many sent messages have an outcome (delivered or bounced).
func (f *Flow) Acked() int64 { return f.delivered.Load() + f.errored.Load() }

// Received records the reception of message seq. It returns false when seq was never
// sent or was already received (counted as unexpected or duplicate).
func (f *Flow) Received(seq int64) bool {
	if seq < 1 || seq > f.sent.Load() {
		f.unexpected.Add(1)
		return false
	}
	if f.recv.set(seq) {
		f.dups.Add(1)
		return false
	}
	f.delivered.Add(1)
	return true
}

// Errored records a bounce of message seq (a message of type error carrying its stamp).
func (f *Flow) Errored(seq int64) {
	if seq < 1 || seq > f.sent.Load() {
		f.unexpected.Add(1)
		return
	}
	if !f.errs.set(seq) {
		f.errored.Add(1)
	}
}

// Counts is the outcome of a set of flows. Sent = Delivered + Errored + Lost.
type Counts struct {
	Sent       int64 `json:"sent"`
	Delivered  int64 `json:"delivered"`
	Errored    int64 `json:"errored"`
	Lost       int64 `json:"lost"`
	Duplicates int64 `json:"duplicates"`
	Unexpected int64 `json:"unexpected"`
}

// Add adds c2 to c.
func (c *Counts) Add(c2 Counts) {
	c.Sent += c2.Sent
	c.Delivered += c2.Delivered
	c.Errored += c2.Errored
	c.Lost += c2.Lost
	c.Duplicates += c2.Duplicates
	c.Unexpected += c2.Unexpected
}

// Tally returns the final account of f: a message both bounced and received counts as
// delivered; one neither bounced nor received is lost. Call it only when the sender and
// both readers have stopped.
func (f *Flow) Tally() Counts {
	c := Counts{
		Sent:       f.sent.Load(),
		Delivered:  f.delivered.Load(),
		Errored:    f.errs.countAndNot(f.recv),
		Duplicates: f.dups.Load(),
		Unexpected: f.unexpected.Load(),
	}
	c.Lost = c.Sent - c.Delivered - c.Errored
	return c
}

// Live returns the counts so far without the bitsets (safe while the flow runs; Lost is
// what has no outcome yet).
func (f *Flow) Live() Counts {
	c := Counts{
		Sent:       f.sent.Load(),
		Delivered:  f.delivered.Load(),
		Errored:    f.errored.Load(),
		Duplicates: f.dups.Load(),
		Unexpected: f.unexpected.Load(),
	}
	c.Lost = max(0, c.Sent-c.Delivered-c.Errored)
	return c
}
