package inspect

import (
	"bytes"
	"strings"
	"testing"
)

// TestRawMarksChanges: with more than one connection or direction, a line names each
// stretch; the bytes between the lines are the records' bytes, untouched. One direction
// alone gets no marker and stays byte for byte.
func TestRawMarksChanges(t *testing.T) {
	c1, c2 := &ConnInfo{ID: 1}, &ConnInfo{ID: 2}
	mk := func(c *ConnInfo, d Direction, raw string) *Record {
		return &Record{Kind: KindStanza, Conn: c, Dir: d, Raw: []byte(raw)}
	}
	recs := []*Record{
		mk(c1, ClientToServer, "<a/>"), mk(c1, ClientToServer, "<b/>"),
		(&Record{Kind: KindNote, Conn: c1}).WithNote("skipped"),
		mk(c1, ServerToClient, "<c/>\n"), mk(c2, ClientToServer, "<d/>"), mk(c1, ServerToClient, "<e/>"),
	}
	var out bytes.Buffer
	p := NewRaw(&out).MarkChanges(false)
	for _, r := range recs {
		if err := p.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	p.Close()
	want := "=== #1 C->S ===\n<a/><b/>\n=== #1 S->C ===\n<c/>\n=== #2 C->S ===\n<d/>\n=== #1 S->C ===\n<e/>"
	if out.String() != want {
		t.Fatalf("got\n%q\nwant\n%q", out.String(), want)
	}
	colored := &bytes.Buffer{}
	p = NewRaw(colored).MarkChanges(true)
	for _, r := range recs {
		p.Write(r)
	}
	if !strings.Contains(colored.String(), "\x1b[") || strings.Contains(strings.Join(strings.Split(colored.String(), "\n")[1:2], ""), "\x1b[") {
		t.Errorf("colour must be on the marker lines only:\n%q", colored.String())
	}

	// One connection and direction: no marker, the bytes as they were, also when long.
	for _, n := range []int{3, 20000} {
		var one bytes.Buffer
		p = NewRaw(&one).MarkChanges(false)
		var raw strings.Builder
		for i := range n {
			s := "<m n='" + strings.Repeat("x", i%7) + "'/>"
			raw.WriteString(s)
			p.Write(mk(c1, ClientToServer, s))
		}
		p.Close()
		if n < 1000 && one.String() != raw.String() {
			t.Errorf("one direction changed: %q", one.String())
		}
		if n >= 1000 && one.String() != "=== #1 C->S ===\n"+raw.String() {
			t.Errorf("a long single stretch: %d bytes, marker %q", one.Len(), one.String()[:20])
		}
	}
	// Without MarkChanges, nothing is added.
	var plain bytes.Buffer
	p = NewRaw(&plain)
	for _, r := range recs {
		p.Write(r)
	}
	if plain.String() != "<a/><b/><c/>\n<d/><e/>" {
		t.Errorf("unmarked: %q", plain.String())
	}
}
