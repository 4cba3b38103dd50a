package inspect

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sessionRecords is a mix of every kind of record, as a proxy would log them.
func sessionRecords(t testing.TB) []*Record {
	conn := &ConnInfo{ID: 7, Client: netip.MustParseAddrPort("127.0.0.1:40000"), Server: netip.MustParseAddrPort("[::1]:5222")}
	at := time.Date(2026, 11, 25, 17, 0, 0, 123456789, time.UTC)
	recs := []*Record{(&Record{Kind: KindConnOpen, Conn: conn, Time: at}).WithNote("accepted")}
	c2s := readRecords(t, "textbook-c2s.xml", ClientToServer)
	s2c := readRecords(t, "textbook-s2c.xml", ServerToClient)
	for i := 0; i < len(c2s) || i < len(s2c); i++ {
		for _, list := range [][]*Record{c2s, s2c} {
			if i < len(list) {
				r := list[i]
				r.Conn = conn
				at = at.Add(1500 * time.Microsecond)
				r.Time = at
				recs = append(recs, r)
			}
		}
	}
	changed := rec(t, ClientToServer, `<message to='dana@localhost' type='chat'><body>Hello</body></message>`)
	changed.Conn, changed.Time = conn, at
	changed.SetOriginal([]byte(`<message to='dana@localhost' type='chat'><body>Hi</body></message>`))
	changed.Verdict = "injected"
	changed.SetRules([]string{"greet", "log"})
	changed.SetTags([]Tag{{Label: "demo", Color: "red"}, {Label: "plain"}})
	recs = append(recs, changed,
		(&Record{Kind: KindError, Conn: conn, Dir: ServerToClient, Time: at}).WithErr(&StreamError{Condition: CondRestrictedXML, Text: "comments are not allowed", Offset: 12, Line: 1, Col: 13}),
		(&Record{Kind: KindGap, Conn: conn, Dir: ClientToServer, Time: at}).WithNote("40 bytes missing"),
		(&Record{Kind: KindNote, Conn: conn, Dir: ClientToServer, Time: at, Unmatched: true}).WithNote("never answered"),
		(&Record{Kind: KindConnClose, Conn: conn, Time: at}).WithNote("closed by client"))
	for _, r := range recs {
		if r.Kind == KindStanza && r.Name == "iq" && r.Attr("type") == "result" {
			r.SetRTT(3200 * time.Microsecond)
		}
	}
	return recs
}

func writeAll(t testing.TB, s Sink, recs []*Record) {
	t.Helper()
	for _, r := range recs {
		if err := s.Write(r); err != nil {
			t.Fatal(err)
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	recs := sessionRecords(t)
	for _, show := range []bool{true, false} {
		redact := NewRedactor
		if show {
			redact = func(s Sink) Sink { return s }
		}
		var first bytes.Buffer
		writeAll(t, redact(NewJSON(&first, JSONOptions{})), recs)
		var back []*Record
		if err := ReadJSONLog(bytes.NewReader(first.Bytes()), SinkFunc(func(r *Record) error { back = append(back, r); return nil })); err != nil {
			t.Fatal(err)
		}
		if len(back) != len(recs) {
			t.Fatalf("read %d records back, wrote %d", len(back), len(recs))
		}
		var second bytes.Buffer
		writeAll(t, redact(NewJSON(&second, JSONOptions{})), back)
		if show {
			if first.String() != second.String() {
				t.Fatalf("round trip differs:\n%s\n---\n%s", first.String(), second.String())
			}
			// Re-read records print as the originals did: headers and connections are back.
			var p1, p2 bytes.Buffer
			writeAll(t, NewPretty(&p1, PrettyOptions{Explain: true}), recs)
			writeAll(t, NewPretty(&p2, PrettyOptions{Explain: true}), back)
			if p1.String() != p2.String() {
				t.Fatalf("pretty output of the re-read log differs:\n%s\n---\n%s", p1.String(), p2.String())
			}
			if AsStreamError(back[len(back)-4].Err()) == nil {
				t.Error("stream error not rebuilt")
			}
			if back[1].Conn != back[0].Conn || back[0].Conn.Client.Port() != 40000 {
				t.Error("records of one connection should share its ConnInfo")
			}
			continue
		}
		// Redacted logs: the secret is gone for good, and re-reading is a fixed point.
		if strings.Contains(first.String(), "polly") {
			t.Fatal("secret in a redacted log")
		}
		var third bytes.Buffer
		var again []*Record
		ReadJSONLog(bytes.NewReader(second.Bytes()), SinkFunc(func(r *Record) error { again = append(again, r); return nil }))
		writeAll(t, NewJSON(&third, JSONOptions{}), again)
		if second.String() != third.String() {
			t.Fatal("re-reading a redacted log is not stable")
		}
	}
}

func TestJSONFields(t *testing.T) {
	recs := sessionRecords(t)
	var b bytes.Buffer
	writeAll(t, NewJSON(&b, JSONOptions{}), recs[:2])
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	want0 := `{"time":"2026-11-25T17:00:00.123456789Z","conn":7,"kind":"conn-open","size":0,"note":"accepted","client":"127.0.0.1:40000","server":"[::1]:5222"}`
	if lines[0] != want0 {
		t.Errorf("conn-open line\n got %s\nwant %s", lines[0], want0)
	}
	if !strings.HasPrefix(lines[1], `{"time":"2026-11-25T17:00:00.124956789Z","conn":7,"dir":"c2s","kind":"open","name":"stream","ns":"http://etherx.jabber.org/streams","to":"localhost","size":102,"xml":"<stream:stream`) {
		t.Errorf("open line: %s", lines[1])
	}
}

func TestReadJSONLogErrors(t *testing.T) {
	good := `{"kind":"note","note":"ok"}`
	cases := []struct{ name, in, want string }{
		{"not json", good + "\n\n<iq/>\n", "line 3: not a stanzascope JSON record"},
		{"unknown kind", `{"kind":"frob"}`, `line 1: unknown kind "frob"`},
		{"bad dir", good + "\n" + `{"kind":"stanza","dir":"up"}`, `line 2: unknown direction "up"`},
		{"bad time", `{"kind":"note","time":"yesterday"}`, "line 1: bad time"},
		{"bad address", `{"kind":"conn-open","conn":1,"client":"nowhere"}`, "line 1: bad address"},
		{"bad rtt", `{"kind":"stanza","rtt_ms":-1}`, "line 1: rtt_ms"},
		{"too long", `{"kind":"note","note":"` + strings.Repeat("x", MaxJSONLine) + `"}`, "line 1: longer than"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := ReadJSONLog(strings.NewReader(tc.in), SinkFunc(func(*Record) error { return nil }))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

func FuzzReadJSONLog(f *testing.F) {
	f.Add([]byte(`{"time":"2026-11-25T17:00:00Z","conn":1,"dir":"c2s","kind":"open","size":3,"xml":"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' to='x'>"}` + "\n" +
		`{"conn":1,"dir":"c2s","kind":"stanza","name":"iq","xml":"<iq type='get' id='1'/>","rtt_ms":1.5,"tags":[{"label":"a"}]}`))
	f.Add([]byte(`{"kind":"error","error":"not-well-formed at line 1, column 2 (offset 1): x","condition":"not-well-formed"}`))
	f.Add([]byte(`{"kind":"conn-open","conn":2,"client":"[::1]:1","server":"127.0.0.1:5222"}`))
	f.Add([]byte(`{"seq":4,"conn":3,"dir":"s2c","kind":"stanza","name":"message","ns":"jabber:client","xml":"<message><body>b</body></message>",` +
		`"original":"<message><body>a</body></message>","verdict":"changed","rules":["r1"],"tags":[{"label":"t","color":"red"}],"origin":"proxy"}` + "\n" +
		`{"conn":3,"dir":"c2s","kind":"note","note":"never answered","unmatched":true}`))
	// Properties: a line yields at most one record; the records read, written again as a
	// JSON log (secrets shown, so nothing is changed on the way), read back as the same
	// number of records that write the same log again; the pretty printer takes them all.
	f.Fuzz(func(t *testing.T, in []byte) {
		read := func(b []byte) ([]*Record, error) {
			var recs []*Record
			err := ReadJSONLog(bytes.NewReader(b), SinkFunc(func(r *Record) error { recs = append(recs, r); return nil }))
			return recs, err
		}
		write := func(recs []*Record) []byte {
			var out bytes.Buffer
			j := NewJSON(&out, JSONOptions{}) // no redactor in front: secrets shown
			for _, r := range recs {
				if err := j.Write(r); err != nil {
					t.Fatal(err)
				}
			}
			return out.Bytes()
		}
		recs, err := read(in)
		if lines := bytes.Count(in, []byte("\n")) + 1; len(recs) > lines {
			t.Fatalf("%d records from %d lines", len(recs), lines)
		}
		log1 := write(recs)
		if err == nil {
			sameFields(t, in, log1)
		}
		if n := bytes.Count(log1, []byte("\n")); n != len(recs) {
			t.Fatalf("%d records written as %d lines", len(recs), n)
		}
		back, err := read(log1)
		if err != nil {
			t.Fatalf("the log written from accepted records does not read back: %v\n%s", err, log1)
		}
		if len(back) != len(recs) {
			t.Fatalf("%d records read back, want %d", len(back), len(recs))
		}
		if log2 := write(back); !bytes.Equal(log1, log2) {
			t.Fatalf("written again differently:\n%s\n%s", log1, log2)
		}
		var out bytes.Buffer
		p := NewPretty(&out, PrettyOptions{Explain: true})
		for _, r := range recs {
			if err := p.Write(r); err != nil {
				t.Fatal(err)
			}
		}
		if len(recs) > 0 && out.Len() == 0 {
			t.Fatal("the pretty printer showed nothing")
		}
	})
}

// sameFields checks that when every line of in was accepted, each non-blank line gave one
// record, and the record, written again, keeps the line's fields (those the writer does
// not derive from others: size, type, id, from and to come from the XML; time, rtt,
// error and addresses are checked in their parsed form by the other tests).
func sameFields(t *testing.T, in, out []byte) {
	t.Helper()
	var lines [][]byte
	for _, l := range bytes.Split(in, []byte("\n")) {
		if l = bytes.TrimSpace(l); len(l) > 0 {
			lines = append(lines, l)
		}
	}
	outLines := bytes.Split(bytes.TrimSuffix(out, []byte("\n")), []byte("\n"))
	if len(out) == 0 {
		outLines = nil
	}
	if len(outLines) != len(lines) {
		t.Fatalf("%d lines accepted, %d records", len(lines), len(outLines))
	}
	for i := range lines {
		var a, b jsonRecord
		if err := json.Unmarshal(lines[i], &a); err != nil {
			t.Fatalf("accepted line %d does not decode: %v", i+1, err)
		}
		if err := json.Unmarshal(outLines[i], &b); err != nil {
			t.Fatalf("written line %d does not decode: %v", i+1, err)
		}
		ka, _ := ParseKind(a.Kind)
		kb, _ := ParseKind(b.Kind)
		da, _ := ParseDirection(a.Dir)
		db, _ := ParseDirection(b.Dir)
		oa, _ := ParseOrigin(a.Origin)
		ob, _ := ParseOrigin(b.Origin)
		type kept struct {
			Kind                    Kind
			Dir                     Direction
			Origin                  Origin
			Conn, Seq               uint64
			Name, NS, Note, Verdict string
			XML, Original           string
			Tags                    []Tag
			Rules                   []string
			Unmatched               bool
		}
		wa := kept{ka, da, oa, a.Conn, a.Seq, a.Name, a.NS, a.Note, a.Verdict, string(a.XML), string(a.Original), a.Tags, a.Rules, a.Unmatched}
		wb := kept{kb, db, ob, b.Conn, b.Seq, b.Name, b.NS, b.Note, b.Verdict, string(b.XML), string(b.Original), b.Tags, b.Rules, b.Unmatched}
		if a.Origin == "" { // a log from before origins: the writer infers it from the direction
			wb.Origin = wa.Origin
		}
		if len(wa.Tags) == 0 {
			wa.Tags = nil
		}
		if len(wa.Rules) == 0 {
			wa.Rules = nil
		}
		if !reflect.DeepEqual(wa, wb) {
			t.Fatalf("line %d changed on the way:\n%s\n%s\n%+v\n%+v", i+1, lines[i], outLines[i], wa, wb)
		}
	}
}
