package rules

import (
	"errors"
	"testing"
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
