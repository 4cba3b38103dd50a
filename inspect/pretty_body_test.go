package inspect

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

// withoutAdded takes out of the body printer's output what it added (marked by addMark):
// what is left must be the record's bytes.
func withoutAdded(b []byte) []byte {
	var out []byte
	for len(b) > 0 {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			return append(out, b...)
		}
		out = append(out, b[:i]...)
		j := bytes.IndexByte(b[i:], 1)
		if j < 0 {
			return out
		}
		b = b[i+j+1:]
	}
	return out
}

// checkBody prints raw with the marks on and checks that taking out what the printer
// added gives back raw (escaped for a terminal, as every output is), and that without the
// marks the output is the same text with the additions in place.
func checkBody(t *testing.T, raw []byte, width int) {
	t.Helper()
	marked := &Pretty{opt: PrettyOptions{Width: width}, pal: newPalette(false, ThemeDark), addMark: true}
	out := marked.body(nil, raw, 1)
	if got, want := withoutAdded(out), appendSafe(nil, string(raw)); !bytes.Equal(got, want) {
		t.Fatalf("width %d: the bytes changed:\nraw  %q\ngot  %q\nprinted\n%s", width, raw, got, out)
	}
	plain := &Pretty{opt: PrettyOptions{Width: width}, pal: newPalette(false, ThemeDark)}
	unmarked := plain.body(nil, raw, 1)
	if want := strings.NewReplacer("\x00", "", "\x01", "").Replace(string(out)); string(unmarked) != want && !bytes.ContainsAny(raw, "\x00\x01") {
		t.Fatalf("the marks change the output:\n%q\n%q", unmarked, want)
	}
	// Added is only whitespace.
	for rest := out; ; {
		i := bytes.IndexByte(rest, 0)
		if i < 0 {
			break
		}
		j := bytes.IndexByte(rest[i:], 1)
		if strings.TrimLeft(string(rest[i+1:i+j]), " \n") != "" {
			t.Fatalf("the printer added %q, not whitespace", rest[i+1:i+j])
		}
		rest = rest[i+j+1:]
	}
}

// TestPrettyBodyIsTheBytes: pretty output is the record's bytes, indented. Taking out the
// line breaks and indentation the printer added gives back the bytes: quoting, escaping,
// attribute order, whitespace in tags and namespace declarations are as they travelled.
func TestPrettyBodyIsTheBytes(t *testing.T) {
	var inputs [][]byte
	for _, in := range goldenInputs {
		for _, r := range readRecords(t, in.file, in.dir) {
			inputs = append(inputs, r.Raw)
		}
	}
	for _, s := range []string{
		`<message type="chat" to='a@b'><body>What&apos;s wrong &amp; &lt;why&gt;? &#x263A;</body></message>`,
		"<message\n   to='a@b'\tid = \"x\" ><body>line one\nline two\n  indented</body></message>",
		"<iq type='set'>\n  <query xmlns='jabber:iq:roster'>\n    <item jid='a@b'/>\n  </query>\n</iq>",
		`<a>text<b/>more<c>deep</c>tail</a>`,
		`<message><!-- a comment --><body><![CDATA[<raw> & stuff]]></body><?pi data?></message>`,
		`<e:x xmlns:e='urn:e' e:a='1' b="2"/>`,
		`<vCard xmlns='vcard-temp'><PHOTO><BINVAL>` + strings.Repeat("QUJD", 80) + `</BINVAL></PHOTO></vCard>`,
		`<body>` + strings.Repeat("word ", 60) + `</body>`,
		`<iq><broken></iq>`, `<a attr='unclosed`, `no tag at all`, `<a>  </a>`, "<a>\n</a>", `</stream:stream>`,
		"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost'>",
		"<message>\u009b\u202e evil \x1b[2J</message>",
	} {
		inputs = append(inputs, []byte(s))
	}
	for _, raw := range inputs {
		for _, w := range []int{16, 40, 100} {
			checkBody(t, raw, w)
		}
	}
}

// TestPrettyBodyProperty checks the same on random XML: nesting, text with escapes and
// line breaks, attributes in either quote with spaces around '=', formatting whitespace.
func TestPrettyBodyProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{"message", "body", "x", "e:item", "query", "a"}
	texts := []string{"hi", "&apos;s", "a &amp; b", "&lt;&gt;&quot;", "two\nlines", "  spaced  ", "\n  ", "QUJDRA==", "é中"}
	var gen func(depth int) string
	gen = func(depth int) string {
		var b strings.Builder
		name := names[rng.IntN(len(names))]
		b.WriteString("<" + name)
		for range rng.IntN(3) {
			q := "'"
			if rng.IntN(2) == 0 {
				q = `"`
			}
			sp := []string{" ", "\n  ", "\t"}[rng.IntN(3)]
			eq := []string{"=", " = "}[rng.IntN(2)]
			b.WriteString(sp + "k" + string(rune('a'+rng.IntN(5))) + eq + q + texts[rng.IntN(3)] + q)
		}
		if depth > 3 || rng.IntN(4) == 0 {
			b.WriteString([]string{"/>", " />"}[rng.IntN(2)])
			return b.String()
		}
		b.WriteString(">")
		for range rng.IntN(4) {
			if rng.IntN(2) == 0 {
				b.WriteString(texts[rng.IntN(len(texts))])
			} else {
				b.WriteString(gen(depth + 1))
			}
		}
		b.WriteString("</" + name + ">")
		return b.String()
	}
	for range 2000 {
		raw := []byte(gen(0))
		checkBody(t, raw, []int{16, 30, 100}[rng.IntN(3)])
	}
}

// FuzzPrettyBody: for any bytes, taking out what the printer added gives back the bytes.
func FuzzPrettyBody(f *testing.F) {
	for _, s := range []string{
		`<message type="chat"><body>What&apos;s</body></message>`,
		"<a\n b='1'>\n  <c/>\n</a>",
		`<a>t<b/>u</a>`, `<!-- c --><a><![CDATA[x]]></a>`, `<a b='`, `</a>`, `x<y`,
		`<b>` + strings.Repeat("QUJD", 40) + `</b>`,
	} {
		f.Add([]byte(s), 40)
	}
	f.Fuzz(func(t *testing.T, raw []byte, width int) {
		if len(raw) > 1<<16 {
			return
		}
		checkBody(t, raw, 16+abs(width)%200)
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
