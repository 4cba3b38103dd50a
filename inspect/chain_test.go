package inspect

import (
	"fmt"
	"sync"
	"testing"
)

// TestChainSharesRecords: every output of a Chain gets the same record, numbered once, and
// outputs in different goroutines may parse it at the same time (run with -race: the
// tree each parses on first use is the one thing they add to a shared record).
func TestChainSharesRecords(t *testing.T) {
	const n = 500
	type out struct {
		mu    sync.Mutex
		recs  []*Record
		trees []*Element
	}
	outs := make([]*out, 4)
	var sinks []Output
	for i := range outs {
		o := &out{}
		outs[i] = o
		sinks = append(sinks, Output{Inline: i == 0, Sink: SinkFunc(func(r *Record) error {
			e, err := r.Element()
			if err != nil {
				return fmt.Errorf("record %d: %w", r.Seq, err)
			}
			if r.Attr("id") != e.Attr("id") {
				return fmt.Errorf("record %d: Attr %q, tree %q", r.Seq, r.Attr("id"), e.Attr("id"))
			}
			o.mu.Lock()
			o.recs, o.trees = append(o.recs, r), append(o.trees, e)
			o.mu.Unlock()
			return nil
		})})
	}
	c := NewChain(ChainOptions{ShowSecrets: true, NoIQTrack: true, Queue: 8}, sinks...)
	for i := range n {
		r := rec(t, ClientToServer, fmt.Sprintf("<message to='dana@localhost' type='chat' id='m%d'><body>%d</body></message>", i, i))
		if err := c.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	for i, o := range outs {
		if len(o.recs) != n {
			t.Fatalf("output %d got %d records, want %d", i, len(o.recs), n)
		}
		for k, r := range o.recs {
			if r != outs[0].recs[k] {
				t.Fatalf("output %d got a copy of record %d, not the record", i, k)
			}
			if o.trees[k] != outs[0].trees[k] {
				t.Fatalf("output %d got another tree of record %d", i, k)
			}
			if r.Seq != uint64(k+1) {
				t.Fatalf("record %d numbered %d", k, r.Seq)
			}
		}
	}
}

// TestElementConcurrent: goroutines that ask one record for its tree at once all get the
// same tree, and a record that is not a stanza the same error.
func TestElementConcurrent(t *testing.T) {
	r := rec(t, ClientToServer, "<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>")
	note := (&Record{Kind: KindNote}).WithNote("hi")
	const g = 8
	trees := make([]*Element, g)
	errs := make([]error, g)
	var wg sync.WaitGroup
	for i := range g {
		wg.Go(func() {
			trees[i], _ = r.Element()
			_, errs[i] = note.Element()
		})
	}
	wg.Wait()
	for i := range g {
		if trees[i] == nil || trees[i] != trees[0] {
			t.Fatalf("goroutine %d got tree %p, goroutine 0 %p", i, trees[i], trees[0])
		}
		if errs[i] != errNotStanza {
			t.Fatalf("goroutine %d: note's Element error %v", i, errs[i])
		}
	}
	if e, err := r.ElementUncached(); e != trees[0] || err != nil {
		t.Fatalf("ElementUncached after Element: %p %v, want the cached tree", e, err)
	}
	fresh := rec(t, ClientToServer, "<presence/>")
	if e, err := fresh.ElementUncached(); e == nil || err != nil {
		t.Fatalf("ElementUncached: %v %v", e, err)
	}
	if fresh.parsedTree() != nil {
		t.Fatal("ElementUncached kept the tree it made")
	}
	fresh.SetElement(nil)
	if e, _ := fresh.Element(); e == nil || fresh.parsedTree() != e {
		t.Fatal("Element did not keep the tree it made")
	}
}

// TestChainShow: an output's Show is asked in the order of the records, before its queue:
// the records it does not show never reach the output and are not counted as skipped by a
// lossy output that cannot keep up, while the others outputs get every record.
func TestChainShow(t *testing.T) {
	release, entered := make(chan struct{}), make(chan struct{}, 1)
	var shown []uint64
	var asked []uint64
	var all int
	c := NewChain(ChainOptions{ShowSecrets: true, NoIQTrack: true, Queue: 4},
		Output{Lossy: true, Sink: SinkFunc(func(r *Record) error {
			select {
			case entered <- struct{}{}:
			default:
			}
			<-release
			shown = append(shown, r.Seq)
			return nil
		}), Show: func(r *Record) bool {
			asked = append(asked, r.Seq)
			return r.Seq%100 == 0
		}},
		Output{Sink: SinkFunc(func(*Record) error { all++; return nil })})
	for i := range 1000 {
		if err := c.Write(&Record{Kind: KindStanza, Name: "presence", Raw: []byte("<presence/>")}); err != nil {
			t.Fatal(err)
		}
		if i == 99 {
			<-entered // #100 is in the sink, which holds it until released
		}
	}
	if n := c.Skipped(); n != 5 { // #100 in the sink, #200 to #500 queued, #600 to #1000 skipped
		t.Errorf("skipped %d, want the 5 shown records that did not fit", n)
	}
	close(release)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if all != 1000 {
		t.Errorf("the other output got %d records, want 1000", all)
	}
	for i, s := range asked {
		if s != uint64(i+1) {
			t.Fatalf("Show asked about #%d at %d: not in order", s, i)
		}
	}
	if len(asked) != 1000 {
		t.Fatalf("Show asked about %d records, want 1000", len(asked))
	}
	if want := []uint64{100, 200, 300, 400, 500}; fmt.Sprint(shown[:5]) != fmt.Sprint(want) || len(shown) != 6 || shown[5] != 0 {
		t.Errorf("shown %v, want %v then the note of the skipped ones", shown, want)
	}
}
