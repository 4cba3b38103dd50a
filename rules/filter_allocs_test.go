package rules

import (
	"net/netip"
	"testing"

	"github.com/stanzascope/stanzascope/inspect"
)

// maxFilterMatchAllocs is the allocation guard of the terminal's filter (--filter-name,
// --filter-jid, --filter): Match on a forwarded chat message allocates nothing. It runs
// in the terminal's goroutine for every record of the traffic (docs/BENCHMARKS.md).
const maxFilterMatchAllocs = 0

// filterMatchCases are filters as the terminal's flags make them, each on a message framed
// by a Reader: one that matches nothing (scripts/bench.sh's --filter-name), and the
// conditions that the Reader's noted attributes decide.
var filterMatchCases = []string{
	"name bench-shows-nothing",
	"name message and type chat",
	"jid dana@localhost",
	"dir c2s and not name presence",
}

const filterMatchMessage = "<message to='dana@localhost' type='chat' id='m1'><body>I wish to complain about this parrot.</body></message>"

func TestFilterMatchAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation guard: the race detector allocates")
	}
	r := readerRecord(t, filterMatchMessage)
	r.Conn = &inspect.ConnInfo{ID: 1, Client: netip.MustParseAddrPort("127.0.0.1:40000")}
	for _, expr := range filterMatchCases {
		f := mustFilter(t, expr)
		f.Match(r)
		if got := testing.AllocsPerRun(1000, func() { f.Match(r) }); got > maxFilterMatchAllocs {
			t.Errorf("Match of %q: %.2f allocations per record, the guard is %d", expr, got, maxFilterMatchAllocs)
		}
	}
}

func BenchmarkFilterMatch(b *testing.B) {
	r := readerRecord(b, filterMatchMessage)
	r.Conn = &inspect.ConnInfo{ID: 1, Client: netip.MustParseAddrPort("127.0.0.1:40000")}
	for _, expr := range filterMatchCases {
		b.Run(expr, func(b *testing.B) {
			f := mustFilter(b, expr)
			b.ReportAllocs()
			for b.Loop() {
				f.Match(r)
			}
		})
	}
}
