package loadgen_test

import (
	"fmt"
	"time"

	"github.com/stanzascope/stanzascope/cmd/stanzascope/internal/loadgen"
)

// A receiver reads the stamp of a bench message, as re-serialised by a server, and
// records the latency; percentiles come from a snapshot of the histogram.
func Example() {
	raw := []byte(`<message from="a@localhost/r" type="chat" id="3"><x seq="3" from="1" sent="1000" xmlns="urn:stanzascope:bench"/></message>`)
	st, ok := loadgen.ParseStamp(raw)
	fmt.Println(ok, st.Seq, st.From)

	var h loadgen.Histogram
	for _, ms := range []int{1, 2, 3, 4, 100} {
		h.Record(time.Duration(ms) * time.Millisecond)
	}
	var s loadgen.HistSnapshot
	h.AddTo(&s)
	fmt.Println(s.Count(), s.Quantile(0.5) <= 3*time.Millisecond*33/32, s.Quantile(1))

	var f loadgen.Flow
	f.Send(3)
	f.Received(1)
	f.Errored(2)
	fmt.Printf("%+v\n", f.Tally())
	// Output:
	// true 3 1
	// 5 true 100ms
	// {Sent:3 Delivered:1 Errored:1 Lost:1 Duplicates:0 Unexpected:0}
}
