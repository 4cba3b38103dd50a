package inspect

import (
	"bufio"
	"bytes"
	"io"
	"testing"
	"time"
	"unsafe"
)

// maxFrameAllocs is the allocation guard for framing (issue 12 item 7): one stanza in a
// long stream is framed without an allocation (docs/BENCHMARKS.md, BenchmarkFrameOneStanza).
const maxFrameAllocs = 0

func TestFrameAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation guard: the race detector allocates")
	}
	for _, one := range []string{
		"<message to='dana@localhost' type='chat' id='x'><body>Hello there &amp; welcome</body></message>",
		"<presence/>",
		"<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>",
		" ",
	} {
		r := NewReader(io.MultiReader(bytes.NewReader([]byte(testHeader)), &repeater{data: []byte(one)}), Limits{})
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
		next := func() {
			if _, err := r.Next(); err != nil {
				t.Fatal(err)
			}
		}
		for range 100 {
			next()
		}
		if got := testing.AllocsPerRun(10000, next); got > maxFrameAllocs {
			t.Errorf("framing %q: %.2f allocations per event, the guard is %d", one, got, maxFrameAllocs)
		}
	}
}

// maxJSONAllocs is the allocation guard of the JSON log: a record of live traffic (a chat
// message with its time, connection and number) is written without an allocation
// (docs/BENCHMARKS.md, BenchmarkJSONRecord).
const maxJSONAllocs = 0

func TestJSONWriteAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation guard: the race detector allocates")
	}
	r := rec(t, ClientToServer, "<message to='dana@localhost' type='chat' id='m1'><body>Hello &amp; welcome</body></message>")
	r.Conn, r.Time, r.Seq = &ConnInfo{ID: 3, Node: "p1"}, time.Now(), 42
	r.SetRTT(time.Millisecond)
	j := NewJSON(bufio.NewWriterSize(io.Discard, 64<<10), JSONOptions{})
	write := func() {
		if err := j.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	write()
	if got := testing.AllocsPerRun(1000, write); got > maxJSONAllocs {
		t.Errorf("JSON.Write: %.2f allocations per record, the guard is %d", got, maxJSONAllocs)
	}
}

// BenchmarkEventRecord is what the proxy pays to keep each stanza it forwards: a Record
// that owns a copy of the event's bytes.
func BenchmarkEventRecord(b *testing.B) {
	r := NewReader(io.MultiReader(bytes.NewReader([]byte(testHeader)), &repeater{data: []byte("<message to='dana@localhost' type='chat' id='m1'><body>I wish to complain about this parrot, which I purchased not half an hour ago.</body></message>")}), Limits{})
	if _, err := r.Next(); err != nil {
		b.Fatal(err)
	}
	ev, err := r.Next()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		sinkRecord = ev.Record()
	}
}

// sinkRecord keeps what a benchmark made from being optimised away.
var sinkRecord *Record

// maxRecordSize is the size of a Record, allocated for every stanza that stanzascope
// forwards or reads: 192 bytes is a size class of Go's allocator (it was 352 before the
// fields most records never carry, Err and Note among them, moved to the optional part,
// recordExtra), the next is 208. A new field that crosses it makes every record cost a size class more: weigh it,
// put it in recordExtra if few records carry it, or find room (the one-byte fields are
// kept together for this).
const maxRecordSize = 192

func TestRecordSize(t *testing.T) {
	if got := unsafe.Sizeof(Record{}); got > maxRecordSize {
		t.Errorf("a Record is %d bytes, the guard is %d", got, maxRecordSize)
	}
}
