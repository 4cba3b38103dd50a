package inspect

import (
	"bytes"
	"encoding/xml"
	"errors"
	"strings"
	"testing"
)

func TestScanStartTag(t *testing.T) {
	type attr struct{ name, value string }
	for _, tc := range []struct {
		name, in string
		elem     string
		attrs    []attr
		end      int // 0: the whole input
		empty    bool
		bad      bool
	}{
		{name: "plain", in: "<message to='a@b' type=\"chat\">hi</message>", elem: "message",
			attrs: []attr{{"to", "a@b"}, {"type", "chat"}}, end: 30},
		{name: "empty", in: "<presence/>", elem: "presence", empty: true},
		{name: "empty with space", in: "<presence \n/>", elem: "presence", empty: true},
		{name: "prefixed", in: "<stream:features xmlns:stream='x'>", elem: "stream:features",
			attrs: []attr{{"xmlns:stream", "x"}}},
		{name: "spaces around =", in: "<iq id = 'a>b' >", elem: "iq", attrs: []attr{{"id", "a>b"}}},
		{name: "entity kept as written", in: "<iq id='&amp;'/>", elem: "iq", attrs: []attr{{"id", "&amp;"}}, empty: true},
		{name: "no separator", in: "<iq a='1'b='2'>", bad: true},
		{name: "unquoted", in: "<iq a=1>", bad: true},
		{name: "unterminated value", in: "<iq a='1>", bad: true},
		{name: "cut", in: "<iq a='1'", bad: true},
		{name: "no name", in: "< iq>", bad: true},
		{name: "not a tag", in: "iq", bad: true},
		{name: "end tag", in: "</iq>", bad: true},
		{name: "slash alone", in: "<iq / >", bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := []byte(tc.in)
			var buf [2]TagAttr
			st, err := ScanStartTag(raw, buf[:0])
			if tc.bad {
				if !errors.Is(err, ErrBadTag) {
					t.Fatalf("ScanStartTag(%q) = %+v, %v; want ErrBadTag", tc.in, st, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ScanStartTag(%q): %v", tc.in, err)
			}
			end := tc.end
			if end == 0 {
				end = len(raw)
			}
			if string(st.Name(raw)) != tc.elem || st.End != end || st.Empty != tc.empty {
				t.Errorf("got name %q end %d empty %v; want %q %d %v", st.Name(raw), st.End, st.Empty, tc.elem, end, tc.empty)
			}
			if len(st.Attrs) != len(tc.attrs) {
				t.Fatalf("got %d attributes, want %d", len(st.Attrs), len(tc.attrs))
			}
			for i, a := range st.Attrs {
				if string(a.Name(raw)) != tc.attrs[i].name || string(a.Value(raw)) != tc.attrs[i].value {
					t.Errorf("attribute %d: %q=%q, want %q=%q", i, a.Name(raw), a.Value(raw), tc.attrs[i].name, tc.attrs[i].value)
				}
				if v, ok := st.Attr(raw, tc.attrs[i].name); !ok || string(v) != tc.attrs[i].value {
					t.Errorf("Attr(%q) = %q, %v", tc.attrs[i].name, v, ok)
				}
			}
		})
	}
}

func TestTopNameAndAttr(t *testing.T) {
	for _, tc := range []struct{ in, name, id string }{
		{"<message id='1'/>", "message", "1"},
		{"\n <iq id=\"a&amp;b\" type='get'><query/></iq>", "iq", "a&b"},
		{"<?xml version='1.0'?><stream:stream id='s1' xmlns:stream='x'>", "stream", "s1"},
		{"<!-- c --><presence/>", "presence", ""},
		{"text", "", ""},
		{"", "", ""},
		{"</iq>", "", ""},
	} {
		if got := TopName([]byte(tc.in)); got != tc.name {
			t.Errorf("TopName(%q) = %q, want %q", tc.in, got, tc.name)
		}
		if got := TopAttr([]byte(tc.in), "id"); got != tc.id {
			t.Errorf("TopAttr(%q, id) = %q, want %q", tc.in, got, tc.id)
		}
	}
}

// RawAttr returns the value as written, finds prefixed names by their qualified name and
// tells an empty value from an absent attribute.
func TestRawAttr(t *testing.T) {
	for _, tc := range []struct {
		in, name, value string
		ok              bool
	}{
		{"<iq id=\"a&amp;b\" type='get'/>", "id", "a&amp;b", true},
		{"<x:s xmlns:x='u' x:seq='7'>", "x:seq", "7", true},
		{"<x:s xmlns:x='u' x:seq='7'>", "seq", "", false},
		{"<m id=''/>", "id", "", true},
		{"<m a='1' id='2'", "id", "2", true}, // the tag's end is not needed
		{"<m a='1", "id", "", false},
		{"no tag", "id", "", false},
	} {
		v, ok := RawAttr([]byte(tc.in), tc.name)
		if string(v) != tc.value || ok != tc.ok {
			t.Errorf("RawAttr(%q, %q) = %q, %v; want %q, %v", tc.in, tc.name, v, ok, tc.value, tc.ok)
		}
	}
}

func TestTagName(t *testing.T) {
	for _, tc := range []struct {
		in, name string
		complete bool
	}{
		{"<message ", "message", true},
		{"<message>", "message", true},
		{"<stream:stream/", "stream:stream", true},
		{"</stream:stream>", "stream:stream", true},
		{"<mess", "mess", false},
		{"<a=", "a", false},
	} {
		name, complete := TagName([]byte(tc.in))
		if string(name) != tc.name || complete != tc.complete {
			t.Errorf("TagName(%q) = %q, %v; want %q, %v", tc.in, name, complete, tc.name, tc.complete)
		}
	}
}

// The scanner allocates nothing when the caller's buffer holds the attributes.
func TestScanStartTagAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation guard: the race detector allocates")
	}
	raw := []byte("<message from='a@b/c' to='d@e' type='chat' id='x1'><body>hi</body></message>")
	allocs := testing.AllocsPerRun(100, func() {
		var buf [8]TagAttr
		if _, err := ScanStartTag(raw, buf[:0]); err != nil {
			t.Fatal(err)
		}
		_ = TopAttr(raw, "type")
		_, _ = RawAttr(raw, "id")
	})
	if allocs != 1 { // TopAttr's string
		t.Fatalf("ScanStartTag and TopAttr: %v allocations, want 1 (TopAttr's result)", allocs)
	}
}

// FuzzScanStartTag checks the scanner against encoding/xml: whatever start tag it accepts
// is one that encoding/xml reads with the same name and attributes, and its offsets stay
// inside the input.
func FuzzScanStartTag(f *testing.F) {
	for _, s := range []string{
		"<message to='a@b' type=\"chat\">hi</message>", "<presence/>", "<iq id = 'a>b' >",
		"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
		"<iq a='1'b='2'>", "<iq a='&lt;'/>",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		st, err := ScanStartTag(raw, nil)
		if err != nil {
			return
		}
		if st.End > len(raw) || st.NameEnd >= st.End {
			t.Fatalf("offsets out of range: %+v for %q", st, raw)
		}
		prev := st.NameEnd
		for _, a := range st.Attrs {
			if a.Start < prev || a.NameStart >= a.NameEnd || a.ValueEnd < a.ValueStart || a.End > st.End {
				t.Fatalf("attribute offsets out of order: %+v in %q", a, raw)
			}
			prev = a.End
		}
		d := xml.NewDecoder(bytes.NewReader(raw[:st.End]))
		d.Strict = true
		tok, err := d.RawToken()
		if err != nil {
			return // the scanner does not validate names, characters or entities
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			return
		}
		name := se.Name.Local
		if se.Name.Space != "" {
			name = se.Name.Space + ":" + name
		}
		if name != string(st.Name(raw)) || len(se.Attr) != len(st.Attrs) {
			t.Fatalf("encoding/xml reads %q with %d attributes, the scanner %q with %d", name, len(se.Attr), st.Name(raw), len(st.Attrs))
		}
		for i, a := range se.Attr {
			n := a.Name.Local
			if a.Name.Space != "" {
				n = a.Name.Space + ":" + n
			}
			if n != string(st.Attrs[i].Name(raw)) || a.Value != string(unescapeBytes(st.Attrs[i].Value(raw))) {
				t.Fatalf("attribute %d: encoding/xml %q=%q, the scanner %q=%q", i, n, a.Value, st.Attrs[i].Name(raw), st.Attrs[i].Value(raw))
			}
		}
	})
}

// FuzzTopName: whatever the bytes, TopName returns a local name or nothing.
func FuzzTopName(f *testing.F) {
	for _, s := range []string{"<message/>", "<?xml version='1.0'?><stream:stream>", "<!-- x --><a:b c='d'>", "", "<", "no tags"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name := TopName([]byte(s))
		if strings.ContainsAny(name, "<>/: \t\r\n") {
			t.Fatalf("TopName(%q) = %q", s, name)
		}
	})
}
