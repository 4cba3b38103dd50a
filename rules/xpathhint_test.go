package rules

import (
	"testing"

	"github.com/stanzascope/stanzascope/inspect"
)

func TestLiteralHint(t *testing.T) {
	cases := map[string]string{
		`contains(body, 'parrot')`:              "parrot",
		` contains( body , "par'rot" ) `:        "par'rot",
		`starts-with(@from, 'dana@')`:           "dana@",
		`contains(., 'x')`:                      "x",
		`contains(/message/body[1], 'x')`:       "x",
		`contains(r:query/r:username, 'u')`:     "u",
		`contains(body/text(), 'x')`:            "x",
		`contains(text(), 'x')`:                 "x",
		`contains(body/last(), 'x')`:            "",
		`contains(body, '')`:                    "",
		`contains(5, '5')`:                      "",
		`contains(.5, '5')`:                     "",
		`contains(-body, '5')`:                  "",
		`contains(a div b, '5')`:                "",
		`contains(a * b, '5')`:                  "",
		`contains(a=b, 'true')`:                 "",
		`contains(concat(a, b), 'x')`:           "",
		`contains(string(body), 'x')`:           "",
		`not(contains(body, 'x'))`:              "",
		`contains(body, 'x') or true()`:         "",
		`contains(body[@a='1'], 'x')`:           "",
		`contains(translate(., 'A', 'a'), 'a')`: "",
	}
	for expr, want := range cases {
		if got := literalHint(expr); got != want {
			t.Errorf("literalHint(%q) = %q, want %q", expr, got, want)
		}
	}
}

// TestLiteralHintSound checks that the hint never changes a result: for every expression
// with a hint and every stanza, skipping on the hint agrees with the full evaluation.
func TestLiteralHintSound(t *testing.T) {
	stanzas := []string{
		`<message><body>par<b>rot</b></body></message>`,
		`<message><body>a parrot</body></message>`,
		`<message to='parrot@x'><body>no</body></message>`,
		`<message><x y='parrot'/><body/></message>`,
		`<message><body>p&amp;arrot</body><body>parrot</body></message>`,
		`<message><body><![CDATA[parrot]]></body></message>`,
		`<message>parrot<body>x</body></message>`,
		`<message/>`,
	}
	exprs := []string{
		`contains(body, 'parrot')`, `contains(., 'parrot')`, `contains(/message, 'parrot')`,
		`contains(@to, 'parrot')`, `contains(x/@y, 'parrot')`, `starts-with(body, 'par')`,
		`contains(body[2], 'parrot')`, `contains(body/text(), 'par')`, `contains(.., 'parrot')`,
		`contains(body, 'p&arrot')`, `starts-with(x/@y, 'parrot')`,
	}
	for _, expr := range exprs {
		lit := literalHint(expr)
		if lit == "" {
			t.Fatalf("no hint for %q", expr)
		}
		x, err := compileXPath(expr, map[string]string{"xml": inspect.NSXML})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range stanzas {
			el := record(t, s)
			tree, err := el.Element()
			if err != nil {
				t.Fatal(err)
			}
			full := evalBool(x, newNavigator(tree))
			if full && !mayContain(tree, lit) {
				t.Errorf("%s on %s: true, but the hint %q says it cannot be", expr, s, lit)
			}
			if text, ok := rawText(el.Raw); ok && full && !rawMayContain(el.Raw, text, lit) {
				t.Errorf("%s on %s: true, but the raw hint %q says it cannot be", expr, s, lit)
			}
		}
	}
}

func TestRawText(t *testing.T) {
	cases := []struct {
		raw, text string
		ok        bool
	}{
		{`<message to='a>b' x="'"><body>par<b/>rot</body> tail</message>`, "parrot tail", true},
		{`<message/>`, "", true},
		{"<message><body>a\r\nb</body></message>", "", false},
		{`<message><body>a &amp; b</body></message>`, "", false},
		{`<message><body><![CDATA[x]]></body></message>`, "", false},
	}
	for _, c := range cases {
		text, ok := rawText([]byte(c.raw))
		if text != c.text || ok != c.ok {
			t.Errorf("rawText(%s) = %q %v, want %q %v", c.raw, text, ok, c.text, c.ok)
		}
	}
}
