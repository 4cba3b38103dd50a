package inspect

import (
	"bytes"
	"io"
	"testing"
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
