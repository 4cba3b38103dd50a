package inspect

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func prettyOf(t testing.TB, opt PrettyOptions, recs ...*Record) string {
	t.Helper()
	var b bytes.Buffer
	p := NewPretty(&b, opt)
	for _, r := range recs {
		if err := p.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	return b.String()
}

func TestPrettyHeaderAndNotes(t *testing.T) {
	conn := &ConnInfo{ID: 3, Client: netip.MustParseAddrPort("127.0.0.1:4000"), Server: netip.MustParseAddrPort("127.0.0.1:5222")}
	at := time.Date(2026, 1, 2, 15, 4, 5, 678_000_000, time.UTC)
	msg := rec(t, ServerToClient, `<message type='chat'><body>hi</body></message>`)
	msg.Conn, msg.Time = conn, at
	got := prettyOf(t, PrettyOptions{},
		&Record{Kind: KindConnOpen, Conn: conn, Time: at},
		msg,
		&Record{Kind: KindWhitespace, Conn: conn, Raw: []byte(" ")},
		(&Record{Kind: KindGap, Conn: conn, Dir: ClientToServer}).WithNote("12 bytes missing"),
		(&Record{Kind: KindError, Conn: conn}).WithErr(errors.New("boom")),
		(&Record{Kind: KindConnClose, Conn: conn}).WithNote("client left"),
	)
	want := `15:04:05.678 #3 conn-open connection from 127.0.0.1:4000 to 127.0.0.1:5222
15:04:05.678 #3 S->C stanza message chat
  <message type='chat'>
    <body>hi</body>
  </message>
#3 C->S gap 12 bytes missing
#3 error boom
#3 conn-close client left
`
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestPrettyAnnotations(t *testing.T) {
	r := rec(t, ClientToServer, `<message to='a@b'><body>Hello</body></message>`)
	r.SetOriginal([]byte(`<message to='a@b'><body>Hi</body></message>`))
	r.Verdict = "delayed"
	r.SetTags([]Tag{{Label: "teach", Color: "green"}})
	r.SetRules([]string{"slow-down"})
	got := prettyOf(t, PrettyOptions{}, r)
	for _, w := range []string{" DELAYED ", "[teach]", "rules: slow-down", "changed by rule", "-    <body>Hi</body>", "+    <body>Hello</body>"} {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in\n%s", w, got)
		}
	}
	if strings.Contains(got, "-  <message") {
		t.Errorf("unchanged lines are in the diff:\n%s", got)
	}
	colored := prettyOf(t, PrettyOptions{Color: true}, r)
	if !strings.Contains(colored, "\x1b[42;30m[teach]") {
		t.Errorf("tag colour missing:\n%q", colored)
	}
}

func TestPrettyColorIsExplicit(t *testing.T) {
	t.Setenv("NO_COLOR", "1") // the caller decides; the printer never looks at the environment
	r := rec(t, ClientToServer, `<presence/>`)
	if got := prettyOf(t, PrettyOptions{Color: true}, r); !strings.Contains(got, "\x1b[") {
		t.Errorf("Color: true printed no colour: %q", got)
	}
	if got := prettyOf(t, PrettyOptions{}, r); strings.Contains(got, "\x1b[") {
		t.Errorf("Color: false printed colour: %q", got)
	}
}

func TestPrettyFoldsBase64(t *testing.T) {
	payload := strings.Repeat("QUJD", 60) // 240 characters
	r := rec(t, ClientToServer, `<iq type='set' id='a'><vCard xmlns='vcard-temp'><PHOTO><BINVAL>`+payload+`</BINVAL></PHOTO></vCard></iq>`)
	got := prettyOf(t, PrettyOptions{Width: 40}, r)
	n := 0
	for _, line := range strings.Split(got, "\n") {
		if len(line) > 40 && !strings.Contains(line, "<") {
			t.Errorf("line longer than the width: %q", line)
		}
		if strings.TrimSpace(line) != "" && strings.Trim(strings.TrimSpace(line), "QUJD") == "" {
			n += len(strings.TrimSpace(line))
		}
	}
	if n != len(payload) {
		t.Errorf("folded payload has %d characters, want %d:\n%s", n, len(payload), got)
	}
}

func TestPrettyUnparsableShowsRaw(t *testing.T) {
	r := &Record{Kind: KindStanza, Dir: ClientToServer, Name: "iq", Raw: []byte("<iq><broken></iq>")}
	got := prettyOf(t, PrettyOptions{}, r)
	if !strings.Contains(got, "  <iq>\n    <broken>\n    </iq>\n") {
		t.Fatalf("got %q", got)
	}
}

func TestPrettyNamespacesAndEscaping(t *testing.T) {
	r := rec(t, ClientToServer, `<message xml:lang='en' to='a&amp;b@x'><body>1 &lt; 2 &amp; &apos;q&apos;</body><e:x xmlns:e='urn:e' e:a='v'/></message>`)
	got := prettyOf(t, PrettyOptions{}, r)
	for _, w := range []string{`xml:lang='en'`, `to='a&amp;b@x'`, `<body>1 &lt; 2 &amp; &apos;q&apos;</body>`, `<e:x xmlns:e='urn:e' e:a='v'/>`} {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in\n%s", w, got)
		}
	}
}

func TestLineDiff(t *testing.T) {
	d := lineDiff([]string{"a", "b", "c"}, []string{"a", "x", "c", "d"})
	var s []string
	for _, l := range d {
		s = append(s, string(l.op)+l.line)
	}
	if got := strings.Join(s, ","); got != " a,-b,+x, c,+d" {
		t.Fatalf("diff %s", got)
	}
	big := make([]string, maxDiffLines+1)
	if d := lineDiff(big, []string{"x"}); len(d) != len(big)+1 {
		t.Fatalf("large diff has %d lines", len(d))
	}
}

// benchRecords is a typical mix of stanzas: the textbook session both ways.
func benchRecords(b *testing.B) ([]*Record, int64) {
	recs := append(readRecords(b, "textbook-c2s.xml", ClientToServer), readRecords(b, "textbook-s2c.xml", ServerToClient)...)
	recs = append(recs, readRecords(b, "modern-c2s.xml", ClientToServer)...)
	recs = append(recs, readRecords(b, "modern-s2c.xml", ServerToClient)...)
	var n int64
	for _, r := range recs {
		n += int64(len(r.Raw))
	}
	return recs, n
}

func BenchmarkPretty(b *testing.B) {
	recs, n := benchRecords(b)
	for _, color := range []bool{false, true} {
		name := "plain"
		if color {
			name = "color"
		}
		b.Run(name, func(b *testing.B) {
			p := NewPretty(discardWriter{}, PrettyOptions{Color: color})
			b.SetBytes(n)
			b.ReportAllocs()
			for b.Loop() {
				for _, r := range recs {
					r.SetElement(nil) // parse again each time, as a fresh record would
					p.Write(r)
				}
			}
		})
	}
}

func BenchmarkJSON(b *testing.B) {
	recs, n := benchRecords(b)
	j := NewJSON(discardWriter{}, JSONOptions{})
	b.SetBytes(n)
	b.ReportAllocs()
	for b.Loop() {
		for _, r := range recs {
			j.Write(r)
		}
	}
}

type discardWriter struct{}

func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
