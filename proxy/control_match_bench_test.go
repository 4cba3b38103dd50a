package proxy

import (
	"testing"

	"github.com/stanzascope/stanzascope/inspect"
)

// BenchmarkBreakpointMatch: what the forwarding path pays per stanza for breakpoints that
// do not match it (the sets of BenchmarkBreakpoints), the record being made anyway, in a
// loop: with everything in the caches, which in the proxy it is not (BenchmarkBreakpoints).
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
			b.ReportAllocs()
			for b.Loop() {
				if c.match(r, "alice@localhost/phone") != nil {
					b.Fatal("matched")
				}
			}
		})
	}
}
