package loadgen

import "time"

// Pacer spreads a total message rate over the clients: client i of n sends its k-th
// message (k from 0) at offset + k*interval after the start, where interval = n/rate and
// offset = i/rate, so the clients' sends interleave evenly instead of arriving in bursts
// once per interval. It is an open-loop schedule: how many messages are due depends only
// on the time, never on how fast earlier ones were answered.
type Pacer struct {
	interval float64 // ns between two messages of this client
	offset   float64 // ns before this client's first message
}

// NewPacer returns the pacer of client i of n sharing rate messages per second.
func NewPacer(rate float64, i, n int) Pacer {
	return Pacer{interval: float64(n) / rate * 1e9, offset: float64(i) / rate * 1e9}
}

// Due returns how many messages should have been sent elapsed after the start.
func (p Pacer) Due(elapsed time.Duration) int64 {
	e := float64(elapsed)
	if e < p.offset {
		return 0
	}
	return int64((e-p.offset)/p.interval) + 1
}

// At returns when (after the start) message k (0-based) is due.
func (p Pacer) At(k int64) time.Duration {
	return time.Duration(p.offset + float64(k)*p.interval)
}
