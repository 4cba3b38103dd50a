package cluster

import (
	"slices"
	"testing"
)

// TestSenderOnce: a node delivers a sender's stanza that comes again only if it never
// had it (lost on the way) or its session did not take it; what it remembers is bounded
// in count and age, and what it forgot is delivered (at least once).
func TestSenderOnce(t *testing.T) {
	s := newSender(5, 0) // the first stanza this node hears of has SEQ 5
	for _, c := range []struct {
		seq  uint64
		want bool
		why  string
	}{
		{5, true, "new"},
		{5, false, "taken already"},
		{8, true, "new; 6 and 7 were lost"},
		{7, true, "lost, then sent again"},
		{7, false, "taken already, sent again twice"},
		{6, true, "lost, then sent again"},
		{3, true, "before the first: not known, so delivered"},
	} {
		if got := s.admit(c.seq, 0); got != c.want {
			t.Errorf("SEQ %d (%s): deliver %v, want %v", c.seq, c.why, got, c.want)
		}
	}
	s.admit(9, 0)
	s.refused(9, 0) // the session did not take it: it may be tried again
	if !s.admit(9, 0) || s.admit(9, 0) {
		t.Error("SEQ 9, not taken, then taken when sent again: want delivered once more, then not")
	}
	if len(s.open) != 0 {
		t.Errorf("open SEQs %v, want none", s.open)
	}

	// Bounded in count: a gap wider than maxOpen keeps its newest maxOpen SEQs.
	s.admit(10+2*maxOpen, 1)
	if len(s.open) != maxOpen || s.open[0].seq != 10+maxOpen {
		t.Fatalf("%d open SEQs from %d, want %d from %d", len(s.open), s.open[0].seq, maxOpen, 10+maxOpen)
	}
	if !s.admit(9, 1) {
		t.Error("SEQ 9, forgotten: want delivered")
	}
	// And in age: SEQs open for longer than the memory are forgotten.
	s.admit(20+2*maxOpen, 5) // opens 11+2*maxOpen .. 19+2*maxOpen at tick 5
	s.expire(5, 3)
	if len(s.open) != 9 || s.open[0].seq != 11+2*maxOpen || s.base != 10+2*maxOpen-1 {
		t.Errorf("after expiry: %d open from %v, base %d", len(s.open), s.open[:1], s.base)
	}
	if !slices.IsSortedFunc(s.open, func(a, b openSeq) int { return int(a.seq) - int(b.seq) }) {
		t.Error("open SEQs not in order")
	}
	if s.idle(5, 3) || !s.idle(9, 3) {
		t.Error("idle: want not at once, yes after 3 ticks without stanzas")
	}
}
