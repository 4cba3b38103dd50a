package inspect

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestPrettyEscapesTerminalControls: a stanza cannot drive the terminal that shows it.
// C1 controls (U+009B is CSI on terminals that read 8-bit controls), bidirectional
// overrides, and bytes that are not UTF-8 are shown as escapes, in the stanza, in the
// header line, in the explanation and in notes.
func TestPrettyEscapesTerminalControls(t *testing.T) {
	evil := "\u009b2J\u202egnp.exe\u2066x\u2069"
	r := rec(t, ClientToServer, `<message to='a@b/`+evil+`' type='chat'><body>hi `+evil+`</body></message>`)
	note := (&Record{Kind: KindNote}).WithNote("switch: " + evil + " \x1b[2J\x9b bye")
	bad := &Record{Kind: KindStanza, Dir: ClientToServer, Name: "iq", Raw: []byte("<iq>\x9b\u202e</iq")}
	for _, color := range []bool{false, true} {
		got := prettyOf(t, PrettyOptions{Explain: true, Color: color}, r, note, bad)
		for _, c := range []string{"\u009b", "\u202e", "\u2066", "\u2069", "\x9b", "\x1b[2J"} {
			if strings.Contains(got, c) {
				t.Errorf("color %v: %q reached the terminal:\n%q", color, c, got)
			}
		}
		for _, w := range []string{`\u009b2J\u202egnp.exe\u2066x\u2069`, `\x1b[2J\x9b bye`} {
			if !strings.Contains(got, w) {
				t.Errorf("color %v: missing %q in\n%s", color, w, got)
			}
		}
		if !utf8.ValidString(got) {
			t.Errorf("color %v: output is not UTF-8: %q", color, got)
		}
	}
}

func TestAppendSafe(t *testing.T) {
	for in, want := range map[string]string{
		"plain text, é and 中文 and tab\t": "plain text, é and 中文 and tab\t",
		"a\rb":                           `a\x0db`,
		"\x7f":                           `\x7f`,
		"x\u0085y":                       `x\u0085y`,
		"\u200f\u061c":                   `\u200f\u061c`,
		"\xff\xfe":                       `\xff\xfe`,
	} {
		if got := string(appendSafe(nil, in)); got != want {
			t.Errorf("appendSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPrettyWrapsProse: with Columns set, explanations and notes are wrapped at the
// terminal's width with a hanging indent; the stanza itself is left as it is.
func TestPrettyWrapsProse(t *testing.T) {
	r := rec(t, ClientToServer, `<presence><show>away</show><status>Gone to the pet shop to complain about a parrot</status></presence>`)
	note := (&Record{Kind: KindNote}).WithNote("switch: " + strings.Repeat("a rather long note ", 8))
	for _, cols := range []int{40, 60, 80} {
		got := prettyOf(t, PrettyOptions{Explain: true, Columns: cols, Color: true}, r, note)
		plain := regexp.MustCompile("\x1b\\[[0-9;]*m").ReplaceAllString(got, "")
		var prose, cont int
		for _, line := range strings.Split(strings.TrimSuffix(plain, "\n"), "\n") {
			if utf8.RuneCountInString(line) > cols && !strings.HasPrefix(line, "  <") && !strings.HasPrefix(line, "    <") {
				t.Errorf("columns %d: line longer than the width: %q", cols, line)
			}
			if strings.HasPrefix(line, "  # ") {
				prose++
			}
			if strings.HasPrefix(line, "    ") && !strings.HasPrefix(strings.TrimSpace(line), "<") {
				cont++
			}
		}
		if prose != 1 || cont < 2 {
			t.Errorf("columns %d: %d explanation lines, %d continuation lines:\n%s", cols, prose, cont, plain)
		}
		// Nothing is lost in the wrapping.
		words := strings.Fields(strings.ReplaceAll(plain, "#", ""))
		if j := strings.Join(words, " "); !strings.Contains(j, "Available presence: the user is online, show away, status 'Gone to the pet shop to complain about a parrot'") ||
			!strings.Contains(j, strings.TrimSpace(strings.Repeat("a rather long note ", 8))) {
			t.Errorf("columns %d: wrapped text lost words:\n%s", cols, plain)
		}
	}
	// Without Columns, one line each (for files and programs).
	got := prettyOf(t, PrettyOptions{Explain: true}, r, note)
	if n := strings.Count(got, "\n"); n != 2+4+1 {
		t.Errorf("without Columns: %d lines:\n%s", n, got)
	}
}

// TestPrettyConnectionColours: each connection has a colour of its own; neighbours differ.
func TestPrettyConnectionColours(t *testing.T) {
	for _, theme := range []Theme{ThemeDark, ThemeLight} {
		pal := newPalette(true, theme)
		seen := map[style]bool{}
		for id := uint64(1); id <= 6; id++ {
			st := pal.conn(id)
			if st.pre == "" || seen[st] {
				t.Errorf("theme %d: connection %d has no colour of its own: %q", theme, id, st.pre)
			}
			seen[st] = true
		}
		if pal.conn(7) != pal.conn(1) {
			t.Errorf("the colours do not come round again")
		}
		r := rec(t, ClientToServer, `<presence/>`)
		r.Conn = &ConnInfo{ID: 2}
		got := prettyOf(t, PrettyOptions{Color: true, Theme: theme}, r)
		if !strings.Contains(got, pal.conn(2).pre+"#2"+pal.conn(2).post) {
			t.Errorf("theme %d: the connection label is not in its colour: %q", theme, got)
		}
	}
}

// TestPaletteHighContrast: no faint or italic text, no dark blue on a dark background, no
// yellow on a light one.
func TestPaletteHighContrast(t *testing.T) {
	for _, theme := range []Theme{ThemeDark, ThemeLight} {
		pal := newPalette(true, theme)
		for name, st := range map[string]style{
			"seq": pal.seq, "time": pal.time, "c2s": pal.c2s, "s2c": pal.s2c, "kind": pal.kind, "elem": pal.elem,
			"attr": pal.attr, "value": pal.value, "text": pal.text, "punct": pal.punct, "open": pal.open,
			"closed": pal.closed, "note": pal.note, "explain": pal.explain, "rtt": pal.rtt, "rules": pal.rules, "err": pal.err,
		} {
			codes := strings.Split(strings.TrimSuffix(strings.TrimPrefix(st.pre, "\x1b["), "m"), ";")
			for _, c := range codes {
				switch {
				case c == "2" || c == "3":
					t.Errorf("theme %d: %s is faint or italic (%q)", theme, name, st.pre)
				case c == "90":
					t.Errorf("theme %d: %s is dark grey (%q)", theme, name, st.pre)
				case theme == ThemeDark && (c == "34" || c == "30"):
					t.Errorf("theme %d: %s is dark blue or black on black (%q)", theme, name, st.pre)
				case theme == ThemeLight && (c == "33" || c == "93" || c == "97" || c == "37"):
					t.Errorf("theme %d: %s is yellow or white on white (%q)", theme, name, st.pre)
				}
			}
		}
	}
	if _, err := ParseTheme("sepia"); err == nil {
		t.Error("ParseTheme accepted sepia")
	}
}

// TestPrettyHeaderExplainedOnce: the long explanation of a stream header is given once per
// kind; later headers of that kind get a short line that points back to it.
func TestPrettyHeaderExplainedOnce(t *testing.T) {
	var recs []*Record
	for conn := uint64(1); conn <= 3; conn++ {
		for _, r := range readRecords(t, "textbook-c2s.xml", ClientToServer)[:1] {
			r.Conn, r.Seq = &ConnInfo{ID: conn}, conn*10
			recs = append(recs, r)
		}
	}
	got := prettyOf(t, PrettyOptions{Explain: true}, recs...)
	if n := strings.Count(got, "pre-XMPP-1.0 stream"); n != 1 {
		t.Errorf("the full header explanation is there %d times:\n%s", n, got)
	}
	if n := strings.Count(got, "Stream header: the client opens a stream to localhost, pre-1.0 (explained at #10)"); n != 2 {
		t.Errorf("the short form is there %d times:\n%s", n, got)
	}
}

func TestPrettyLegend(t *testing.T) {
	r := rec(t, ClientToServer, `<presence/>`)
	got := prettyOf(t, PrettyOptions{Legend: true}, r, r)
	if strings.Count(got, "How to read this") != 1 || !strings.HasPrefix(got, "How to read this") {
		t.Errorf("legend: %q", got)
	}
	if got := prettyOf(t, PrettyOptions{}, r); strings.Contains(got, "How to read") {
		t.Errorf("a legend without Legend: %q", got)
	}
}
