package inspect

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// sessionRecords is a mix of every kind of record, as a proxy would log them.
func sessionRecords(t testing.TB) []*Record {
	conn := &ConnInfo{ID: 7, Client: netip.MustParseAddrPort("127.0.0.1:40000"), Server: netip.MustParseAddrPort("[::1]:5222")}
	at := time.Date(2026, 11, 25, 17, 0, 0, 123456789, time.UTC)
	recs := []*Record{{Kind: KindConnOpen, Conn: conn, Time: at, Note: "accepted"}}
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
	changed.Original = []byte(`<message to='dana@localhost' type='chat'><body>Hi</body></message>`)
	changed.Verdict, changed.Rules = "injected", []string{"greet", "log"}
	changed.Tags = []Tag{{Label: "demo", Color: "red"}, {Label: "plain"}}
	recs = append(recs, changed,
		&Record{Kind: KindError, Conn: conn, Dir: ServerToClient, Time: at, Err: &StreamError{Condition: CondRestrictedXML, Text: "comments are not allowed", Offset: 12, Line: 1, Col: 13}},
		&Record{Kind: KindGap, Conn: conn, Dir: ClientToServer, Time: at, Note: "40 bytes missing"},
		&Record{Kind: KindNote, Conn: conn, Dir: ClientToServer, Time: at, Note: "never answered", Unmatched: true},
		&Record{Kind: KindConnClose, Conn: conn, Time: at, Note: "closed by client"})
	for _, r := range recs {
		if r.Kind == KindStanza && r.Name == "iq" && r.Attr("type") == "result" {
			r.RTT = 3200 * time.Microsecond
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
		var first bytes.Buffer
		writeAll(t, NewJSON(&first, JSONOptions{ShowSecrets: show}), recs)
		var back []*Record
		if err := ReadJSONLog(bytes.NewReader(first.Bytes()), SinkFunc(func(r *Record) error { back = append(back, r); return nil })); err != nil {
			t.Fatal(err)
		}
		if len(back) != len(recs) {
			t.Fatalf("read %d records back, wrote %d", len(back), len(recs))
		}
		var second bytes.Buffer
		writeAll(t, NewJSON(&second, JSONOptions{ShowSecrets: show}), back)
		if show {
			if first.String() != second.String() {
				t.Fatalf("round trip differs:\n%s\n---\n%s", first.String(), second.String())
			}
			// Re-read records print as the originals did: headers and connections are back.
			var p1, p2 bytes.Buffer
			writeAll(t, NewPretty(&p1, PrettyOptions{Explain: true, ShowSecrets: true}), recs)
			writeAll(t, NewPretty(&p2, PrettyOptions{Explain: true, ShowSecrets: true}), back)
			if p1.String() != p2.String() {
				t.Fatalf("pretty output of the re-read log differs:\n%s\n---\n%s", p1.String(), p2.String())
			}
			if AsStreamError(back[len(back)-4].Err) == nil {
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
	f.Fuzz(func(t *testing.T, in []byte) {
		var recs []*Record
		_ = ReadJSONLog(bytes.NewReader(in), SinkFunc(func(r *Record) error { recs = append(recs, r); return nil }))
		var out bytes.Buffer
		p := NewPretty(&out, PrettyOptions{Explain: true})
		j := NewJSON(&out, JSONOptions{})
		for _, r := range recs {
			p.Write(r)
			j.Write(r)
		}
	})
}
