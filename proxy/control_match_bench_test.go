package proxy

import (
	"testing"

	"github.com/stanzascope/stanzascope/inspect"
)

// BenchmarkBreakpointMatch: what the forwarding path pays per stanza for breakpoints that
// do not match it (the sets of BenchmarkBreakpoints), the record being made anyway.
func BenchmarkBreakpointMatch(b *testing.B) {
	for _, set := range []struct {
		name  string
		exprs []string
	}{
		{"element", []string{"name iq", "name presence"}},
		{"type", []string{"type groupchat"}},
		{"direction", []string{"dir s2c and not name message"}},
		{"jid", []string{"jid carol@localhost"}},
		{"all-4", []string{"name iq and type set", "name presence and dir s2c", "name message and type groupchat", "jid carol@localhost"}},
	} {
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
