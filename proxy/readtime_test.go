package proxy

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// TestRecordTimeIsTheRead: a record's time is when the read that brought its stanza
// returned: the stanzas of one write, read at once, share it, and a stanza written after
// them has a later one, within the time the test saw pass around each write.
func TestRecordTimeIsTheRead(t *testing.T) {
	sink := &batchSink{}
	c := echoClient(t, sink)
	c.SetDeadline(time.Now().Add(time.Minute))
	send := func(first, n int) (before, after time.Time) {
		var b strings.Builder
		for i := first; i < first+n; i++ {
			b.WriteString(strings.Replace(benchMsg, "m0000001", fmt.Sprintf("m%07d", i), 1))
		}
		before = time.Now()
		if _, err := io.WriteString(c, b.String()); err != nil { // one write
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, make([]byte, b.Len())); err != nil { // echoed: it was read
			t.Fatal(err)
		}
		return before, time.Now()
	}
	b1, a1 := send(0, 10) // 2.2 KB: one read of the reader's 4 KiB buffer
	b2, a2 := send(10, 1)
	var times []time.Time
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		times = times[:0]
		sink.mu.Lock()
		for _, r := range sink.recs {
			if r.Kind == inspect.KindStanza && r.Name == "message" && r.Dir == inspect.ClientToServer {
				times = append(times, r.Time)
			}
		}
		sink.mu.Unlock()
		if len(times) == 11 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d message records of 11", len(times))
		}
	}
	for i, tm := range times[:10] {
		if !tm.Equal(times[0]) {
			t.Fatalf("record %d of the first write at %v, the first at %v: one read, one time", i, tm, times[0])
		}
	}
	if times[0].Before(b1) || times[0].After(a1) {
		t.Errorf("the first write's records at %v, outside [%v, %v]", times[0], b1, a1)
	}
	if !times[10].After(times[0]) || times[10].Before(b2) || times[10].After(a2) {
		t.Errorf("the second write's record at %v: want after %v, within [%v, %v]", times[10], times[0], b2, a2)
	}
}
