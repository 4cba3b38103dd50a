package inspect

import (
	"errors"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// lockedCollect is a sink that may be written by the Async goroutine and read by the test.
type lockedCollect struct {
	mu   sync.Mutex
	recs []*Record
}

func (c *lockedCollect) Write(r *Record) error {
	c.mu.Lock()
	c.recs = append(c.recs, r)
	c.mu.Unlock()
	return nil
}

func (c *lockedCollect) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.recs)
}

// waitFor polls cond until it holds, for at most ten seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestAsyncConcurrentWriters(t *testing.T) {
	for _, policy := range []Overflow{Block, Skip} {
		out := &lockedCollect{}
		a := NewAsync(out, 10000, policy)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 500 {
					if err := a.Write((&Record{Kind: KindNote, Conn: &ConnInfo{ID: uint64(g*1000 + i)}}).WithNote("x")); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if err := a.Close(); err != nil {
			t.Fatal(err)
		}
		if len(out.recs) != 4000 || a.Skipped() != 0 {
			t.Fatalf("policy %d: got %d records, %d skipped", policy, len(out.recs), a.Skipped())
		}
		if err := a.Write(&Record{}); !errors.Is(err, ErrClosed) {
			t.Fatalf("Write after Close: %v", err)
		}
		if err := a.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	}
}

// gate is a sink that holds every Write until opened.
type gate struct {
	lockedCollect
	open    chan struct{}
	entered atomic.Int64 // Write calls begun
}

func newGate() *gate { return &gate{open: make(chan struct{})} }

func (g *gate) Write(r *Record) error {
	g.entered.Add(1)
	<-g.open
	return g.lockedCollect.Write(r)
}

// TestAsyncBlockLosesNothing: a full Block queue makes Write wait; every record arrives,
// in order.
func TestAsyncBlockLosesNothing(t *testing.T) {
	slow := newGate()
	a := NewAsync(slow, 4, Block)
	var written atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 1000 {
			a.Write(&Record{Kind: KindStanza, Seq: uint64(i + 1)})
			written.Add(1)
		}
	}()
	// 4 in the queue and a batch of 1 to 4 in the goroutine's hands: then Write waits.
	waitFor(t, "the queue to fill", func() bool { return written.Load() >= 5 })
	select {
	case <-done:
		t.Fatal("1000 writes went through a queue of 4 while the sink held still")
	default:
	}
	if w := written.Load(); w > 8 {
		t.Fatalf("%d writes returned while the sink held still", w)
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
}

// TestAsyncCloseKeepsWaitingWrite: a Write waiting for room in a full Block queue when
// Close comes still gets its record written, after those queued before it.
func TestAsyncCloseKeepsWaitingWrite(t *testing.T) {
	slow := newGate()
	a := NewAsync(slow, 1, Block)
	a.Write(&Record{Seq: 1})
	waitFor(t, "the sink to take #1", func() bool { return slow.entered.Load() == 1 })
	a.Write(&Record{Seq: 2}) // the queue is full
	wrote := make(chan error)
	go func() { wrote <- a.Write(&Record{Seq: 3}) }()
	waitFor(t, "#3 to wait for room", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.waiting == 1
	})
	closed := make(chan error)
	go func() { closed <- a.Close() }()
	waitFor(t, "Close to begin", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.closed
	})
	close(slow.open)
	if err := <-wrote; err != nil {
		t.Fatalf("the waiting Write: %v", err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if len(slow.recs) != 3 || slow.recs[0].Seq != 1 || slow.recs[1].Seq != 2 || slow.recs[2].Seq != 3 {
		t.Fatalf("sink got %d records", len(slow.recs))
	}
}

// TestAsyncSkipSaysWhere: a full Skip queue never makes Write wait; the records it
// skipped are announced by a note at the place they are missing.
func TestAsyncSkipSaysWhere(t *testing.T) {
	slow := newGate()
	a := NewAsync(slow, 4, Skip)
	t0 := time.Date(2025, 1, 2, 12, 0, 0, 0, time.UTC)
	write := func(from, to int) {
		for i := from; i <= to; i++ {
			a.Write(&Record{Kind: KindStanza, Seq: uint64(i), Time: t0.Add(time.Duration(i) * time.Millisecond)})
		}
	}
	write(1, 1)
	waitFor(t, "the sink to take #1", func() bool { return slow.entered.Load() == 1 })
	done := make(chan struct{})
	go func() { defer close(done); write(2, 100) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Write waited for a slow sink")
	}
	close(slow.open)
	waitFor(t, "the queue to drain", func() bool { return slow.len() >= 5 })
	for i := 101; i <= 110; i++ { // one at a time: the queue has room for each
		write(i, i)
		waitFor(t, "the record", func() bool { return slow.len() == 6+i-100 })
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range slow.recs {
		if r.Kind == KindNote {
			got = append(got, r.Note())
		} else {
			got = append(got, "#"+strconv.FormatUint(r.Seq, 10))
		}
	}
	want := []string{"#1", "#2", "#3", "#4", "#5",
		"95 records skipped here #6 to #100 from 12:00:00.006 to 12:00:00.100: this output could not keep up (the JSON log and the capture never skip)"}
	for i := 101; i <= 110; i++ {
		want = append(want, "#"+strconv.Itoa(i))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("sink got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if a.Skipped() != 95 {
		t.Fatalf("Skipped() = %d", a.Skipped())
	}
}

// TestAsyncSkipNoteAtClose: a gap at the end is announced by Close.
func TestAsyncSkipNoteAtClose(t *testing.T) {
	slow := newGate()
	a := NewAsync(slow, 1, Skip)
	for i := 1; i <= 10; i++ {
		a.Write(&Record{Kind: KindStanza, Seq: uint64(i)})
	}
	close(slow.open)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	// Which records fit depends on when the goroutine takes the first one; the count
	// holds whatever the timing.
	records, noted := 0, uint64(0)
	for _, r := range slow.recs {
		if r.Kind != KindNote {
			records++
			continue
		}
		m := skipNote.FindStringSubmatch(r.Note())
		if m == nil {
			t.Fatalf("note %q", r.Note())
		}
		n, _ := strconv.ParseUint(m[1], 10, 64)
		noted += n
	}
	last := slow.recs[len(slow.recs)-1]
	if last.Kind != KindNote || records+int(noted) != 10 || noted != a.Skipped() {
		t.Fatalf("%d records, %d noted as skipped, Skipped %d, last %+v", records, noted, a.Skipped(), last)
	}
}

func TestAsyncReportsSinkError(t *testing.T) {
	boom := errors.New("disk full")
	a := NewAsync(SinkFunc(func(*Record) error { return boom }), 4, Block)
	a.Write(&Record{})
	if err := a.Close(); !errors.Is(err, boom) {
		t.Fatalf("Close = %v", err)
	}
}

var skipNote = regexp.MustCompile(`^(\d+) records? skipped here #(\d+)(?: to #(\d+))?`)

// TestChainCompleteLog: producers on many goroutines write through a chain with a lossless
// output and a lossy one that is held still. The lossless output gets every record,
// numbered without a hole; the lossy one gets the others' numbers in order, and for each
// hole a note naming exactly the records missing there.
func TestChainCompleteLog(t *testing.T) {
	log := &lockedCollect{}
	terminal := newGate()
	chain := NewChain(ChainOptions{NoIQTrack: true, Queue: 16}, Output{Sink: terminal, Lossy: true}, Output{Sink: log})
	const producers, each = 4, 500
	var wg sync.WaitGroup
	for g := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				chain.Write(&Record{Kind: KindStanza, Name: "message", Raw: []byte("<message/>"), Conn: &ConnInfo{ID: uint64(g)}, Dir: Direction(1 + i%2)})
				if g == 0 && i == each/2 {
					close(terminal.open) // the terminal catches up half way
				}
			}
		}()
	}
	wg.Wait()
	if err := chain.Close(); err != nil {
		t.Fatal(err)
	}
	if len(log.recs) != producers*each {
		t.Fatalf("the log got %d of %d records", len(log.recs), producers*each)
	}
	for i, r := range log.recs {
		if r.Seq != uint64(i+1) {
			t.Fatalf("log record %d is #%d", i, r.Seq)
		}
	}
	next, skipped := uint64(1), uint64(0) // the number the terminal should show next
	for _, r := range terminal.recs {
		if r.Kind == KindNote {
			m := skipNote.FindStringSubmatch(r.Note())
			if m == nil {
				t.Fatalf("note %q", r.Note())
			}
			n, _ := strconv.ParseUint(m[1], 10, 64)
			first, _ := strconv.ParseUint(m[2], 10, 64)
			last := first
			if m[3] != "" {
				last, _ = strconv.ParseUint(m[3], 10, 64)
			}
			if first != next || last-first+1 != n {
				t.Fatalf("note %q where #%d was due", r.Note(), next)
			}
			next, skipped = last+1, skipped+n
			continue
		}
		if r.Seq != next {
			t.Fatalf("the terminal shows #%d where #%d was due, without a note", r.Seq, next)
		}
		next++
	}
	if next != producers*each+1 || skipped != chain.Skipped() || skipped == 0 {
		t.Fatalf("the terminal accounts for %d records, %d skipped, chain says %d", next-1, skipped, chain.Skipped())
	}
}

// TestChainRedactsEveryOutput: every output gets the redacted record; ShowSecrets
// leaves the redactor out.
func TestChainRedactsEveryOutput(t *testing.T) {
	for _, show := range []bool{false, true} {
		a, b := &lockedCollect{}, &lockedCollect{}
		chain := NewChain(ChainOptions{ShowSecrets: show, Queue: 4}, Output{Sink: a, Lossy: true}, Output{Sink: b})
		chain.Write(rec(t, ClientToServer, `<iq type='set' id='a'><query xmlns='jabber:iq:auth'><username>u</username><password>polly</password><resource>r</resource></query></iq>`))
		if err := chain.Close(); err != nil {
			t.Fatal(err)
		}
		for _, out := range []*lockedCollect{a, b} {
			// The request and the tracker's note that it was never answered.
			if len(out.recs) != 2 || strings.Contains(string(out.recs[0].Raw), "polly") == !show {
				t.Fatalf("show %v: %d records, %s", show, len(out.recs), out.recs[0].Raw)
			}
		}
	}
}

// TestChainOutputsDoNotShare: outputs in their own goroutines parse the records they get
// (Element caches a tree in the record); under -race, sharing one record would show.
func TestChainOutputsDoNotShare(t *testing.T) {
	var outs []Output
	var parsed atomic.Int64
	for i := range 3 {
		outs = append(outs, Output{Lossy: i == 0, Sink: SinkFunc(func(r *Record) error {
			if _, err := r.Element(); err == nil {
				parsed.Add(1)
			}
			r.Attr("type")
			return nil
		})})
	}
	chain := NewChain(ChainOptions{NoIQTrack: true, Queue: 4}, outs...)
	for range 200 {
		chain.Write(&Record{Kind: KindStanza, Name: "message", Raw: []byte("<message type='chat'><body>hi</body></message>")})
	}
	if err := chain.Close(); err != nil {
		t.Fatal(err)
	}
	if parsed.Load() < 400 { // the two lossless outputs parse all; the terminal may skip
		t.Fatalf("%d trees parsed", parsed.Load())
	}
}

// TestChainInlineOutput: an inline output has the record, redacted and numbered, when
// Write returns, even while every queued output is held still (lossy and lossless), and it
// gets every record in the order the others do.
func TestChainInlineOutput(t *testing.T) {
	var inline []*Record // written in the producer's goroutine: no lock needed
	terminal, log := newGate(), newGate()
	chain := NewChain(ChainOptions{Queue: 64},
		Output{Sink: terminal, Lossy: true},
		Output{Sink: SinkFunc(func(r *Record) error { inline = append(inline, r); return nil }), Inline: true},
		Output{Sink: log})
	for i := range 10 {
		chain.Write(rec(t, ClientToServer, `<iq type='set' id='a`+strconv.Itoa(i)+`'><query xmlns='jabber:iq:auth'><username>u</username><password>polly</password><resource>r</resource></query></iq>`))
		if len(inline) != i+1 || inline[i].Seq != uint64(i+1) || strings.Contains(string(inline[i].Raw), "polly") {
			t.Fatalf("after Write %d the inline output has %d records, the last %+v", i+1, len(inline), inline[len(inline)-1])
		}
	}
	close(terminal.open)
	close(log.open)
	if err := chain.Close(); err != nil {
		t.Fatal(err)
	}
	// The ten requests, then the tracker's note for each one never answered.
	if len(inline) != 20 || len(log.recs) != 20 {
		t.Fatalf("inline %d records, log %d", len(inline), len(log.recs))
	}
	for i, r := range inline {
		if r.Seq != uint64(i+1) || log.recs[i].Seq != r.Seq {
			t.Fatalf("record %d: inline #%d, log #%d", i, r.Seq, log.recs[i].Seq)
		}
	}
}

// BenchmarkAsyncSkipFull is what a producer pays for each record a lossy output skips
// while its queue stays full (a terminal that cannot keep up under load): counting it.
func BenchmarkAsyncSkipFull(b *testing.B) {
	release := make(chan struct{})
	a := NewAsync(SinkFunc(func(*Record) error { <-release; return nil }), 1, Skip)
	r := &Record{Kind: KindStanza, Seq: 1, Time: time.Now(), Raw: []byte("<presence/>")}
	for range 3 { // one in the sink, one queued, one skipped
		a.Write(r)
	}
	b.ReportAllocs()
	for b.Loop() {
		a.Write(r)
	}
	close(release)
	a.Close()
}

// BenchmarkAsyncBlock is what a record costs through a lossless queue (the JSON log's)
// with producers on every core and a sink that keeps up: the handing over, both sides.
func BenchmarkAsyncBlock(b *testing.B) {
	var n atomic.Int64
	a := NewAsync(SinkFunc(func(*Record) error { n.Add(1); return nil }), 4096, Block)
	r := &Record{Kind: KindStanza, Seq: 1, Raw: []byte("<presence/>")}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			a.Write(r)
		}
	})
	a.Close()
}
