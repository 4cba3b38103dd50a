package proxy

import (
	"runtime"
	"testing"

	"github.com/stanzascope/stanzascope/inspect"
)

// BenchmarkBreakpointMatch: what the forwarding path pays per stanza for breakpoints that
// do not match it (the sets of BenchmarkBreakpoints), the record being made anyway.
// cpu-ns/op is the CPU time of the benchmark's thread per match (Linux), steadier than
// ns/op on a busy machine.
func BenchmarkBreakpointMatch(b *testing.B) {
	for _, set := range breakpointSets {
		if set.exprs == nil {
			continue
		}
		b.Run(set.name, func(b *testing.B) {
			c := NewControl()
			for _, expr := range set.exprs {
				if _, err := c.AddBreakpoint(expr); err != nil {
					b.Fatal(err)
				}
			}
			r := readRecord(b, benchMsg)
			r.Dir = inspect.ClientToServer
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ReportAllocs()
			cpu := threadCPU()
			for b.Loop() {
				if c.match(r, "alice@localhost/phone") != nil {
					b.Fatal("matched")
				}
			}
			b.ReportMetric(float64(threadCPU()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}
