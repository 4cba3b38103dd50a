package inspect

import (
	"bytes"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

// violationCases are stanzas that break a rule the reader frames past in annotate mode.
// Each is read after testHeader (or nsHeader for the namespace cases), followed by a
// presence that must come out clean.
var violationCases = []struct {
	name, in string
	cond     Cond
}{
	{"comment in a stanza", "<message><!-- hi --><body>x</body></message>", CondRestrictedXML},
	{"comment split across reads", "<message><body>a<!-- - -> -- --></body></message>", CondRestrictedXML},
	{"processing instruction in a stanza", "<message><?foo bar?></message>", CondRestrictedXML},
	{"XML declaration in a stanza", "<message><?xml version='1.0'?></message>", CondRestrictedXML},
	{"entity", "<message><body>&nbsp;</body></message>", CondRestrictedXML},
	{"entity in an attribute", "<message to='&foo;'/>", CondRestrictedXML},
	{"bad character reference", "<message><body>&#0;</body></message>", CondNotWellFormed},
	{"bare ampersand", "<iq type='get' id='1'>fish & chips</iq>", CondNotWellFormed},
	{"ampersand in an attribute", "<iq id='a&b' type='get'/>", CondNotWellFormed},
	{"control character in text", "<message><body>\x01</body></message>", CondNotWellFormed},
	{"control character in an attribute", "<message id='\x02'/>", CondNotWellFormed},
	{"control character in CDATA", "<message><body><![CDATA[\x03]]></body></message>", CondNotWellFormed},
	{"noncharacter", "<message><body>\uFFFE</body></message>", CondNotWellFormed},
	{"]]> in text", "<message><body>a]]>b</body></message>", CondNotWellFormed},
	{"duplicate attribute", "<message to='a' to='b'/>", CondNotWellFormed},
	{"bad name character", "<message><x\u00D7/></message>", CondNotWellFormed},
	{"header where a stanza was expected", "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>", CondBadFormat},
}

// readAll reads every event of in with lim; it returns the events' bytes joined, the
// violations by event, and the error that ended the stream (nil at EOF).
func readAll(t *testing.T, in string, lim Limits, oneByte bool) (string, [][]Violation, []Kind, error) {
	t.Helper()
	var src io.Reader = strings.NewReader(in)
	if oneByte {
		src = iotest.OneByteReader(src)
	}
	r := NewReader(src, lim)
	var raw bytes.Buffer
	var viols [][]Violation
	var kinds []Kind
	for {
		ev, err := r.Next()
		if err == io.EOF {
			return raw.String(), viols, kinds, nil
		}
		if err != nil {
			return raw.String(), viols, kinds, err
		}
		raw.Write(ev.Raw)
		rec := ev.Record()
		if !bytes.Equal(rec.Raw, ev.Raw) || len(rec.Violations()) != len(ev.Violations) {
			t.Fatalf("record of %v differs from the event", ev.Kind)
		}
		viols = append(viols, rec.Violations())
		kinds = append(kinds, ev.Kind)
	}
}

func TestReaderAnnotate(t *testing.T) {
	type tcase struct {
		name, hdr, in string
		cond          Cond
	}
	var cases []tcase
	for _, c := range violationCases {
		cases = append(cases, tcase{c.name, testHeader, c.in, c.cond})
	}
	for _, c := range nsViolations {
		cases = append(cases, tcase{"namespaces: " + c.name, nsHeader, c.in, CondNotWellFormed})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.hdr + tc.in + "<presence/>"
			for _, one := range []bool{false, true} {
				_, _, _, eerr := readAll(t, in, Limits{}, one)
				se := AsStreamError(eerr)
				if se == nil || se.Condition != tc.cond {
					t.Fatalf("enforce, one byte %v: %v, want %s", one, eerr, tc.cond)
				}
				raw, viols, kinds, err := readAll(t, in, Limits{Annotate: true}, one)
				if err != nil {
					t.Fatalf("annotate, one byte %v: %v", one, err)
				}
				if raw != in {
					t.Fatalf("annotate: the events give\n%q\nnot\n%q", raw, in)
				}
				// The event of the violation carries it first, as enforce mode reports it.
				var first *Violation
				for k, vs := range viols {
					if len(vs) > 0 && first == nil {
						first = &viols[k][0]
					}
				}
				if first == nil {
					t.Fatalf("annotate: no violation recorded (%v)", kinds)
				}
				if *first != Violation(*se) {
					t.Errorf("annotate recorded %+v, enforce reported %+v", *first, *se)
				}
				if first.Section == "" || first.Line < 1 || first.Col < 1 {
					t.Errorf("violation without section or position: %+v", first)
				}
				if last := viols[len(viols)-1]; kinds[len(kinds)-1] != KindStanza || len(last) != 0 {
					t.Errorf("the presence after it: %v %v", kinds[len(kinds)-1], last)
				}
			}
		})
	}
}

// Violations before the header go on the header's event.
func TestReaderAnnotateHeader(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		cond     Cond
	}{
		{"XML declaration after whitespace", "\n <?xml version='1.0'?>" + newHeader, CondRestrictedXML},
		{"XML 1.1 declaration", "<?xml version='1.1'?>" + newHeader, CondNotWellFormed},
		{"stream in another namespace", "<stream:stream xmlns='jabber:client' xmlns:stream='urn:wrong'>", CondInvalidNamespace},
		{"xml prefix rebound on the header", "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' xmlns:xml='urn:x'>", CondNotWellFormed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in + "<presence/>"
			_, _, _, eerr := readAll(t, in, Limits{}, false)
			if se := AsStreamError(eerr); se == nil || se.Condition != tc.cond {
				t.Fatalf("enforce: %v, want %s", eerr, tc.cond)
			}
			raw, viols, kinds, err := readAll(t, in, Limits{Annotate: true}, false)
			if err != nil || raw != in || len(kinds) != 2 || kinds[0] != KindStreamOpen {
				t.Fatalf("annotate: %v %v %q", kinds, err, raw)
			}
			if len(viols[0]) == 0 || viols[0][0].Condition != tc.cond {
				t.Fatalf("header violations %+v, want %s", viols[0], tc.cond)
			}
		})
	}
}

// What the reader cannot frame, and the resource limits, end the stream in annotate mode.
func TestReaderAnnotateFatal(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		cond     Cond
		lim      Limits
	}{
		{"comment between stanzas", "<!-- hi --><presence/>", CondRestrictedXML, Limits{}},
		{"processing instruction between stanzas", "<?foo?><presence/>", CondRestrictedXML, Limits{}},
		{"DTD", "<!DOCTYPE x [<!ENTITY e 'x'>]>", CondRestrictedXML, Limits{}},
		{"markup declaration in a stanza", "<message><!ENTITY e 'x'></message>", CondRestrictedXML, Limits{}},
		{"text between stanzas", "hello", CondNotWellFormed, Limits{}},
		{"mismatched end tag", "<message></iq>", CondNotWellFormed, Limits{}},
		{"unquoted attribute", "<message to=a/>", CondNotWellFormed, Limits{}},
		{"invalid UTF-8", "<message><body>\xff</body></message>", CondUnsupportedEncoding, Limits{}},
		{"oversize stanza", "<message><body>" + strings.Repeat("x", 2000) + "</body></message>", CondPolicyViolation, Limits{MaxStanza: 1024}},
		{"too deep", strings.Repeat("<a>", 70), CondPolicyViolation, Limits{}},
		{"too many attributes", "<message" + attrs(65, "a%d='%d'") + "/>", CondPolicyViolation, Limits{}},
		{"too many prefixes", "<message" + attrs(33, "xmlns:p%d='u%d'") + "/>", CondPolicyViolation, Limits{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lim := tc.lim
			lim.Annotate = true
			_, _, _, err := readAll(t, testHeader+tc.in, lim, false)
			if se := AsStreamError(err); se == nil || se.Condition != tc.cond {
				t.Fatalf("annotate: %v, want %s", err, tc.cond)
			}
		})
	}
	// A declared encoding other than UTF-8 cannot be read.
	_, _, _, err := readAll(t, "<?xml version='1.0' encoding='UTF-16'?>"+newHeader, Limits{Annotate: true}, false)
	if se := AsStreamError(err); se == nil || se.Condition != CondUnsupportedEncoding {
		t.Fatalf("encoding: %v", err)
	}
}

// Many violations in one stanza are listed up to a bound, then counted.
func TestReaderAnnotateBound(t *testing.T) {
	in := testHeader + "<message>" + strings.Repeat("&nbsp;", 100) + "</message>"
	_, viols, _, err := readAll(t, in, Limits{Annotate: true}, false)
	if err != nil {
		t.Fatal(err)
	}
	vs := viols[1]
	if len(vs) != maxViolations+1 || !strings.Contains(vs[maxViolations].Text, "and 92 more violations") {
		t.Fatalf("%d violations, last %+v", len(vs), vs[len(vs)-1])
	}
}

// Violations are shown in every output: a line in pretty, a field in JSON that the JSON
// log reader reads back.
func TestViolationsInOutputs(t *testing.T) {
	in := testHeader + "<message><!-- hi --><body>a&nbsp;b</body></message><message xmlns:xml='urn:x'/>"
	r := NewReader(strings.NewReader(in), Limits{Annotate: true})
	var recs []*Record
	for {
		ev, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rec := ev.Record()
		rec.Dir = ClientToServer
		recs = append(recs, rec)
	}
	if len(recs) != 3 || len(recs[1].Violations()) != 2 || len(recs[2].Violations()) != 1 {
		t.Fatalf("records %+v", recs)
	}
	var js bytes.Buffer
	for _, rec := range recs {
		jr := toJSON(rec)
		want := referenceJSON(t, jr)
		got := jr.appendJSON(nil)
		if !bytes.Equal(got, want) {
			t.Fatalf("appendJSON\n got %s\nwant %s", got, want)
		}
		js.Write(got)
	}
	if !strings.Contains(js.String(), `"violations":[{"condition":"restricted-xml","text":"comments are not allowed in XMPP","section":"RFC 6120 §11.1","offset":`) {
		t.Fatalf("JSON:\n%s", js.String())
	}
	var back []*Record
	if err := ReadJSONLog(&js, SinkFunc(func(r *Record) error { back = append(back, r); return nil })); err != nil {
		t.Fatal(err)
	}
	for k := range recs {
		if !slices.Equal(back[k].Violations(), recs[k].Violations()) {
			t.Errorf("record %d read back with %+v, written with %+v", k, back[k].Violations(), recs[k].Violations())
		}
	}
	var p bytes.Buffer
	writeAll(t, NewPretty(&p, PrettyOptions{}), recs)
	for _, want := range []string{
		"C->S stanza message\n  ! restricted-xml at line 1, column 145 (offset 144): comments are not allowed in XMPP (RFC 6120 §11.1)\n  ! restricted-xml at line 1, column 163",
		"  ! not-well-formed at line 1, column 196 (offset 195): the prefix xml is bound to http://www.w3.org/XML/1998/namespace, not to \"urn:x\" (RFC 6120 §11.3, Namespaces in XML 1.0 §3)\n",
		"  <message>\n    <!-- hi -->\n    <body>a&nbsp;b</body>\n  </message>\n", // the bytes, indented: the comment and the reference as sent
	} {
		if !strings.Contains(p.String(), want) {
			t.Errorf("pretty output lacks %q:\n%s", want, p.String())
		}
	}
}
