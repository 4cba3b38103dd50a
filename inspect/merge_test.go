package inspect

import (
	"bytes"
	"strings"
	"testing"
)

// TestMergeJSONLogs: the logs of two proxies, both numbering their connections from 1,
// come out in the order of their times; each log's connections stay its own (by the node
// a log names, or else by the log's name), and each connection's stanzas get its header.
func TestMergeJSONLogs(t *testing.T) {
	p1 := `{"time":"2026-11-25T17:00:00.1Z","conn":1,"node":"p1","kind":"conn-open","size":0,"client":"127.0.0.1:4000","server":"127.0.0.1:5222"}
{"time":"2026-11-25T17:00:00.3Z","conn":1,"node":"p1","dir":"c2s","kind":"open","size":10,"xml":"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost'>"}
{"time":"2026-11-25T17:00:00.5Z","conn":1,"node":"p1","dir":"c2s","kind":"stanza","name":"message","size":10,"xml":"<message to='bob@localhost'><body>one</body></message>"}
`
	p2 := `{"time":"2026-11-25T17:00:00.2Z","conn":1,"kind":"conn-open","size":0,"client":"127.0.0.1:4001","server":"127.0.0.1:5222"}
{"time":"2026-11-25T17:00:00.4Z","conn":1,"dir":"c2s","kind":"open","size":10,"xml":"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost'>"}
{"kind":"note","note":"no time: comes out when read"}
{"time":"2026-11-25T17:00:00.6Z","conn":1,"dir":"c2s","kind":"stanza","name":"message","size":10,"xml":"<message to='alice@localhost'><body>two</body></message>"}
`
	var got []*Record
	err := MergeJSONLogs([]JSONLog{{"p1", strings.NewReader(p1)}, {"b", strings.NewReader(p2)}},
		SinkFunc(func(r *Record) error { got = append(got, r); return nil }))
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, r := range got {
		name := "-"
		if r.Conn != nil {
			name = r.Conn.Name()
		}
		order = append(order, name+" "+r.Kind.String())
	}
	want := []string{"p1/1 conn-open", "b/1 conn-open", "p1/1 open", "b/1 open", "- note", "p1/1 stanza", "b/1 stanza"}
	if strings.Join(order, ", ") != strings.Join(want, ", ") {
		t.Fatalf("merged order\n got %s\nwant %s", strings.Join(order, ", "), strings.Join(want, ", "))
	}
	if got[0].Conn == got[1].Conn || got[0].Conn != got[5].Conn || got[1].Conn != got[6].Conn {
		t.Error("the two logs' connection 1 were not kept apart")
	}
	if got[5].Header == nil || got[6].Header == nil {
		t.Error("a stanza lost its connection's header")
	}
	// The node is written back as it was read.
	var b bytes.Buffer
	writeAll(t, NewJSON(&b, JSONOptions{}), got[:1])
	if !strings.Contains(b.String(), `"conn":1,"node":"p1"`) {
		t.Errorf("JSON of a record with a node: %s", b.String())
	}
	// An error names the log.
	err = MergeJSONLogs([]JSONLog{{"p1", strings.NewReader(p1)}, {"bad", strings.NewReader("{not json\n")}}, SinkFunc(func(*Record) error { return nil }))
	if err == nil || !strings.Contains(err.Error(), "bad: json log line 1") {
		t.Errorf("error = %v, want one naming bad and its line", err)
	}
}

// TestPrettyNode: a connection with a node is shown as #NODE/N.
func TestPrettyNode(t *testing.T) {
	var b bytes.Buffer
	p := NewPretty(&b, PrettyOptions{})
	r := (&Record{Kind: KindNote, Conn: &ConnInfo{ID: 3, Node: "p2"}}).WithNote("hello")
	if err := p.Write(r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "#p2/3 ") {
		t.Errorf("pretty: %q", b.String())
	}
}

// FuzzMergeJSONLogs: two logs, whatever their lines, merge without a panic into every
// record each gives alone, and records of one log keep their connection apart from the
// other's.
func FuzzMergeJSONLogs(f *testing.F) {
	f.Add([]byte(`{"time":"2026-11-25T17:00:00.1Z","conn":1,"node":"p1","kind":"conn-open","size":0}`),
		[]byte(`{"time":"2026-11-25T17:00:00.2Z","conn":1,"kind":"conn-open","size":0}`+"\n"+`{"kind":"note","note":"x"}`))
	f.Add([]byte(`{"time":"2026-11-25T17:00:03Z","conn":2,"dir":"c2s","kind":"stanza","xml":"<iq/>"}`+"\n"+`{"time":"2026-11-25T17:00:00Z","conn":2,"kind":"note"}`),
		[]byte(`{"time":"2026-11-25T17:00:01Z","conn":2,"node":"b","kind":"note"}`))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		count := func(in []byte) (int, bool) {
			n := 0
			err := ReadJSONLog(bytes.NewReader(in), SinkFunc(func(*Record) error { n++; return nil }))
			return n, err == nil
		}
		na, okA := count(a)
		nb, okB := count(b)
		var got []*Record
		err := MergeJSONLogs([]JSONLog{{"a", bytes.NewReader(a)}, {"b", bytes.NewReader(b)}},
			SinkFunc(func(r *Record) error { got = append(got, r); return nil }))
		if okA && okB {
			if err != nil {
				t.Fatalf("each log reads alone, the merge fails: %v", err)
			}
			if len(got) != na+nb {
				t.Fatalf("merged %d records, want %d + %d", len(got), na, nb)
			}
		}
	})
}
