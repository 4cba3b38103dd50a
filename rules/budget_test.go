package rules

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stanzascope/stanzascope/inspect"
)

// wideMessage is the case: a message with n children.
func wideMessage(n int) string {
	var b strings.Builder
	b.WriteString("<message to='bob@localhost' type='chat'>")
	for i := range n {
		fmt.Fprintf(&b, "<x n='%d'>v%d</x>", i, i)
	}
	b.WriteString("</message>")
	return b.String()
}

// TestXPathBudget: expressions whose cost grows with the square (or worse) of the stanza
// stop at the budget: the rule does not match, later rules still apply, the outcome and
// its tag say which rule ran out, and the work done is bounded by the budget (steps and
// the navigators the arena holds), whatever the expression.
func TestXPathBudget(t *testing.T) {
	msg := wideMessage(800)
	for _, xp := range []string{
		"count(//*/following::*) > 0",              // 2 s before the budget
		"count(//*/following::*/preceding::*) > 0", // cubic
		"count(//*[. = //*]) > 0",                  // a string-value per pair
		"not(//x[count(preceding::x) > 10000])",    // true if cut short: must not match either
		"//x[last()] and count(//*[following-sibling::*[. = 'nope']]) >= 0",
	} {
		t.Run(xp, func(t *testing.T) {
			e := engine(t, fmt.Sprintf(`rules:
  - name: heavy
    when: {element: message, xpath: %q}
    do: [drop]
  - name: after
    when: {element: message}
    do: [{tag: seen}]
`, xp))
			out := e.Apply(c2s(t, msg))
			if out.Verdict == Drop || len(out.Matched) != 1 || out.Matched[0] != "after" {
				t.Fatalf("matched %v, verdict %v", out.Matched, out.Verdict)
			}
			if len(out.OverBudget) != 1 || out.OverBudget[0] != "heavy" {
				t.Fatalf("OverBudget %v", out.OverBudget)
			}
			var tagged bool
			for _, tag := range out.Tags {
				tagged = tagged || strings.Contains(tag.Label, "xpath budget (100000 steps) exceeded: heavy")
			}
			if !tagged {
				t.Fatalf("tags %+v", out.Tags)
			}
			if c := e.Counts()[0]; c.Count != 0 || c.OverBudget != 1 {
				t.Fatalf("counts %+v", c)
			}
		})
	}
}

// TestXPathBudgetBoundsWork evaluates a cubic expression on the navigator directly: it
// spends exactly the budget and the arena holds no more navigators than the budget allows.
func TestXPathBudgetBoundsWork(t *testing.T) {
	el, err := inspect.ParseElement([]byte(wideMessage(800)), nil)
	if err != nil {
		t.Fatal(err)
	}
	x, err := compileXPath("count(//*/following::*/preceding::*)", map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	nav := newNavigator(el)
	if evalBool(x, nav) {
		t.Error("an evaluation cut short counted as true")
	}
	if !nav.overBudget() || nav.arena.left != 0 {
		t.Fatalf("over %v, left %d", nav.overBudget(), nav.arena.left)
	}
	if held := len(nav.arena.chunks) * arenaChunk; held > maxXPathSteps+arenaChunk {
		t.Fatalf("the arena holds %d navigators for a budget of %d steps", held, maxXPathSteps)
	}
}

// TestXPathBudgetOrdinary: ordinary rules on ordinary and large stanzas stay far below the
// budget, so it never changes what they do.
func TestXPathBudgetOrdinary(t *testing.T) {
	e := engine(t, `namespaces: {r: "jabber:iq:register"}
rules:
  - {name: body, when: {element: message, xpath: "contains(body, 'parrot')"}, do: [{tag: a}, continue]}
  - {name: last, when: {element: message, xpath: "//x[@n = '1999']"}, do: [{tag: b}, continue]}
  - {name: all, when: {element: message, xpath: "count(//*) > 1"}, do: [{replace-text: {xpath: "x[@n = '1999'] | body", regexp: v, with: w}}]}
`)
	for _, msg := range []string{
		"<message to='bob@localhost'><body>the parrot</body></message>",
		wideMessage(2000), // about 40 KB
	} {
		out := e.Apply(c2s(t, msg))
		if len(out.OverBudget) != 0 || len(out.Matched) == 0 {
			t.Fatalf("%.60s: matched %v, over budget %v", msg, out.Matched, out.OverBudget)
		}
	}
}

// TestXPathBudgetInActions: an action whose XPath runs out of budget changes nothing, and
// the outcome says which rule.
func TestXPathBudgetInActions(t *testing.T) {
	for _, do := range []string{
		`[{remove: "//*/following::*/preceding::x"}]`,
		`[{inject: {to: client, xml: "<message><body>{{.XPath \"count(//*/following::*/preceding::*)\"}}</body></message>"}}]`,
	} {
		e := engine(t, "rules:\n  - name: act\n    when: {element: message}\n    do: "+do+"\n")
		out := e.Apply(c2s(t, wideMessage(800)))
		if out.Replaced != nil || len(out.Inject) != 0 || len(out.OverBudget) != 1 || out.OverBudget[0] != "act" {
			t.Fatalf("%s: replaced %d bytes, %d injections, over budget %v", do, len(out.Replaced), len(out.Inject), out.OverBudget)
		}
	}
}

// TestRemoveDuplicateSelection: a selection that names a node twice removes it once.
func TestRemoveDuplicateSelection(t *testing.T) {
	e := engine(t, "rules:\n  - {name: r, do: [{remove: \"//*/following::*/preceding::x\"}]}\n")
	out := e.Apply(c2s(t, wideMessage(5)))
	if string(out.Replaced) != `<message to='bob@localhost' type='chat'><x n='4'>v4</x></message>` {
		t.Fatalf("replaced %s", out.Replaced)
	}
}

// BenchmarkXPathBudget: the worst a rule can cost per stanza, the 800 children
// with a quadratic expression (2 s and hundreds of MB before the budget).
func BenchmarkXPathBudget(b *testing.B) {
	e := engine(b, "rules:\n  - {name: heavy, when: {xpath: \"count(//*/following::*) > 0\"}, do: [drop]}\n")
	in := c2s(b, wideMessage(800))
	if _, err := in.Record.Element(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if out := e.Apply(in); len(out.OverBudget) != 1 {
			b.Fatal("budget not hit")
		}
	}
}

// TestInjectionsDoNotAnswerThemselves: a stanza carrying the id of an injection, from the
// side it was injected toward, makes no injection; bytes stanzascope produced never meet
// the rules; other stanzas still do.
func TestInjectionsDoNotAnswerThemselves(t *testing.T) {
	e := engine(t, `rules:
  - name: every
    do: [{inject: {to: server, xml: "<message to='alice@localhost'><body>again</body></message>"}}]
`)
	out := e.Apply(c2s(t, `<presence/>`))
	if len(out.Inject) != 1 || string(out.Inject[0].Raw) != `<message to='alice@localhost' id='stanzascope-inject-1'><body>again</body></message>` {
		t.Fatalf("first: %+v", out)
	}
	// The server delivers the injected message: it comes back server to client.
	echo := s2c(t, `<message to='alice@localhost/home' from='alice@localhost/home' id='stanzascope-inject-1'><body>again</body></message>`)
	out = e.Apply(echo)
	if len(out.Inject) != 0 || !out.AnswersInjection || len(out.Matched) != 1 {
		t.Fatalf("echo: %+v", out)
	}
	if len(out.Tags) != 1 || out.Tags[0] != answerTag {
		t.Fatalf("echo tags %+v", out.Tags)
	}
	// The same id in the direction the injection travelled is not an answer.
	if out = e.Apply(c2s(t, `<message id='stanzascope-inject-1'/>`)); len(out.Inject) != 1 {
		t.Fatalf("same direction: %+v", out)
	}
	// An injection as the proxy logs it never meets the rules.
	own := s2c(t, `<message><body>from stanzascope</body></message>`)
	own.Record.Origin = inspect.OriginProxy
	if out = e.Apply(own); len(out.Matched) != 0 {
		t.Fatalf("own bytes: %+v", out)
	}
	if out = e.Apply(s2c(t, `<message id='other'/>`)); len(out.Inject) != 1 || out.AnswersInjection {
		t.Fatalf("unrelated: %+v", out)
	}
}

// TestInjectedMemoryBounded: the engine forgets the oldest injections first.
func TestInjectedMemoryBounded(t *testing.T) {
	m := newInjected()
	for i := range maxRemembered + 10 {
		m.add(injKey{inspect.ClientToServer, fmt.Sprint(i)})
	}
	if len(m.set) != maxRemembered || m.has(injKey{inspect.ClientToServer, "0"}) || !m.has(injKey{inspect.ClientToServer, fmt.Sprint(maxRemembered + 9)}) {
		t.Fatalf("%d remembered", len(m.set))
	}
}

// TestSelfAnswerWarnings: rules check warns about rules that could answer themselves.
func TestSelfAnswerWarnings(t *testing.T) {
	cases := []struct {
		rule string
		warn bool
	}{
		{`{name: r, do: [{inject: {to: server, xml: "<message/>"}}]}`, true},
		{`{name: r, when: {direction: s2c, element: iq}, do: [{inject: {to: server, xml: "<iq type='get'/>"}}]}`, true},
		{`{name: r, when: {direction: c2s}, do: [{inject: {to: client, xml: "<iq type='get'/>"}}]}`, true},
		{`{name: r, when: {direction: c2s}, do: [{inject: {to: server, xml: "<message/>"}}]}`, false},
		{`{name: r, when: {element: presence}, do: [{inject: {to: server, xml: "<message/>"}}]}`, false},
		{`{name: r, when: {direction: s2c, element: message}, do: [{inject: {to: client, xml: "<message/>"}}]}`, false},
		{`{name: r, when: {element: message}, do: [{inject: {to: client, xml: "<message to='{{.From}}'/>"}}]}`, true},
	}
	for _, tc := range cases {
		e := engine(t, "rules:\n  - "+tc.rule+"\n")
		w := e.Warnings()
		if (len(w) == 1) != tc.warn || len(w) > 1 {
			t.Errorf("%s: warnings %v", tc.rule, w)
		}
		if len(w) == 1 && (w[0].Line != 2 || !strings.Contains(w[0].Msg, `rule "r" could answer itself`)) {
			t.Errorf("%s: %s", tc.rule, w[0])
		}
	}
}
