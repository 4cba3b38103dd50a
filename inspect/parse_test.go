package inspect

import (
	"strings"
	"testing"
)

func TestParseElement(t *testing.T) {
	raw := []byte(`<message to='dana@localhost' type='chat' xml:lang='en'><body>What&apos;s <![CDATA[<wrong>]]> &#x263A;</body>` +
		`<x xmlns='jabber:x:event'><composing/></x><p:y xmlns:p='urn:p' p:a='1' b='&lt;'/><stream:error/></message>`)
	el, err := ParseElement(raw, nil)
	if err != nil {
		t.Fatal(err)
	}
	if el.Local != "message" || el.Space != NSClient || el.Attr("to") != "dana@localhost" {
		t.Fatalf("top: %+v", el)
	}
	if v, ok := el.LookupAttr(NSXML, "lang"); !ok || v != "en" {
		t.Errorf("xml:lang = %q %v", v, ok)
	}
	if got := el.Child(NSClient, "body").Text(); got != "What's <wrong> ☺" {
		t.Errorf("body text %q", got)
	}
	x := el.Child("jabber:x:event", "x")
	if x == nil || x.Child("jabber:x:event", "composing") == nil {
		t.Errorf("event extension not found: %v", x)
	}
	y := el.Child("urn:p", "y")
	if y == nil || y.Prefix != "p" {
		t.Fatalf("prefixed child: %v", y)
	}
	if v, _ := y.LookupAttr("urn:p", "a"); v != "1" || y.Attr("b") != "<" {
		t.Errorf("attributes %+v", y.Attrs)
	}
	if se := el.Child(NSStreams, "error"); se == nil {
		t.Error("stream prefix from the context not resolved")
	}
}

func TestParseElementErrors(t *testing.T) {
	for _, bad := range []string{"", "x", "<", "<a", "<a>", "<a></b>", "<a b></a>", "<a b='1></a>", "<p:a/>", "<a/>x", "<a><![CDATA[x</a>", "<a><!-- x</a>", "<a><?pi x</a>", "<a><!DOCTYPE x></a>"} {
		if _, err := ParseElement([]byte(bad), nil); err == nil {
			t.Errorf("ParseElement(%q) succeeded", bad)
		}
	}
}

// What a reader in annotate mode lets through still makes a tree: comments and processing
// instructions are left out, references that resolve to nothing stay as written.
func TestParseElementLenient(t *testing.T) {
	for in, want := range map[string]string{
		"<a>x<!-- c -->y</a>":        "xy",
		"<a><?pi data?>x</a>":        "x",
		"<a>&bogus; &amp;</a>":       "&bogus; &",
		"<a>&#0;</a>":                "&#0;",
		"<iq>a & b</iq>":             "a & b",
		"<a><b/><!-- -- --><c/></a>": "",
	} {
		el, err := ParseElement([]byte(in), nil)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if got := el.Text(); got != want {
			t.Errorf("%s: text %q, want %q", in, got, want)
		}
	}
	el, err := ParseElement([]byte("<iq b='&' c='&nbsp;'/>"), nil)
	if err != nil || el.Attr("b") != "&" || el.Attr("c") != "&nbsp;" {
		t.Errorf("attributes: %v %v", el, err)
	}
}

// Serialising a parsed tree and parsing it again gives the same tree.
func TestMarshalRoundTrip(t *testing.T) {
	cases := []string{
		`<message to='a@b' type='chat'><body>x &amp; y &lt; z ' "</body></message>`,
		`<iq type='result' id='1'><query xmlns='jabber:iq:roster'><item jid='a@b' name='A &apos;B&apos;'><group>G</group></item></query></iq>`,
		`<p:x xmlns:p='urn:p' xmlns:q='urn:q' q:a='1'><p:y/><z xmlns='urn:z'><w/></z></p:x>`,
		`<presence xml:lang='de'><status>tab&#9;nl&#10;cr&#13;</status></presence>`,
	}
	for _, c := range cases {
		el, err := ParseFragment(c)
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		out := el.AppendXML(nil, NSClient)
		el2, err := ParseElement(out, nil)
		if err != nil {
			t.Fatalf("re-parse %s: %v", out, err)
		}
		if a, b := el.String(), el2.String(); a != b {
			t.Errorf("round trip differs:\n%s\n%s", a, b)
		}
	}
}

func TestMarshalEscapes(t *testing.T) {
	el := NewElement(NSClient, "message").SetAttr("to", `a'b"c<d&`)
	el.Append(NewElement(NSClient, "body").AppendText("What's <this> & \x01 that\r"))
	got := string(el.AppendXML(nil, NSClient))
	want := `<message to='a&apos;b&quot;c&lt;d&amp;'><body>What's &lt;this&gt; &amp; ` + "\uFFFD" + ` that&#xD;</body></message>`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if _, err := ParseFragment(got); err != nil {
		t.Errorf("output does not parse: %v", err)
	}
	if s := NewElement("urn:x", "a").String(); s != "<a xmlns='urn:x'/>" {
		t.Errorf("namespace declaration: %s", s)
	}
}

func TestParseFragmentChecks(t *testing.T) {
	for _, bad := range []string{"<a><!--x--></a>", "<a>&ent;</a>", "<a/><b/>", "   ", "<a>"} {
		if _, err := ParseFragment(bad); err == nil {
			t.Errorf("ParseFragment(%q) succeeded", bad)
		}
	}
	if _, err := ParseFragment(strings.Repeat("<a>", 100) + strings.Repeat("</a>", 100)); err == nil {
		t.Error("deep fragment accepted")
	}
}
