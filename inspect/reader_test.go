package inspect

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

const (
	testHeader = `<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`
	// legacyHeader is step 1 of the textbook session: no XML declaration, no version.
	legacyHeader = "<stream:stream to='localhost' xmlns='jabber:client'\n  xmlns:stream='http://etherx.jabber.org/streams'>"
)

type eventSummary struct {
	kind Kind
	raw  string
	name string
	ns   string
}

// readEvents reads every event until EOF or error.
func readEvents(r *Reader) ([]eventSummary, error) {
	var out []eventSummary
	for {
		ev, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, eventSummary{ev.Kind, string(ev.Raw), ev.Name, ev.NS})
	}
}

func TestReaderEvents(t *testing.T) {
	body := testHeader +
		"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>" +
		" \n\t" +
		"<iq id='a' type='get'><query xmlns='jabber:iq:register'/></iq>" +
		"<message to='dana@localhost' type='chat'><body>What&apos;s &lt;wrong&gt; &#65;&#x42;<![CDATA[<raw> & ]]></body></message>" +
		"<p:x xmlns:p='urn:example'><p:y a='1' p:b='2'/></p:x>" +
		"<presence/>" +
		"</stream:stream>"
	want := []eventSummary{
		{KindStreamOpen, testHeader, "stream", NSStreams},
		{KindStanza, "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>", "features", NSStreams},
		{KindWhitespace, " \n\t", "", ""},
		{KindStanza, "<iq id='a' type='get'><query xmlns='jabber:iq:register'/></iq>", "iq", NSClient},
		{KindStanza, "<message to='dana@localhost' type='chat'><body>What&apos;s &lt;wrong&gt; &#65;&#x42;<![CDATA[<raw> & ]]></body></message>", "message", NSClient},
		{KindStanza, "<p:x xmlns:p='urn:example'><p:y a='1' p:b='2'/></p:x>", "x", "urn:example"},
		{KindStanza, "<presence/>", "presence", NSClient},
		{KindStreamClose, "</stream:stream>", "stream", NSStreams},
	}
	readers := map[string]func(string) io.Reader{
		"whole":    func(s string) io.Reader { return strings.NewReader(s) },
		"one byte": func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) },
		"half":     func(s string) io.Reader { return iotest.HalfReader(strings.NewReader(s)) },
		"data+EOF": func(s string) io.Reader { return iotest.DataErrReader(strings.NewReader(s)) },
	}
	for name, mk := range readers {
		t.Run(name, func(t *testing.T) {
			got, err := readEvents(NewReader(mk(body), Limits{}))
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			// A one-byte reader hands whitespace out as it arrives: join adjacent runs.
			got = joinWhitespace(got)
			if len(got) != len(want) {
				t.Fatalf("got %d events, want %d:\n%v", len(got), len(want), got)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("event %d:\n got %+v\nwant %+v", i, got[i], want[i])
				}
			}
		})
	}
}

func joinWhitespace(evs []eventSummary) []eventSummary {
	var out []eventSummary
	for _, e := range evs {
		if e.kind == KindWhitespace && len(out) > 0 && out[len(out)-1].kind == KindWhitespace {
			out[len(out)-1].raw += e.raw
			continue
		}
		out = append(out, e)
	}
	return out
}

func TestReaderHeader(t *testing.T) {
	r := NewReader(strings.NewReader(legacyHeader), Limits{})
	ev, err := r.Next()
	if err != nil {
		t.Fatal(err)
	}
	h := ev.Header
	if ev.Kind != KindStreamOpen || h == nil {
		t.Fatalf("got %v, header %v", ev.Kind, h)
	}
	if h.To != "localhost" || h.ContentNS != NSClient || h.Prefix != "stream" || !h.Legacy() || h.Version != "" {
		t.Errorf("header %+v", h)
	}
	if h.NS["stream"] != NSStreams {
		t.Errorf("prefixes %v", h.NS)
	}
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("after the header at EOF: %v, want io.EOF", err)
	}

	r = NewReader(strings.NewReader(`<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns="jabber:server" version="1.0" from="a.example" id="x&amp;y" xml:lang="en">`), Limits{})
	ev, err = r.Next()
	if err != nil {
		t.Fatal(err)
	}
	if h := ev.Header; h.Version != "1.0" || h.Legacy() || h.ContentNS != NSServer || h.From != "a.example" || h.ID != "x&y" || h.Lang != "en" {
		t.Errorf("header %+v", ev.Header)
	}
	if r.Header() != ev.Header {
		t.Error("Header() is not the header of the event")
	}
}

func TestReaderErrors(t *testing.T) {
	cases := []struct {
		name string
		in   string
		cond Cond
	}{
		{"comment in stanza", "<message><!-- hi --></message>", CondRestrictedXML},
		{"comment between stanzas", "<!-- hi -->", CondRestrictedXML},
		{"processing instruction", "<?foo bar?>", CondRestrictedXML},
		{"PI in stanza", "<message><?foo?></message>", CondRestrictedXML},
		{"DTD", "<!DOCTYPE x>", CondRestrictedXML},
		{"entity", "<message><body>&nbsp;</body></message>", CondRestrictedXML},
		{"entity in attribute", "<message to='&foo;'/>", CondRestrictedXML},
		{"bad char reference", "<message><body>&#0;</body></message>", CondNotWellFormed},
		{"unterminated reference", "<message><body>& x</body></message>", CondNotWellFormed},
		{"bare ampersand", "<iq>a & b</iq>", CondNotWellFormed},
		{"bare ampersand at end", "<iq>&</iq>", CondNotWellFormed},
		{"ampersand in attribute", "<iq b='&'/>", CondNotWellFormed},
		{"mismatched tag", "<message><body></message>", CondNotWellFormed},
		{"text between stanzas", "hello", CondNotWellFormed},
		{"unquoted attribute", "<message to=x/>", CondNotWellFormed},
		{"attribute without value", "<message to/>", CondNotWellFormed},
		{"lt in attribute", "<message to='<'/>", CondNotWellFormed},
		{"duplicate attribute", "<message to='a' to='b'/>", CondNotWellFormed},
		{"no space between attributes", "<message to='a'id='b'/>", CondNotWellFormed},
		{"unbound prefix", "<foo:bar/>", CondNotWellFormed},
		{"unbound attribute prefix", "<message foo:bar='1'/>", CondNotWellFormed},
		{"two colons", "<a:b:c xmlns:a='x'/>", CondNotWellFormed},
		{"control character", "<message><body>\x01</body></message>", CondNotWellFormed},
		{"invalid UTF-8", "<message><body>\xff</body></message>", CondUnsupportedEncoding},
		{"noncharacter", "<message><body>\uFFFE</body></message>", CondNotWellFormed},
		{"bad name start", "<1message/>", CondNotWellFormed},
		{"unexpected end tag", "</message>", CondNotWellFormed},
		{"wrong stream close", "</stream>", CondNotWellFormed},
		{"CDATA at top level", "<![CDATA[x]]>", CondNotWellFormed},
		{"undeclaring a prefix", "<a xmlns:p=''/>", CondNotWellFormed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, one := range []bool{false, true} {
				var src io.Reader = strings.NewReader(testHeader + tc.in)
				if one {
					src = iotest.OneByteReader(src)
				}
				_, err := readEvents(NewReader(src, Limits{}))
				se := AsStreamError(err)
				if se == nil {
					t.Fatalf("one byte %v: got %v, want a stream error %s", one, err, tc.cond)
				}
				if se.Condition != tc.cond {
					t.Fatalf("one byte %v: condition %s (%v), want %s", one, se.Condition, se, tc.cond)
				}
				if se.Line < 1 || se.Col < 1 || se.Text == "" {
					t.Errorf("position/text missing: %+v", se)
				}
			}
		})
	}
}

func TestReaderHeaderErrors(t *testing.T) {
	cases := []struct {
		name, in string
		cond     Cond
	}{
		{"wrong namespace", "<stream:stream xmlns:stream='urn:wrong' xmlns='jabber:client'>", CondInvalidNamespace},
		{"no namespace", "<stream xmlns='jabber:client'>", CondInvalidNamespace},
		{"not a stream", "<stream:message xmlns:stream='http://etherx.jabber.org/streams'>", CondBadFormat},
		{"stanza first", "<message xmlns='jabber:client'/>", CondInvalidNamespace},
		{"text first", "hello", CondNotWellFormed},
		{"encoding", "<?xml version='1.0' encoding='ISO-8859-1'?><stream:stream>", CondUnsupportedEncoding},
		{"declaration not first", " <?xml version='1.0'?>", CondRestrictedXML},
		{"declaration without version", "<?xml encoding='UTF-8'?><stream:stream>", CondNotWellFormed},
		{"declaration of XML 1.1", "<?xml version='1.1'?><stream:stream>", CondNotWellFormed},
		{"declaration version 0", "<?xml version='0'?><stream:stream>", CondNotWellFormed},
		{"declaration with junk", "<?xml version='1.0' foo='bar'?><stream:stream>", CondNotWellFormed},
		{"declaration unquoted", "<?xml version=1.0?><stream:stream>", CondNotWellFormed},
		{"declaration without space", "<?xml version='1.0'encoding='UTF-8'?><stream:stream>", CondNotWellFormed},
		{"declaration standalone maybe", "<?xml version='1.0' standalone='maybe'?><stream:stream>", CondNotWellFormed},
		{"doctype", "<!DOCTYPE stream>", CondRestrictedXML},
		{"empty stream", "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'/>", CondBadFormat},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readEvents(NewReader(strings.NewReader(tc.in), Limits{}))
			if se := AsStreamError(err); se == nil || se.Condition != tc.cond {
				t.Fatalf("got %v, want %s", err, tc.cond)
			}
		})
	}
}

func TestReaderErrorPosition(t *testing.T) {
	in := testHeader + "\n<message>\n  <body>&bogus;</body></message>"
	_, err := readEvents(NewReader(strings.NewReader(in), Limits{}))
	se := AsStreamError(err)
	if se == nil {
		t.Fatalf("got %v", err)
	}
	if se.Line != 3 || se.Col != 9 {
		t.Errorf("position line %d col %d, want line 3 col 9 (%v)", se.Line, se.Col, se)
	}
	if want := int64(strings.Index(in, "&bogus")); se.Offset != want {
		t.Errorf("offset %d, want %d", se.Offset, want)
	}
}

func TestReaderLimits(t *testing.T) {
	big := "<message><body>" + strings.Repeat("x", 5000) + "</body></message>"
	_, err := readEvents(NewReader(strings.NewReader(testHeader+big), Limits{MaxStanza: 1024}))
	if se := AsStreamError(err); se == nil || se.Condition != CondPolicyViolation {
		t.Fatalf("oversize stanza: %v", err)
	}
	// The same with the bytes arriving slowly: the reader must stop before holding it all.
	_, err = readEvents(NewReader(iotest.OneByteReader(strings.NewReader(testHeader+big)), Limits{MaxStanza: 1024}))
	if se := AsStreamError(err); se == nil || se.Condition != CondPolicyViolation {
		t.Fatalf("oversize stanza, one byte at a time: %v", err)
	}
	deep := strings.Repeat("<a>", 100) + strings.Repeat("</a>", 100)
	_, err = readEvents(NewReader(strings.NewReader(testHeader+deep), Limits{MaxDepth: 10}))
	if se := AsStreamError(err); se == nil || se.Condition != CondPolicyViolation {
		t.Fatalf("deep stanza: %v", err)
	}
	ok := "<message><body>" + strings.Repeat("x", 900) + "</body></message>"
	evs, err := readEvents(NewReader(strings.NewReader(testHeader+ok+ok), Limits{MaxStanza: 1024}))
	if err != nil || len(evs) != 3 {
		t.Fatalf("stanzas under the limit: %d events, %v", len(evs), err)
	}
}

// An endless stanza must not make the reader grow without bound.
func TestReaderBoundedMemory(t *testing.T) {
	src := io.MultiReader(strings.NewReader(testHeader+"<message><body>"), endless('x'))
	r := NewReader(src, Limits{MaxStanza: 64 << 10})
	_, err := readEvents(r)
	if se := AsStreamError(err); se == nil || se.Condition != CondPolicyViolation {
		t.Fatalf("got %v", err)
	}
	if c := cap(r.buf); c > 64<<10+readChunk {
		t.Errorf("buffer grew to %d bytes", c)
	}
}

type endless byte

func (e endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(e)
	}
	return len(p), nil
}

func TestReaderUnexpectedEOF(t *testing.T) {
	for _, in := range []string{testHeader + "<message><bo", "<stream:stream xmlns"} {
		_, err := readEvents(NewReader(strings.NewReader(in), Limits{}))
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%q: got %v, want io.ErrUnexpectedEOF", in, err)
		}
	}
	// EOF between stanzas is a plain end of stream.
	if _, err := readEvents(NewReader(strings.NewReader(testHeader+"<presence/>"), Limits{})); err != nil {
		t.Errorf("EOF between stanzas: %v", err)
	}
}

func TestReaderStickyError(t *testing.T) {
	r := NewReader(strings.NewReader(testHeader+"<!--x--><presence/>"), Limits{})
	r.Next()
	_, err1 := r.Next()
	_, err2 := r.Next()
	if err1 == nil || err1 != err2 {
		t.Fatalf("errors %v then %v", err1, err2)
	}
}

// After SASL success both sides restart the stream on the same connection: the new header
// may already be buffered with the success.
func TestReaderRestart(t *testing.T) {
	in := testHeader + "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>" + testHeader + "<iq type='set' id='b'/>"
	r := NewReader(strings.NewReader(in), Limits{})
	var kinds []Kind
	for {
		ev, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, ev.Kind)
		if ev.Name == "success" {
			r.Restart()
			if r.Header() != nil {
				t.Error("header still set after Restart")
			}
		}
	}
	want := []Kind{KindStreamOpen, KindStanza, KindStreamOpen, KindStanza}
	if len(kinds) != len(want) {
		t.Fatalf("kinds %v, want %v", kinds, want)
	}
}

// After STARTTLS the stream starts again on the TLS connection.
func TestReaderReset(t *testing.T) {
	r := NewReader(strings.NewReader(testHeader+"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"), Limits{})
	r.Next()
	if ev, err := r.Next(); err != nil || ev.Name != "starttls" {
		t.Fatalf("%v %v", ev, err)
	}
	before := r.Offset()
	r.Reset(strings.NewReader(testHeader + "<presence/>"))
	evs, err := readEvents(r)
	if err != nil || len(evs) != 2 || evs[1].name != "presence" {
		t.Fatalf("after reset: %v %v", evs, err)
	}
	if r.Offset() <= before {
		t.Errorf("offset went back: %d -> %d", before, r.Offset())
	}
}

func TestReaderCloseStopsReading(t *testing.T) {
	// After </stream:stream> the reader must not read more: the peer may keep the
	// connection open waiting for our closing tag.
	src := io.MultiReader(strings.NewReader(testHeader+"</stream:stream>"), blocker{})
	r := NewReader(src, Limits{})
	evs, err := readEvents(r)
	if err != nil || len(evs) != 2 || evs[1].kind != KindStreamClose {
		t.Fatalf("%v %v", evs, err)
	}
}

type blocker struct{}

func (blocker) Read([]byte) (int, error) { panic("read after the stream was closed") }

func TestFragmentReader(t *testing.T) {
	in := "<?xml version='1.0'?>\n<message to='a@b'/>\n<iq type='get' id='1'/>\n"
	evs, err := readEvents(NewFragmentReader(strings.NewReader(in), nil, Limits{}))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range evs {
		if e.kind == KindStanza {
			names = append(names, e.name+" "+e.ns)
		}
	}
	if strings.Join(names, ",") != "message jabber:client,iq jabber:client" {
		t.Errorf("stanzas %v", names)
	}
	if _, err := readEvents(NewFragmentReader(strings.NewReader("</x>"), nil, Limits{})); AsStreamError(err) == nil {
		t.Errorf("end tag in fragment: %v", err)
	}
}

func TestTopAttr(t *testing.T) {
	raw := []byte(`<message xmlns='jabber:client' to="a@b" from='c&amp;d' type = 'chat'><body to='no'/></message>`)
	for attr, want := range map[string]string{"to": "a@b", "from": "c&d", "type": "chat", "id": "", "xmlns": "jabber:client"} {
		if got := TopAttr(raw, attr); got != want {
			t.Errorf("TopAttr(%s) = %q, want %q", attr, got, want)
		}
	}
	for _, bad := range []string{"", "<", "<a b", "<a b=", "<a b='x", "nothing"} {
		_ = TopAttr([]byte(bad), "b") // must not panic
	}
}

func TestReaderRawIsExact(t *testing.T) {
	body := testHeader + "<message\n to = \"x\" >\n<body>a</body ></message >"
	var got bytes.Buffer
	r := NewReader(strings.NewReader(body), Limits{})
	for {
		ev, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got.Write(ev.Raw)
	}
	if got.String() != body {
		t.Errorf("concatenated events differ from input:\n%q\n%q", got.String(), body)
	}
}

// chunks returns its chunks one Read at a time and fails the test on a Read past them: a
// source that shows whether Next read it.
type chunks struct {
	t    *testing.T
	left []string
}

func (c *chunks) Read(p []byte) (int, error) {
	if len(c.left) == 0 {
		c.t.Fatal("the reader read its source past the chunks")
	}
	n := copy(p, c.left[0])
	c.left = c.left[1:]
	return n, nil
}

// SpaceBuffered says when Next returns whitespace without reading: go-sendxmpp's
// "<auth>...</auth>\n" arrives in one read, and the proxy forwards the "\n" before it waits
// for the server's answer.
func TestReaderSpaceBuffered(t *testing.T) {
	auth := "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYgA=</auth>"
	for _, tc := range []struct {
		name, after string // bytes buffered after the auth
		want        bool
		space       string // the whitespace event Next then returns
	}{
		{"newline", "\n", true, "\n"},
		{"before a tag", " \r\n<?xml version='1.0'?>", true, " \r\n"},
		{"nothing", "", false, ""},
		{"a tag", "<response/>", false, ""},
		{"text", "\n x", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewReader(&chunks{t: t, left: []string{testHeader, auth + tc.after}}, Limits{})
			if r.SpaceBuffered() {
				t.Fatal("space buffered before anything was read")
			}
			for _, want := range []Kind{KindStreamOpen, KindStanza} {
				if ev, err := r.Next(); err != nil || ev.Kind != want {
					t.Fatalf("Next: %v, %v; want %v", ev.Kind, err, want)
				}
			}
			if got := r.SpaceBuffered(); got != tc.want {
				t.Fatalf("SpaceBuffered after %q = %v, want %v", tc.after, got, tc.want)
			}
			if !tc.want {
				return
			}
			ev, err := r.Next()
			if err != nil || ev.Kind != KindWhitespace || string(ev.Raw) != tc.space {
				t.Fatalf("Next: %v %q, %v; want whitespace %q", ev.Kind, ev.Raw, err, tc.space)
			}
			if r.SpaceBuffered() {
				t.Error("space still buffered after Next returned it")
			}
		})
	}
}
