package cluster

import "slices"

// A node sends a stanza again when its answer did not come in time (deliver.go,
// expirePending): NATS core delivers at most once, and loses a message published while
// the receiving node's subscription has not reached every NATS server yet (just after a
// failover), or on a connection that broke. The answer may be what was lost, though: the
// stanza was taken, and must not be delivered twice. So the receiving node remembers, per
// sender (the ACK-PREFIX.NODE. of its reply subjects: one run of one node), which SEQs
// it has not taken: NATS keeps a publisher's order on one subject, so a SEQ skipped when
// a higher one arrives was lost, and one received and not taken may be tried again. A SEQ
// sent again is delivered if it is open, and answered "taken" again if it is not. The
// memory is bounded in count (maxOpen) and in age (a sender gives up on a stanza after
// its AckTimeout); what is forgotten is delivered if it comes again: a stanza may then
// arrive twice, never not at all.

// maxOpen bounds the SEQs a node remembers as not taken, per sender.
const maxOpen = 1024

// sender is what this node knows of one sender's stanzas (the inbox goroutine's only):
// the answers to send it, and which SEQs were not taken.
type sender struct {
	acks
	high uint64 // the highest SEQ received
	// base: SEQs up to base are not remembered (before the first one received, or
	// forgotten); open: the SEQs in (base, high] not taken, never received or refused by
	// the session, ascending, with the tick at which they became open.
	base uint64
	open []openSeq
	last uint64 // the tick of the last stanza received from it
}

type openSeq struct{ seq, tick uint64 }

// newSender is the memory of a sender whose first stanza this node receives has SEQ seq.
func newSender(seq, tick uint64) *sender {
	return &sender{high: seq - 1, base: seq - 1, last: tick}
}

// admit reports whether the stanza with SEQ seq is to be delivered: it is new, open, or
// forgotten. One that is none of these was taken already: it came again because its
// answer was lost or late.
func (s *sender) admit(seq, tick uint64) bool {
	s.last = tick
	switch {
	case seq > s.high:
		s.skip(s.high+1, seq, tick)
		s.high = seq
		return true
	case seq <= s.base:
		return true
	}
	i, ok := s.find(seq)
	if ok {
		s.open = slices.Delete(s.open, i, i+1)
	}
	return ok
}

// refused keeps seq open: the session did not take the stanza, which may come again.
func (s *sender) refused(seq, tick uint64) {
	if seq <= s.base || seq > s.high {
		return
	}
	i, ok := s.find(seq)
	if ok {
		return
	}
	s.open = slices.Insert(s.open, i, openSeq{seq, tick})
	s.trim()
}

// skip opens the SEQs from lo up to hi (not included), lost on the way: at most maxOpen
// of them, the oldest are forgotten.
func (s *sender) skip(lo, hi, tick uint64) {
	if hi-lo > maxOpen {
		lo = hi - maxOpen
		s.forgetTo(lo - 1)
	}
	for q := lo; q < hi; q++ {
		s.open = append(s.open, openSeq{q, tick})
	}
	s.trim()
}

// trim forgets the oldest open SEQs beyond maxOpen.
func (s *sender) trim() {
	if k := len(s.open) - maxOpen; k > 0 {
		s.forgetTo(s.open[k-1].seq)
	}
}

// expire forgets the SEQs open for more than age ticks: their sender has given up on
// them (AckTimeout).
func (s *sender) expire(tick, age uint64) {
	k := 0
	for k < len(s.open) && tick-s.open[k].tick > age {
		k++
	}
	if k > 0 {
		s.forgetTo(s.open[k-1].seq)
	}
}

// forgetTo forgets what is known of the SEQs up to seq.
func (s *sender) forgetTo(seq uint64) {
	if seq <= s.base {
		return
	}
	s.base = seq
	i, _ := s.find(seq + 1)
	s.open = s.open[:copy(s.open, s.open[i:])]
}

// find returns where seq is, or would be, in s.open.
func (s *sender) find(seq uint64) (int, bool) {
	return slices.BinarySearchFunc(s.open, seq, func(o openSeq, seq uint64) int {
		switch {
		case o.seq < seq:
			return -1
		case o.seq > seq:
			return 1
		}
		return 0
	})
}

// idle reports whether s has nothing to send and received nothing for more than age
// ticks: it can go (a sender's stanza that comes later is new to a new memory).
func (s *sender) idle(tick, age uint64) bool {
	return tick-s.last > age && len(s.taken) == 0 && len(s.missed) == 0
}
