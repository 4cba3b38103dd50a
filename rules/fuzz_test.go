package rules

import (
	"errors"
	"strings"
	"testing"

	"github.com/stanzascope/stanzascope/inspect"
)

// FuzzParse feeds arbitrary bytes to the rule-file parser: it must return rules or a
// *FileErrors with positions, never panic or hang; rules it accepts must be usable.
func FuzzParse(f *testing.F) {
	f.Add([]byte("rules:\n  - name: a\n    when: {element: iq, type: set}\n    do: [drop]\n"))
	f.Add([]byte("namespaces: {r: \"jabber:iq:register\"}\nrules:\n  - when: {xpath: \"r:query\"}\n    do: [{reject: {condition: not-allowed}}]\n"))
	f.Add([]byte("rules:\n  - do: [{replace: \"<message to='{{.From}}'/>\"}, {inject: {to: client, xml: \"<a/>\"}}]\n"))
	f.Add([]byte("rules: [\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := Parse("fuzz.yaml", data)
		if err != nil {
			var fe *FileErrors
			if !errors.As(err, &fe) || len(fe.Problems) == 0 {
				t.Fatalf("error without problems: %v", err)
			}
			return
		}
		e, err := New(rs)
		if err != nil {
			return // duplicate names are reported by New
		}
		for _, raw := range []string{`<message type='chat' to='a@b'><body>x</body></message>`, `<presence/>`, `<iq type='get' id='1'><query xmlns='jabber:iq:roster'/></iq>`} {
			e.Apply(c2s(t, raw))
			e.Apply(s2c(t, raw))
		}
	})
}

// FuzzJIDPattern checks that any pattern either fails to parse or matches any address
// without panicking, and that a pattern of a plain address matches that address.
func FuzzJIDPattern(f *testing.F) {
	f.Add("*@localhost", "alice@localhost/phone")
	f.Add("a*e@*.example.org/*", "alice@chat.example.org/x")
	f.Add("localhost", "localhost")
	f.Add("**a**b**", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab")
	f.Fuzz(func(t *testing.T, pattern, jid string) {
		p, err := parseJIDPattern(pattern)
		if err != nil {
			return
		}
		p.match(jid)
		if !strings.Contains(pattern, "*") && !strings.HasSuffix(pattern, ".") && p.match(pattern) != true {
			t.Fatalf("pattern %q does not match itself", pattern)
		}
	})
}

// fuzzRules exercises every kind of condition and action on arbitrary stanza bytes.
const fuzzRules = `namespaces: {r: "jabber:iq:register", x: "jabber:x:event"}
rules:
  - name: tag
    when: {from: "*@*", xpath: "count(//*) > 1 or contains(., 'a')"}
    do: [{tag: t}, continue]
  - name: rewrite
    when: {element: message}
    do:
      - {replace-text: {xpath: "//text() | //@*", regexp: "a+", with: "<$0>"}}
      - {set-attr: {xpath: "//*", name: seen, value: "1"}}
      - {remove: "x:x | @id"}
      - {insert: {xpath: "*[1]", xml: "<z id='{{.ID}}'>{{.XPath \"string(body)\"}}</z>"}}
      - continue
  - name: iq
    when: {element: iq, namespace: "jabber:iq:register"}
    do: [{reject: {condition: not-allowed, text: "no"}}]
  - name: presence
    when: {element: presence}
    do: [{replace: "<presence to='{{.From}}' id='{{.ID}}'/>"}, {inject: {to: client, xml: "<message to='{{.To}}'/>"}}]
`

// FuzzApply runs a rule set on arbitrary bytes presented as a stanza: whatever the bytes,
// Apply must not panic, and anything it produces must be well-formed.
func FuzzApply(f *testing.F) {
	f.Add("message", []byte(`<message from='a@b/c' id='1'><body>aaa</body><x xmlns='jabber:x:event'/></message>`))
	f.Add("iq", []byte(`<iq type='set' id='r'><query xmlns='jabber:iq:register'/></iq>`))
	f.Add("presence", []byte(`<presence from='a&amp;b@c' id='&lt;'/>`))
	f.Add("message", []byte(`<message><body>a<b/>a</body>`))
	f.Add("message", []byte(`<message xmlns:p='urn:p'><p:q p:a='a'>a</p:q></message>`))
	rs, err := Parse("fuzz.yaml", []byte(fuzzRules))
	if err != nil {
		f.Fatal(err)
	}
	e, err := New(rs)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, name string, raw []byte) {
		// Records come from the stream reader, which refuses what is not well-formed; the
		// tree parser trusts that. Model it with the same check used for rule-file XML.
		if len(raw) > 4096 || checkXML(string(raw)) != nil {
			return
		}
		rec := &inspect.Record{Kind: inspect.KindStanza, Name: name, Raw: raw}
		out := e.Apply(Input{Dir: inspect.ClientToServer, Record: rec})
		for _, b := range append([][]byte{out.Replaced}, injRaw(out)...) {
			if b == nil {
				continue
			}
			if err := checkXML(string(b)); err != nil {
				t.Fatalf("not well-formed: %s: %v", b, err)
			}
		}
	})
}

// FuzzLiteralHint checks on arbitrary stanzas that the literal hint never rejects a
// stanza the full XPath evaluation accepts.
func FuzzLiteralHint(f *testing.F) {
	f.Add([]byte(`<message><body>par<b>rot</b></body></message>`), "parrot")
	f.Add([]byte(`<message to='a@b'><body>p&amp;q</body></message>`), "p&q")
	f.Fuzz(func(t *testing.T, raw []byte, lit string) {
		if lit == "" || strings.ContainsAny(lit, `'"`) || len(raw) > 4096 || checkXML(string(raw)) != nil {
			return
		}
		tree, err := inspect.ParseElement(raw, nil)
		if err != nil {
			return
		}
		text, rawOK := rawText(raw)
		if rawOK && text != stringValue(tree) {
			t.Fatalf("rawText %q differs from the string-value %q of %s", text, stringValue(tree), raw)
		}
		for _, path := range []string{"body", ".", "..", "*/@id", "body/text()", "text()", "/message/body", "@to", "body[2]", "x/y/@z"} {
			expr := "contains(" + path + ", '" + lit + "')"
			x, err := compileXPath(expr, map[string]string{"xml": inspect.NSXML})
			if err != nil {
				continue
			}
			if literalHint(expr) == lit && evalBool(x, newNavigator(tree)) {
				if !mayContain(tree, lit) {
					t.Fatalf("%s is true on %s but the hint rejects it", expr, raw)
				}
				if rawOK && !rawMayContain(raw, text, lit) {
					t.Fatalf("%s is true on %s but the raw hint rejects it", expr, raw)
				}
			}
		}
	})
}

// checkXML reports whether s is one element the stream reader accepts.
func checkXML(s string) error {
	_, err := inspect.ParseFragment(s)
	return err
}
