package inspect

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

const fuzzHeader = `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`

var fuzzSeeds = []string{
	"<message to='a@b' type='chat'><body>hi &amp; bye</body></message>",
	"<iq type='get' id='1'><query xmlns='jabber:iq:roster'/></iq> <presence/>",
	"<a><![CDATA[x]]></a>",
	"<a b='1' c=\"2\"/>",
	"<a><!-- c --></a>",
	"<?pi x?>",
	"<a>&ent;</a>",
	"<p:a xmlns:p='u'/>",
	"<a></b>",
	"<a b='<'/>",
	"<a>\xff</a>",
	"text",
	"</stream:stream>",
	"<a>&#x10FFFF;&#0;</a>",
	// Beyond the pairwise duplicate check and the prefix index threshold.
	"<a b0='' b1='' b2='' b3='' b4='' b5='' b6='' b7='' b8='' b9='' b3=''/>",
	"<p0:a xmlns:p0='u' xmlns:p1='u' xmlns:p2='u' xmlns:p3='u' xmlns:p4='u' xmlns:p5='u' xmlns:p6='u' xmlns:p7='u' xmlns:p8='u'><b xmlns:p3='v'><p3:c/></b><p3:d/><p9:e/></p0:a>",
	// Namespace constraints: near misses of the violations in nsViolations.
	"<a xmlns:xml='http://www.w3.org/XML/1998/namespace' xml:lang='en'/>",
	"<a xmlns:a='urn:x' xmlns:b='urn:y' a:x='' b:x=''/>",
	"<a xmlns:a='urn:x'><b xmlns:a='urn:y' xmlns:c='urn:x' a:z='' c:z=''/></a>",
	// Restarts: a new header after SASL success or the client's auth, with and without an
	// XML declaration, and where none may come.
	"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>\n<?xml version='1.0'?>\n<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'><a/></stream:stream>",
	"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/><s:stream xmlns='jabber:client' xmlns:s='http://etherx.jabber.org/streams'><a/>",
	"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><stream xmlns='http://etherx.jabber.org/streams'><a/>",
	"<a/><stream:stream xmlns:stream='http://etherx.jabber.org/streams'>",
}

// FuzzReader checks that the reader never panics, that the events it returns cover the
// input exactly, and that it agrees with encoding/xml: whatever the reader accepts as
// stanzas, encoding/xml also accepts, with the same boundaries, and an independent check
// of the namespace constraints finds nothing wrong. A restart starts a new document, so
// each stream (from one header to the next) is checked on its own.
func FuzzReader(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	for _, tc := range nsViolations {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := append([]byte(fuzzHeader), data...)
		var got bytes.Buffer
		var streams []*fuzzStream
		r := NewReader(iotest.HalfReader(bytes.NewReader(in)), Limits{MaxStanza: 4096, MaxDepth: 32})
		for {
			ev, err := r.Next()
			if err != nil {
				break
			}
			if ev.Offset != int64(got.Len()) {
				t.Fatalf("event at offset %d, expected %d", ev.Offset, got.Len())
			}
			got.Write(ev.Raw)
			switch ev.Kind {
			case KindStreamOpen:
				streams = append(streams, &fuzzStream{start: ev.Offset, prefix: ev.Header.Prefix})
			case KindStanza:
				st := streams[len(streams)-1]
				st.stanzas = append(st.stanzas, [2]int64{ev.Offset - st.start, ev.Offset - st.start + int64(len(ev.Raw))})
				if _, err := ParseElement(ev.Raw, ev.Header); err != nil {
					t.Fatalf("stanza %q accepted by the reader but not by ParseElement: %v", ev.Raw, err)
				}
			case KindStreamClose:
				streams[len(streams)-1].closed = true
			}
		}
		if !bytes.HasPrefix(in, got.Bytes()) {
			t.Fatalf("events do not reproduce the input")
		}
		// Every event the reader handed out was accepted, even when an error followed.
		checkStreams(t, got.Bytes(), streams, true)
	})
}

// checkStreams compares each stream the reader read (up to its last event) with what
// encoding/xml makes of it. strict: the reader enforced, so encoding/xml and the namespace
// reference must accept; otherwise streams that encoding/xml refuses are skipped.
func checkStreams(t *testing.T, all []byte, streams []*fuzzStream, strict bool) {
	t.Helper()
	for k, st := range streams {
		end := int64(len(all))
		if k+1 < len(streams) {
			end = streams[k+1].start
		}
		doc := all[st.start:end]
		if !st.closed {
			close := "</stream>"
			if st.prefix != "" {
				close = "</" + st.prefix + ":stream>"
			}
			doc = append(append([]byte(nil), doc...), close...)
		}
		theirs, xerr := xmlStanzas(doc, true)
		if xerr != nil {
			if !strict {
				continue
			}
			t.Fatalf("reader accepted %q, encoding/xml: %v", doc, xerr)
		}
		if err := nsWellFormed(doc, true); err != nil && strict {
			t.Fatalf("reader accepted %q, which is not namespace-well-formed: %v", doc, err)
		}
		if !slices.Equal(theirs, st.stanzas) {
			t.Fatalf("stanza boundaries in %q: ours %v, encoding/xml %v", doc, st.stanzas, theirs)
		}
	}
}

// fuzzRead reads in with lim and returns the events, the streams for checkStreams, and
// the error that ended reading (nil at EOF).
func fuzzRead(t *testing.T, in []byte, lim Limits) ([]*Record, []*fuzzStream, error) {
	var recs []*Record
	var streams []*fuzzStream
	var off int64
	r := NewReader(iotest.HalfReader(bytes.NewReader(in)), lim)
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			return recs, streams, nil
		}
		if err != nil {
			return recs, streams, err
		}
		if ev.Offset != off {
			t.Fatalf("event at offset %d, expected %d", ev.Offset, off)
		}
		off += int64(len(ev.Raw))
		for _, v := range ev.Violations {
			if v.Offset < ev.Offset || v.Offset > off || v.Section == "" {
				t.Fatalf("violation %+v outside its event [%d, %d)", v, ev.Offset, off)
			}
		}
		recs = append(recs, ev.Record())
		switch ev.Kind {
		case KindStreamOpen:
			streams = append(streams, &fuzzStream{start: ev.Offset, prefix: ev.Header.Prefix})
		case KindStanza:
			st := streams[len(streams)-1]
			st.stanzas = append(st.stanzas, [2]int64{ev.Offset - st.start, off - st.start})
			_, _ = ParseElement(ev.Raw, ev.Header) // must not panic
		case KindStreamClose:
			streams[len(streams)-1].closed = true
		}
	}
}

// FuzzReaderAnnotate checks annotate mode against enforce mode and encoding/xml: the
// events cover the input; where enforce mode reads without a violation, annotate mode
// gives the same events and records nothing; where enforce mode stops at a violation,
// annotate mode records that violation first (or stops at it, when it cannot frame past
// it); and stanza boundaries agree with encoding/xml wherever it accepts the stream.
func FuzzReaderAnnotate(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	for _, tc := range violationCases {
		f.Add([]byte(tc.in + "<presence/>"))
	}
	for _, tc := range nsViolations {
		f.Add([]byte(tc.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := append([]byte(fuzzHeader), data...)
		lim := Limits{MaxStanza: 4096, MaxDepth: 32}
		erecs, _, eerr := fuzzRead(t, in, lim)
		lim.Annotate = true
		arecs, streams, aerr := fuzzRead(t, in, lim)
		var all []byte
		var first *Violation
		for _, r := range arecs {
			all = append(all, r.Raw...)
			if len(r.Violations()) > 0 && first == nil {
				first = &r.Violations()[0]
			}
		}
		if !bytes.HasPrefix(in, all) {
			t.Fatalf("annotate: events do not reproduce the input")
		}
		if se := AsStreamError(eerr); se != nil {
			want := Violation(*se)
			switch {
			case first != nil:
				if *first != want {
					t.Fatalf("annotate recorded %+v first, enforce stopped at %+v", *first, want)
				}
			case want.Offset >= int64(len(all)) && aerr != nil:
				// The violation is in an event that never completed (the input ended or
				// something unframable followed): there is no event to record it on.
			default:
				t.Fatalf("annotate read on without a violation (%v), enforce stopped at %+v", aerr, want)
			}
		}
		if first == nil {
			// Nothing to annotate: the same events as enforce mode, up to where it stopped.
			n := min(len(erecs), len(arecs))
			for k := range n {
				if erecs[k].Kind != arecs[k].Kind || !bytes.Equal(erecs[k].Raw, arecs[k].Raw) {
					t.Fatalf("event %d: enforce %v %q, annotate %v %q", k, erecs[k].Kind, erecs[k].Raw, arecs[k].Kind, arecs[k].Raw)
				}
			}
			if eerr == nil && (aerr != nil || len(arecs) != len(erecs)) {
				t.Fatalf("enforce read all (%d events), annotate %d events, %v", len(erecs), len(arecs), aerr)
			}
		}
		checkStreams(t, all, streams, false)
	})
}

// fuzzStream is one stream read by FuzzReader: where its header starts, the prefix of its
// close tag, and its stanzas' byte ranges from its start.
type fuzzStream struct {
	start   int64
	prefix  string
	closed  bool
	stanzas [][2]int64
}

// xmlStanzas returns the byte ranges of the depth-1 elements of a stream according to
// encoding/xml.
func xmlStanzas(in []byte, closed bool) ([][2]int64, error) {
	if !closed {
		in = append(append([]byte(nil), in...), "</stream:stream>"...)
	}
	d := xml.NewDecoder(bytes.NewReader(in))
	d.Strict = true
	var out [][2]int64
	depth := 0
	var start int64
	for {
		before := d.InputOffset()
		tok, err := d.Token()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 2 {
				start = before
			}
		case xml.EndElement:
			if depth == 2 {
				out = append(out, [2]int64{start, d.InputOffset()})
			}
			depth--
		}
	}
}

// nsWellFormed checks the constraints of Namespaces in XML 1.0 over encoding/xml's raw
// tokens, independently of the reader: reserved prefixes and namespace names (§3), no
// prefix undeclared (§3), declared prefixes (§4), at most one colon in a name (§4), and
// attributes unique by namespace and local name (§6.3). It returns nil for input that
// encoding/xml cannot tokenize: that is xmlStanzas's business.
func nsWellFormed(in []byte, closed bool) error {
	if !closed {
		in = append(append([]byte(nil), in...), "</stream:stream>"...)
	}
	d := xml.NewDecoder(bytes.NewReader(in))
	d.Strict = true
	stack := []map[string]string{{"xml": NSXML}}
	resolve := func(p string) (string, bool) {
		for k := len(stack) - 1; k >= 0; k-- {
			if v, ok := stack[k][p]; ok {
				return v, v != ""
			}
		}
		return "", false
	}
	for {
		tok, err := d.RawToken()
		if err != nil {
			return nil
		}
		switch t := tok.(type) {
		case xml.StartElement:
			sc := map[string]string{}
			for _, a := range t.Attr {
				switch {
				case a.Name.Space == "" && a.Name.Local == "xmlns":
					if a.Value == NSXML || a.Value == NSXMLNS {
						return fmt.Errorf("%s as the default namespace", a.Value)
					}
				case a.Name.Space == "xmlns":
					p, v := a.Name.Local, a.Value
					switch {
					case p == "xmlns", v == NSXMLNS:
						return fmt.Errorf("xmlns declared: %s=%q", p, v)
					case (p == "xml") != (v == NSXML):
						return fmt.Errorf("xml prefix or namespace misbound: %s=%q", p, v)
					case v == "":
						return fmt.Errorf("prefix %s undeclared", p)
					}
					sc[p] = v
				}
			}
			stack = append(stack, sc)
			names := []xml.Name{t.Name}
			for _, a := range t.Attr {
				names = append(names, a.Name)
			}
			for _, n := range names {
				if strings.Contains(n.Local, ":") || strings.Contains(n.Space, ":") {
					return fmt.Errorf("%s:%s is not a qualified name", n.Space, n.Local)
				}
			}
			if t.Name.Space == "xmlns" {
				return errors.New("element with the xmlns prefix")
			}
			if _, ok := resolve(t.Name.Space); t.Name.Space != "" && !ok {
				return fmt.Errorf("element prefix %s undeclared", t.Name.Space)
			}
			seen := map[[2]string]bool{}
			for _, a := range t.Attr {
				if a.Name.Space == "" || a.Name.Space == "xmlns" {
					continue
				}
				ns, ok := resolve(a.Name.Space)
				if !ok {
					return fmt.Errorf("attribute prefix %s undeclared", a.Name.Space)
				}
				k := [2]string{ns, a.Name.Local}
				if seen[k] {
					return fmt.Errorf("attribute {%s}%s twice", ns, a.Name.Local)
				}
				seen[k] = true
			}
		case xml.EndElement:
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
		}
	}
}

// TestNSWellFormedReference checks the reference checker on the reader's own cases, so a
// differential failure means the reader is wrong, not the reference.
func TestNSWellFormedReference(t *testing.T) {
	for _, tc := range nsViolations {
		if _, err := xmlStanzas([]byte(nsHeader+tc.in), false); err != nil {
			continue // encoding/xml does not tokenize it (a:b:c): the reference cannot judge
		}
		if err := nsWellFormed([]byte(nsHeader+tc.in), false); err == nil {
			t.Errorf("%s: the reference accepts %s", tc.name, tc.in)
		}
	}
	if err := nsWellFormed([]byte(nsHeader+"<message xml:lang='en' xmlns:a='urn:a' a:x='' x=''/>"), false); err != nil {
		t.Error(err)
	}
}

// FuzzParseJID checks that ParseJID never panics and that its output is stable.
func FuzzParseJID(f *testing.F) {
	for _, s := range []string{"a@b/c", "example.com", "[::1]", "A@B.C/D", "@", "/", "a@b@c", "ñ@ü/Ω", "x@127.0.0.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		j, err := ParseJID(s)
		if err != nil {
			return
		}
		j2, err := ParseJID(j.String())
		if err != nil {
			t.Fatalf("normalised %q does not parse: %v", j, err)
		}
		if j2 != j {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, j, j2)
		}
	})
}

// FuzzJIDFastPath checks that the ASCII fast path of ParseJID gives exactly what the full
// PRECIS/IDNA path gives, for every input the fast path accepts.
func FuzzJIDFastPath(f *testing.F) {
	for _, s := range []string{"alice@localhost/phone", "a-b@x.example", "x@1.2.3.4", "u@xn--bcher-kva.example", "u@-a.b", "u@a/b c", "juliet@example.com/balcony!", "A@b", "a@b.", "0@0.0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fast, ok := parseASCIIJID(s)
		if !ok {
			return
		}
		slow, err := parseJID(s)
		if err != nil {
			t.Fatalf("fast path accepted %q, full path: %v", s, err)
		}
		if fast != slow {
			t.Fatalf("%q: fast path %#v, full path %#v", s, fast, slow)
		}
	})
}
