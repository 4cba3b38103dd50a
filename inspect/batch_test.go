package inspect

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// batchTraffic makes the records of a few interleaved connections: stanzas, iq requests
// (some answered, some left to expire or to be reported when their connection closes),
// SASL payloads the redactor must hide, whitespace, notes. The same seed makes the same
// records, fresh (a chain changes the records it is given).
func batchTraffic(seed uint64) []*Record {
	rng := rand.New(rand.NewPCG(seed, 7))
	conns := []*ConnInfo{{ID: 1}, {ID: 2}, {ID: 3}}
	t := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	var recs []*Record
	ids := map[int][]string{}
	for i := range 300 {
		t = t.Add(time.Duration(rng.IntN(3)) * time.Millisecond)
		c := rng.IntN(len(conns))
		dir := ClientToServer
		if rng.IntN(2) == 0 {
			dir = ServerToClient
		}
		r := &Record{Time: t, Conn: conns[c], Dir: dir, Kind: KindStanza}
		switch k := rng.IntN(10); {
		case k < 3:
			r.Name, r.Raw = "message", fmt.Appendf(nil, "<message to='b@x' id='m%d'><body>hi %d</body></message>", i, i)
		case k < 5:
			id := fmt.Sprintf("q%d", i)
			ids[c] = append(ids[c], id)
			r.Dir, r.Name, r.Raw = ClientToServer, "iq", fmt.Appendf(nil, "<iq type='get' id='%s'><ping xmlns='urn:xmpp:ping'/></iq>", id)
		case k < 7 && len(ids[c]) > 0:
			n := rng.IntN(len(ids[c]))
			id := ids[c][n]
			ids[c] = append(ids[c][:n], ids[c][n+1:]...)
			r.Dir, r.Name, r.Raw = ServerToClient, "iq", fmt.Appendf(nil, "<iq type='result' id='%s'/>", id)
		case k < 7:
			r.Dir, r.Name, r.Raw = ServerToClient, "iq", []byte("<iq type='result' id='nobody-asked'/>")
		case k == 7:
			r.Dir, r.Name, r.NS = ClientToServer, "auth", NSSASL
			r.Raw = []byte("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldABzM2NyM3Q=</auth>")
		case k == 8:
			r.Kind, r.Raw = KindWhitespace, []byte("\n")
		default:
			r = (&Record{Time: t, Conn: conns[c], Kind: KindNote}).WithNote(fmt.Sprintf("note %d", i))
		}
		recs = append(recs, r)
	}
	for _, c := range conns[:2] { // the third stays open: its requests are reported at Close
		t = t.Add(time.Millisecond)
		recs = append(recs, (&Record{Time: t, Conn: c, Kind: KindConnClose}).WithNote("closed"))
	}
	return recs
}

// fingerprint is what an output sees of a record.
func fingerprint(r *Record) string {
	var conn uint64
	if r.Conn != nil {
		conn = r.Conn.ID
	}
	return fmt.Sprintf("#%d %v %v c%d %s %q note=%q rtt=%v unmatched=%v", r.Seq, r.Kind, r.Dir, conn, r.Name, r.Raw, r.Note(), r.RTT(), r.Unmatched)
}

type batchOutputs struct{ inline, queued, shown, lossy lockedCollect }

func (o *batchOutputs) list() []Output {
	return []Output{
		{Sink: &o.inline, Inline: true},
		{Sink: &o.queued},
		{Sink: &o.shown, Show: func(r *Record) bool { return r.Name == "iq" }},
		{Sink: &o.lossy, Lossy: true},
	}
}

func (o *batchOutputs) seen() [4]string {
	var out [4]string
	for i, c := range []*lockedCollect{&o.inline, &o.queued, &o.shown, &o.lossy} {
		var b strings.Builder
		for _, r := range c.recs {
			b.WriteString(fingerprint(r))
			b.WriteByte('\n')
		}
		out[i] = b.String()
	}
	return out
}

// TestChainBatchSameAsRecords: a chain given the records in batches of random sizes
// hands every output the same records, in the same order, numbered, tracked and redacted
// alike, as one given them one by one: with and without queues, with expiring requests
// (whose notes the tracker puts between the records of a batch).
func TestChainBatchSameAsRecords(t *testing.T) {
	for _, queue := range []int{0, 1 << 12} {
		for seed := range uint64(20) {
			opt := ChainOptions{IQTimeout: 4 * time.Millisecond, Queue: queue}
			var one, many batchOutputs
			c1 := NewChain(opt, one.list()...)
			for _, r := range batchTraffic(seed) {
				if err := c1.Write(r); err != nil {
					t.Fatal(err)
				}
			}
			if err := c1.Close(); err != nil {
				t.Fatal(err)
			}
			c2 := NewChain(opt, many.list()...)
			recs := batchTraffic(seed)
			rng := rand.New(rand.NewPCG(seed, 11))
			for len(recs) > 0 {
				n := min(1+rng.IntN(20), len(recs))
				if err := c2.WriteBatch(recs[:n]); err != nil {
					t.Fatal(err)
				}
				recs = recs[n:]
			}
			if err := c2.Close(); err != nil {
				t.Fatal(err)
			}
			want, got := one.seen(), many.seen()
			for i, name := range []string{"inline", "queued", "shown", "lossy"} {
				if got[i] != want[i] {
					t.Fatalf("queue %d, seed %d: the %s output got in batches:\n%s\none by one:\n%s", queue, seed, name, got[i], want[i])
				}
			}
			if !strings.Contains(want[1], "never answered") || !strings.Contains(want[1], "rtt=") || strings.Contains(want[1], "AGp1bGll") {
				t.Fatalf("seed %d: the traffic does not exercise the tracker and the redactor:\n%s", seed, want[1])
			}
			if one.queued.len() != len(batchTraffic(seed))+strings.Count(want[1], "never answered") {
				t.Fatalf("seed %d: %d records for %d written", seed, one.queued.len(), len(batchTraffic(seed)))
			}
		}
	}
}

// TestChainBatchBackpressure: a batch larger than a lossless output's queue makes
// WriteBatch wait until the output takes it, losing nothing; a lossy output skips what
// does not fit and says so where the records are missing.
func TestChainBatchBackpressure(t *testing.T) {
	lossless, lossy := newGate(), newGate()
	c := NewChain(ChainOptions{Queue: 2, NoIQTrack: true}, Output{Sink: lossless}, Output{Sink: lossy, Lossy: true})
	recs := make([]*Record, 50)
	for i := range recs {
		recs[i] = &Record{Kind: KindStanza, Name: "message", Raw: fmt.Appendf(nil, "<message id='%d'/>", i)}
	}
	var returned atomic.Bool
	done := make(chan error, 1)
	go func() { err := c.WriteBatch(recs); returned.Store(true); done <- err }()
	waitFor(t, "the lossless output to take a record", func() bool { return lossless.entered.Load() == 1 })
	// 50 records cannot pass a queue of 2 and a writer holding 1 that waits for the gate.
	// The lossy output gets the batch after the lossless one, as it gets a record after
	// it with Write.
	if returned.Load() || lossy.entered.Load() != 0 {
		t.Fatal("WriteBatch returned while its lossless output held still")
	}
	close(lossless.open)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	close(lossy.open)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if len(lossless.recs) != 50 {
		t.Fatalf("the lossless output got %d records of 50", len(lossless.recs))
	}
	for i, r := range lossless.recs {
		if r.Seq != uint64(i+1) || string(r.Raw) != fmt.Sprintf("<message id='%d'/>", i) {
			t.Fatalf("lossless record %d: %s", i, fingerprint(r))
		}
	}
	var shown, notes int
	var note string
	for _, r := range lossy.recs {
		if r.Kind == KindNote {
			notes++
			note = r.Note()
		} else {
			shown++
		}
	}
	if notes != 1 || uint64(shown)+c.Skipped() != 50 || c.Skipped() == 0 {
		t.Fatalf("the lossy output showed %d, skipped %d, with %d notes", shown, c.Skipped(), notes)
	}
	want := fmt.Sprintf("%d records skipped here #%d to #50: this output could not keep up", c.Skipped(), 51-c.Skipped())
	if !strings.HasPrefix(note, want) {
		t.Fatalf("skip note %q, want %q...", note, want)
	}
}

// TestAsyncBatchBlockLosesNothing: batches through a full Block queue wait for room and
// arrive whole, in order.
func TestAsyncBatchBlockLosesNothing(t *testing.T) {
	slow := newGate()
	a := NewAsync(slow, 4, Block)
	var batches atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 1000; i += 10 {
			b := make([]*Record, 10)
			for j := range b {
				b[j] = &Record{Kind: KindStanza, Seq: uint64(i + j + 1)}
			}
			if err := a.WriteBatch(b); err != nil {
				t.Error(err)
			}
			batches.Add(1)
		}
	}()
	waitFor(t, "the sink to take a record", func() bool { return slow.entered.Load() == 1 })
	if batches.Load() > 0 {
		t.Fatalf("%d batches of 10 went through a queue of 4 while the sink held still", batches.Load())
	}
	close(slow.open)
	<-done
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if len(slow.recs) != 1000 || a.Skipped() != 0 {
		t.Fatalf("sink got %d records, %d skipped", len(slow.recs), a.Skipped())
	}
	for i, r := range slow.recs {
		if r.Seq != uint64(i+1) {
			t.Fatalf("record %d is #%d", i, r.Seq)
		}
	}
	if err := a.WriteBatch([]*Record{{}}); err != ErrClosed {
		t.Fatalf("WriteBatch after Close: %v", err)
	}
}

// TestAsyncBatchSkipSaysWhere: a Skip queue takes what fits of a batch and notes the
// rest where it is missing, before the next record that fits.
func TestAsyncBatchSkipSaysWhere(t *testing.T) {
	slow := newGate()
	a := NewAsync(slow, 4, Skip)
	batch := func(from, to int) []*Record {
		var b []*Record
		for i := from; i <= to; i++ {
			b = append(b, &Record{Kind: KindStanza, Seq: uint64(i)})
		}
		return b
	}
	a.WriteBatch(batch(1, 1))
	waitFor(t, "the sink to take #1", func() bool { return slow.entered.Load() == 1 })
	a.WriteBatch(batch(2, 100)) // returns at once: the sink holds still
	close(slow.open)
	waitFor(t, "the queue to drain", func() bool { return slow.len() == 5 })
	a.WriteBatch(batch(101, 103)) // the note and three records fit a queue of 4
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range slow.recs {
		if r.Kind == KindNote {
			got = append(got, r.Note())
		} else {
			got = append(got, fmt.Sprintf("#%d", r.Seq))
		}
	}
	want := []string{"#1", "#2", "#3", "#4", "#5",
		"95 records skipped here #6 to #100: this output could not keep up (the JSON log and the capture never skip)",
		"#101", "#102", "#103"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("sink got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
