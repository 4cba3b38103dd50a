package main

import (
	"bytes"
	"io"
	"net/netip"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/inspect/web"
)

// maxChainAllocs is the allocation guard of the main job's sink chain (as scripts/bench.sh
// runs it: --format raw --filter-name matching nothing, --log FILE, the web view's hub),
// per record, not counting the record itself: none. The redactor, the iq tracker, the
// numbering, the terminal's filter and the JSON log allocate nothing for a forwarded chat
// message, the outputs share the record, and the hub allocates a record's summary-to-be
// only when a browser reads it (docs/BENCHMARKS.md).
const maxChainAllocs = 0

// TestMainJobChainAllocs counts with every output in the writer's goroutine (no queues,
// as for a file being read), so that the count is exact; the queues of live traffic pass
// a pointer on a channel, which allocates nothing.
func TestMainJobChainAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation guard: the race detector allocates")
	}
	hub := web.NewHub(web.Options{Title: "guard", Proxy: true})
	defer hub.Close()
	o := &outputFlags{format: "raw", color: "never", filterName: []string{"bench-shows-nothing"},
		logFile: filepath.Join(t.TempDir(), "log.jsonl"), isTerminal: writerIsTerminal}
	o.more = append(o.more, inspect.Output{Sink: hubSink{hub}, Inline: true})
	sink, closeFn, err := o.open(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer closeFn()
	rd := benchStream()
	conn := &inspect.ConnInfo{ID: 1, Client: netip.MustParseAddrPort("127.0.0.1:40001"), Server: netip.MustParseAddrPort("127.0.0.1:5222")}
	recs := make([]*inspect.Record, 2100)
	for i := range recs {
		ev, err := rd.Next()
		if err != nil {
			t.Fatal(err)
		}
		recs[i] = ev.Record()
		recs[i].Time, recs[i].Conn, recs[i].Dir = time.Now(), conn, inspect.ClientToServer
	}
	next := 0
	write := func() {
		if err := sink.Write(recs[next]); err != nil {
			t.Fatal(err)
		}
		next++
	}
	for range 100 {
		write()
	}
	if got := testing.AllocsPerRun(2000-1, write); got > maxChainAllocs {
		t.Errorf("the main job's chain: %.2f allocations per record, the guard is %d", got, maxChainAllocs)
	}
	// The proxy hands on the records of one write together (inspect.BatchSink): a batch
	// costs no more allocations than its records would one by one.
	next = 0
	writeBatch := func() {
		if err := inspect.WriteBatch(sink, recs[next:next+batchOf]); err != nil {
			t.Fatal(err)
		}
		next += batchOf
	}
	if got := testing.AllocsPerRun(len(recs)/batchOf-1, writeBatch); got > maxChainAllocs*batchOf {
		t.Errorf("the main job's chain: %.2f allocations per batch of %d records, the guard is %d", got, batchOf, maxChainAllocs*batchOf)
	}
}

// batchOf is the size of the batches the guard and the benchmark write: about the
// messages the main job reads at once at --rate max (docs/BENCHMARKS.md).
const batchOf = 12

// benchStream returns a Reader past the header of a client's stream of chat messages.
func benchStream() *inspect.Reader {
	const msg = "<message to='dana@localhost' type='chat' id='bench-12345'><body>I wish to complain about this parrot, which I purchased not half an hour ago.</body></message>"
	rd := inspect.NewReader(io.MultiReader(bytes.NewReader([]byte("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>")),
		&repeatReader{data: []byte(msg)}), inspect.Limits{})
	if _, err := rd.Next(); err != nil { // the header
		panic(err)
	}
	return rd
}

// BenchmarkMainJobChain measures the sink chain of the main job as scripts/bench.sh runs it
// (--format raw --filter-name bench-shows-nothing --log FILE, the web view's hub inline),
// per record: a chat message framed by a Reader, made a record and written to the chain,
// as the proxy does for each stanza it forwards. The time and the allocations include the
// outputs' goroutines (the chain is closed inside the measurement); cpu-ns/op is the
// process's CPU time per record, every goroutine included, which is what the traffic loses
// on a machine with few cores.
func BenchmarkMainJobChain(b *testing.B) {
	hub := web.NewHub(web.Options{Title: "bench", Proxy: true})
	defer hub.Close()
	o := &outputFlags{format: "raw", color: "never", filterName: []string{"bench-shows-nothing"},
		logFile: filepath.Join(b.TempDir(), "log.jsonl"), live: true, isTerminal: writerIsTerminal}
	o.more = append(o.more, inspect.Output{Sink: hubSink{hub}, Inline: true})
	sink, closeFn, err := o.open(io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	rd := benchStream()
	conns := []*inspect.ConnInfo{
		{ID: 1, Client: netip.MustParseAddrPort("127.0.0.1:40001"), Server: netip.MustParseAddrPort("127.0.0.1:5222")},
		{ID: 2, Client: netip.MustParseAddrPort("127.0.0.1:40002"), Server: netip.MustParseAddrPort("127.0.0.1:5222")},
	}
	before := cpuTime()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ev, err := rd.Next()
		if err != nil {
			b.Fatal(err)
		}
		r := ev.Record()
		r.Time, r.Conn, r.Dir = time.Now(), conns[i&1], inspect.ClientToServer+inspect.Direction(i&1)
		if err := sink.Write(r); err != nil {
			b.Fatal(err)
		}
		i++
	}
	if err := closeFn(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(cpuTime()-before)/float64(b.N), "cpu-ns/op")
}

// BenchmarkMainJobChainBatch is BenchmarkMainJobChain with the records written in
// batches of batchOf, as the proxy hands on the records of one write (inspect.BatchSink).
// The figures are per record.
func BenchmarkMainJobChainBatch(b *testing.B) {
	hub := web.NewHub(web.Options{Title: "bench", Proxy: true})
	defer hub.Close()
	o := &outputFlags{format: "raw", color: "never", filterName: []string{"bench-shows-nothing"},
		logFile: filepath.Join(b.TempDir(), "log.jsonl"), live: true, isTerminal: writerIsTerminal}
	o.more = append(o.more, inspect.Output{Sink: hubSink{hub}, Inline: true})
	sink, closeFn, err := o.open(io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	rd := benchStream()
	conns := []*inspect.ConnInfo{
		{ID: 1, Client: netip.MustParseAddrPort("127.0.0.1:40001"), Server: netip.MustParseAddrPort("127.0.0.1:5222")},
		{ID: 2, Client: netip.MustParseAddrPort("127.0.0.1:40002"), Server: netip.MustParseAddrPort("127.0.0.1:5222")},
	}
	batch := make([]*inspect.Record, 0, batchOf)
	before := cpuTime()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		ev, err := rd.Next()
		if err != nil {
			b.Fatal(err)
		}
		r := ev.Record()
		r.Time, r.Conn, r.Dir = time.Now(), conns[(i/batchOf)&1], inspect.ClientToServer+inspect.Direction((i/batchOf)&1)
		batch = append(batch, r)
		if len(batch) == batchOf {
			if err := inspect.WriteBatch(sink, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
		i++
	}
	if err := inspect.WriteBatch(sink, batch); err != nil {
		b.Fatal(err)
	}
	if err := closeFn(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(cpuTime()-before)/float64(b.N), "cpu-ns/op")
}

// cpuTime is the process's CPU time (user and system) in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// repeatReader reads data again and again.
type repeatReader struct {
	data []byte
	off  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.data[r.off:])
		n += c
		r.off = (r.off + c) % len(r.data)
	}
	return n, nil
}
