package web

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/stanzascope/stanzascope/inspect"
)

// checkSummaryJSON checks that appendJSON writes what encoding/json writes.
func checkSummaryJSON(t *testing.T, s summary) {
	t.Helper()
	got := s.appendJSON(nil)
	want, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		// Floats may be written differently and still mean the same: compare decoded.
		var a, b summary
		if err := json.Unmarshal(got, &a); err != nil {
			t.Fatalf("%s: %v", got, err)
		}
		if err := json.Unmarshal(want, &b); err != nil || !reflect.DeepEqual(a, b) {
			t.Fatalf("appendJSON:\n%s\nencoding/json:\n%s", got, want)
		}
	}
	if bytes.ContainsAny(got, "\n\r") {
		t.Fatalf("a line break in %q", got)
	}
}

func TestSummaryJSON(t *testing.T) {
	for _, sm := range summaries(t, func() *Hub {
		h := NewHub(Options{})
		writeAll(t, h, newSession(t, 1).textbook())
		return h
	}()) {
		checkSummaryJSON(t, sm)
	}
	checkSummaryJSON(t, summary{I: 1, Kind: "stanza", Label: "x <y> & \"z\"\n\t\x01\u2028é\xff", RTTms: 1.5,
		Tags: []inspect.Tag{{Label: "a"}, {Label: "b", Color: "red"}}, Unmatched: true, Req: 3, Size: -1})
	checkSummaryJSON(t, summary{RTTms: 1e-7})
	checkSummaryJSON(t, summary{RTTms: 123456789.125})
}

// FuzzSummaryJSON: whatever the strings, appendJSON writes one line of JSON that
// encoding/json reads back to the same summary.
func FuzzSummaryJSON(f *testing.F) {
	f.Add("iq get · register", "mr_praline@localhost/telnet", 1.5)
	f.Add("\x00<\u2029>\xc3", "\"\\", 0.0)
	f.Fuzz(func(t *testing.T, label, jid string, rtt float64) {
		if rtt != rtt || rtt > 1e300 || rtt < -1e300 {
			return // not a duration
		}
		checkSummaryJSON(t, summary{I: 7, Kind: "stanza", Label: label, From: jid, Bound: jid, RTTms: rtt,
			Tags: []inspect.Tag{{Label: label, Color: jid}}})
	})
}
