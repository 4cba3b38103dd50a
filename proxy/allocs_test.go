package proxy

import (
	"io"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// Allocation guards (issue 12 item 7): forwarding an unchanged stanza through the proxy
// costs no more allocations than it did when the guard was set (docs/BENCHMARKS.md). The
// count is of the whole process: the client, the proxy's two pipes and the echo upstream.
// maxForwardAllocs is for forwarding alone; maxForwardRecordAllocs with every record
// handed to a sink (the record owns a copy of the bytes).
const (
	maxForwardAllocs       = 0
	maxForwardRecordAllocs = 4
)

func TestForwardAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation guard: the race detector allocates")
	}
	for _, tc := range []struct {
		name string
		sink inspect.Sink
		max  float64
	}{
		{"forward only", nil, maxForwardAllocs},
		{"forward and record", inspect.SinkFunc(func(*inspect.Record) error { return nil }), maxForwardRecordAllocs},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := echoClient(t, tc.sink)
			msg := []byte(benchMsg)
			buf := make([]byte, len(msg))
			c.SetDeadline(time.Now().Add(time.Minute))
			once := func() {
				if _, err := c.Write(msg); err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					t.Fatal(err)
				}
			}
			for range 100 { // warm up: buffers and pools reach their size
				once()
			}
			if got := testing.AllocsPerRun(2000, once); got > tc.max {
				t.Errorf("forwarding one unchanged stanza and its echo: %.1f allocations, the guard is %v", got, tc.max)
			} else {
				t.Logf("%.2f allocations per stanza and its echo (guard %v)", got, tc.max)
			}
		})
	}
}
