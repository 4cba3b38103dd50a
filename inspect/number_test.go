package inspect

import (
	"bytes"
	"strings"
	"testing"
)

func TestNumber(t *testing.T) {
	var got []uint64
	sink := Number(SinkFunc(func(r *Record) error { got = append(got, r.Seq); return nil }))
	for _, seq := range []uint64{0, 0, 0, 7, 0, 3, 0} {
		if err := sink.Write(&Record{Kind: KindNote, Seq: seq}); err != nil {
			t.Fatal(err)
		}
	}
	want := []uint64{1, 2, 3, 7, 8, 3, 4}
	if !equalSeqs(got, want) {
		t.Errorf("numbers %v, want %v", got, want)
	}
}

func equalSeqs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestSeqRoundTrip checks that the JSON log keeps a record's number and that the pretty
// printer shows it.
func TestSeqRoundTrip(t *testing.T) {
	var log bytes.Buffer
	j := NewJSON(&log, JSONOptions{})
	conn := &ConnInfo{ID: 1}
	h := &Header{ContentNS: NSClient}
	for _, r := range []*Record{
		{Seq: 41, Conn: conn, Kind: KindConnOpen},
		{Seq: 42, Conn: conn, Dir: ClientToServer, Kind: KindStanza, Name: "presence", Header: h, Raw: []byte("<presence/>")},
	} {
		if err := j.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(log.String(), `"seq":42`) {
		t.Fatalf("no seq in the log:\n%s", log.String())
	}
	var seqs []uint64
	var out bytes.Buffer
	p := NewPretty(&out, PrettyOptions{})
	err := ReadJSONLog(&log, SinkFunc(func(r *Record) error {
		seqs = append(seqs, r.Seq)
		return p.Write(r)
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !equalSeqs(seqs, []uint64{41, 42}) {
		t.Errorf("read back %v, want [41 42]", seqs)
	}
	if !strings.Contains(out.String(), "#42 #1 C->S stanza presence") {
		t.Errorf("pretty output does not start the record with its number:\n%s", out.String())
	}
}
