package inspect

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// A milestone is written to the JSON log as typed fields and reads back as it was.
func TestMilestoneJSON(t *testing.T) {
	for _, m := range []Milestone{
		{Kind: MilestoneTLS, Leg: "client", Version: "TLS 1.3", Cipher: "TLS_AES_128_GCM_SHA256", SNI: "localhost", Direct: true},
		{Kind: MilestoneSASL, Mechanism: "SCRAM-SHA-1", Result: SASLChosen},
		{Kind: MilestoneSASL, Result: SASLFailure, Condition: "not-authorized"},
		{Kind: MilestoneBound, JID: "a&b@localhost/r\u2028"},
		{Kind: MilestoneUnacked, Leg: "client", UnackedBytes: 1 << 40, UnackedRecords: 3},
		{Kind: MilestoneUnwritten, Leg: "upstream", UnwrittenBytes: 523, UnwrittenRecords: 2},
	} {
		rec := (&Record{Time: time.Unix(1, 0).UTC(), Conn: &ConnInfo{ID: 1}, Kind: KindNote}).WithNote("n")
		rec.SetMilestone(&m)
		var buf bytes.Buffer
		if err := NewJSON(&buf, JSONOptions{}).Write(rec); err != nil {
			t.Fatal(err)
		}
		var generic map[string]any
		if err := json.Unmarshal(buf.Bytes(), &generic); err != nil {
			t.Fatalf("not JSON: %v: %s", err, buf.Bytes())
		}
		var back []*Record
		if err := ReadJSONLog(strings.NewReader(buf.String()), SinkFunc(func(r *Record) error { back = append(back, r); return nil })); err != nil {
			t.Fatal(err)
		}
		if len(back) != 1 || back[0].Milestone() == nil || !reflect.DeepEqual(*back[0].Milestone(), m) {
			t.Fatalf("wrote %s, read back %+v", buf.Bytes(), back)
		}
		want, _ := json.Marshal(m)
		got, _ := json.Marshal(generic["milestone"])
		var a, b map[string]any
		json.Unmarshal(want, &a)
		json.Unmarshal(got, &b)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("milestone written as %s, encoding/json writes %s", got, want)
		}
	}
}
