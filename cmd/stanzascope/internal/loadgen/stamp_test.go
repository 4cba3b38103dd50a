package loadgen

import (
	"strings"
	"testing"
)

func TestStampRoundTrip(t *testing.T) {
	st := Stamp{Sent: 1795631178547137330, Seq: 42, From: 7}
	raw := appendMessage(nil, "b@x/r", st)
	got, ok := ParseStamp(raw)
	if !ok || got != st {
		t.Fatalf("parsed %+v %v from %s", got, ok, raw)
	}
	if isErrorMessage(raw) {
		t.Fatal("chat taken for error")
	}
}

func TestParseStampReserialised(t *testing.T) {
	for _, raw := range []string{
		// Double quotes, other attribute order, from added by the server.
		`<message from="a@x/r" to="b@x/r" type="chat" id="3"><body>x</body><x seq="3" from="1" sent="99" xmlns="urn:stanzascope:bench"/></message>`,
		// A prefix, spaces around '='.
		`<message type='chat'><b:x xmlns:b = 'urn:stanzascope:bench' sent = '99' seq='3' from='1'></b:x></message>`,
	} {
		st, ok := ParseStamp([]byte(raw))
		if !ok || st != (Stamp{Sent: 99, Seq: 3, From: 1}) {
			t.Errorf("%s: %+v %v", raw, st, ok)
		}
	}
	bounce := `<message type="error" to="a@x/r"><x xmlns="urn:stanzascope:bench" sent="1" seq="2" from="3"/><error type="cancel"/></message>`
	if !isErrorMessage([]byte(bounce)) {
		t.Error("bounce not recognised")
	}
	for _, raw := range []string{
		`<message><body>hello</body></message>`,
		`<message><x xmlns='urn:stanzascope:bench' sent='1' seq='2'/></message>`,           // no from
		`<message><x xmlns='urn:stanzascope:bench' sent='-1' seq='2' from='1'/></message>`, // negative
		`<message><x xmlns='urn:stanzascope:bench' sent='99999999999999999999' seq='2' from='1'/></message>`,
		`<message><x xmlns='urn:stanzascope:bench' sent='1 seq='2' from='1'/></message>`,
		`urn:stanzascope:bench`,
	} {
		if st, ok := ParseStamp([]byte(raw)); ok {
			t.Errorf("%s: parsed %+v", raw, st)
		}
	}
}

func TestAppendRawAttr(t *testing.T) {
	if got := string(appendRawAttr(nil, "id", []byte("a'b"))); got != ` id="a'b"` {
		t.Fatal(got)
	}
	if got := string(appendRawAttr(nil, "id", nil)); got != "" {
		t.Fatal(got)
	}
}

func FuzzParseStamp(f *testing.F) {
	f.Add(string(appendMessage(nil, "b@x/r", Stamp{Sent: 1, Seq: 2, From: 3})))
	f.Add(`<message type="error"><x xmlns="urn:stanzascope:bench" sent="1" seq="2" from="3"/></message>`)
	f.Fuzz(func(t *testing.T, s string) {
		st, ok := ParseStamp([]byte(s))
		if ok && (st.Sent < 0 || st.Seq < 0 || st.From < 0) {
			t.Fatalf("negative stamp %+v", st)
		}
		_ = isErrorMessage([]byte(s))
		if ok && !strings.Contains(s, NSBench) {
			t.Fatal("stamp without the namespace")
		}
	})
}

func BenchmarkParseStamp(b *testing.B) {
	raw := []byte(`<message from='bench0@bench.local/bench0' to='bench1@bench.local/bench1' type='chat' id='12345'><body>stanzascope bench message 12345</body><x xmlns='urn:stanzascope:bench' sent='1795631178547137330' seq='12345' from='0'/></message>`)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := ParseStamp(raw); !ok || isErrorMessage(raw) {
			b.Fatal("not parsed")
		}
	}
}

func BenchmarkAppendMessage(b *testing.B) {
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		buf = appendMessage(buf[:0], "bench1@bench.local/bench1", Stamp{Sent: 1795631178547137330, Seq: int64(i), From: 0})
	}
}
