package inspect

// Number returns the numbering stage of a sink chain: it gives each record that has no
// number yet (Seq 0) the number after the last one it saw, counting from 1, and passes
// it on to next. Placed once before the outputs split, it makes "stanza 42" mean the same
// record in the terminal, the JSON log and the web view. A record that already has a
// number (one read back from a JSON log) keeps it, so a saved session shows the numbers it
// had live; records made while reading it (notes of the iq tracker) continue from the last
// number seen. Like every sink, it is fed from one goroutine.
func Number(next Sink) Sink { return &numberer{next: next} }

type numberer struct {
	next Sink
	last uint64
}

func (n *numberer) Write(r *Record) error {
	if r.Seq == 0 {
		n.last++
		r.Seq = n.last
	} else {
		n.last = r.Seq
	}
	return n.next.Write(r)
}

// WriteBatch numbers every record of rs, in order, then passes them on together.
func (n *numberer) WriteBatch(rs []*Record) error {
	for _, r := range rs {
		if r.Seq == 0 {
			n.last++
			r.Seq = n.last
		} else {
			n.last = r.Seq
		}
	}
	return WriteBatch(n.next, rs)
}
