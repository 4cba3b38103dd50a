package rules

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParseProblems(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want []string // each a substring of one problem line, in order
	}{
		{"yaml syntax", "rules:\n  - name: [a\n", []string{"f.yaml:2:"}},
		{"yaml bad quote", "rules:\n  - name: 'a\n", []string{"f.yaml:2:11: YAML: could not find end character of single-quoted text"}},
		{"duplicate key", "rules:\n  - name: a\n    name: b\n", []string{"f.yaml:3:5: YAML: mapping key \"name\" already defined"}},
		{"top not mapping", "- a\n", []string{"f.yaml:1:1: the rule file must be a mapping"}},
		{"unknown top key", "rulez: []\n", []string{`f.yaml:1:1: unknown key "rulez" in the rule file (known keys: namespaces, rules)`}},
		{"rules not list", "rules: {a: b}\n", []string{"f.yaml:1:9: rules must be a list"}},
		{"unknown rule key", "rules:\n  - name: a\n    when: {}\n    then: [drop]\n    do: [drop]\n", []string{`f.yaml:4:5: unknown key "then" in a rule`}},
		{"unknown when key", "rules:\n  - name: a\n    when: {element: iq, elemnt: message}\n    do: [drop]\n", []string{`f.yaml:3:25: unknown key "elemnt" in when`}},
		{"missing do", "rules:\n  - name: a\n    when: {element: iq}\n", []string{`f.yaml:2:5: rule "a": missing ` + "`do:`"}},
		{"unknown action", "rules:\n  - name: a\n    do:\n      - drop\n      - explode\n", []string{`f.yaml:5:9: unknown action "explode" (known actions: continue, delay, drop,`}},
		{"unknown action with arg", "rules:\n  - name: a\n    do: [{explode: 3}]\n", []string{`f.yaml:3:11: unknown action "explode"`}},
		{"two actions in one item", "rules:\n  - name: a\n    do:\n      - {drop: true, hide: true}\n", []string{`f.yaml:4:10: each action is its own list item`}},
		{"action arg not allowed", "rules:\n  - name: a\n    do: [drop: now]\n", []string{`f.yaml:3:16: drop takes no value`}},
		{"unknown action key", "rules:\n  - name: a\n    do: [{reject: {condition: not-allowed, txt: x}}]\n", []string{`f.yaml:3:44: unknown key "txt" in reject`}},
		{"bad condition", "rules:\n  - name: a\n    do: [reject: nope]\n", []string{`f.yaml:3:18: unknown stanza error condition "nope"`}},
		{"bad error type", "rules:\n  - name: a\n    do: [{reject: {condition: gone, type: fatal}}]\n", []string{`f.yaml:3:43: unknown error type "fatal"`}},
		{"bad direction", "rules:\n  - name: a\n    when: {direction: sideways}\n    do: [drop]\n", []string{`f.yaml:3:23: direction must be`}},
		{"bad xpath", "rules:\n  - name: a\n    when: {xpath: \"query[\"}\n    do: [drop]\n", []string{`f.yaml:3:19: bad XPath "query["`}},
		{"undeclared prefix", "rules:\n  - name: a\n    when:\n      xpath: \"r:query\"\n    do: [drop]\n", []string{`f.yaml:4:14: XPath "r:query": undeclared namespace prefix "r"`}},
		{"undeclared prefix in action", "rules:\n  - name: a\n    do: [remove: \"x:y\"]\n", []string{`f.yaml:3:18: XPath "x:y": undeclared namespace prefix "x"`}},
		{"xpath not nodes", "namespaces: {r: \"jabber:iq:register\"}\nrules:\n  - name: a\n    do: [remove: \"count(r:query)\"]\n", []string{`f.yaml:4:18: remove: XPath "count(r:query)" must select nodes`}},
		{"bad regexp", "rules:\n  - name: a\n    do:\n      - replace-text: {xpath: body, regexp: \"(a\", with: b}\n", []string{`f.yaml:4:45: bad regexp: error parsing regexp: missing closing )`}},
		{"bad jid", "rules:\n  - name: a\n    when: {from: \"alice@\"}\n    do: [drop]\n", []string{`f.yaml:3:18: from: JID pattern "alice@": empty domain`}},
		{"bad bound", "rules:\n  - name: a\n    when: {bound: \"@x\"}\n    do: [drop]\n", []string{`f.yaml:3:19: bound: JID pattern "@x": empty localpart`}},
		{"bad xml", "rules:\n  - name: a\n    do: [insert: \"<body>x</bod>\"]\n", []string{`f.yaml:3:18: insert: bad XML`}},
		{"two elements", "rules:\n  - name: a\n    do: [insert: \"<a/><b/>\"]\n", []string{`f.yaml:3:18: insert: bad XML: more than one element`}},
		{"bad template syntax", "rules:\n  - name: a\n    do: [replace: \"<a>{{.ID</a>\"]\n", []string{`f.yaml:3:19: replace: bad template`}},
		{"template unknown field", "rules:\n  - name: a\n    do: [replace: \"<a>{{.Nope}}</a>\"]\n", []string{`f.yaml:3:19: replace: template:`, `Nope`}},
		{"template output not xml", "rules:\n  - name: a\n    do: [replace: \"<a>{{.ID}}\"]\n", []string{`f.yaml:3:19: replace: template output: bad XML`}},
		{"template bad xpath", "rules:\n  - name: a\n    do: [replace: \"<a>{{.XPath \\\"q:x\\\"}}</a>\"]\n", []string{`f.yaml:3:19: replace: template:`, `undeclared namespace prefix "q"`}},
		{"template range", "rules:\n  - name: a\n    do: [replace: \"<a>{{range 1000000000}}{{end}}</a>\"]\n", []string{`f.yaml:3:19: replace: bad template: range is not supported`}},
		{"template define", "rules:\n  - name: a\n    do: [replace: \"{{define \\\"x\\\"}}y{{end}}<a/>\"]\n", []string{`f.yaml:3:19: replace: bad template: define/block are not supported`}},
		{"template if ok but output bad", "rules:\n  - name: a\n    do: [replace: \"{{if .ID}}<a>{{else}}<b/>{{end}}\"]\n", []string{`f.yaml:3:19: replace: template output: bad XML`}},
		{"inject missing to", "rules:\n  - name: a\n    do: [{inject: {xml: \"<a/>\"}}]\n", []string{`f.yaml:3:20: inject: missing key "to"`}},
		{"inject bad to", "rules:\n  - name: a\n    do: [{inject: {xml: \"<a/>\", to: moon}}]\n", []string{`f.yaml:3:37: inject to must be client or server`}},
		{"bad duration", "rules:\n  - name: a\n    do: [delay: soon]\n", []string{`f.yaml:3:17: bad duration "soon"`}},
		{"too long delay", "rules:\n  - name: a\n    do: [delay: 2h]\n", []string{`f.yaml:3:17: delay must be more than 0 and at most 10m0s`}},
		{"bad color", "rules:\n  - name: a\n    do: [{tag: {label: x, color: plaid}}]\n", []string{`f.yaml:3:34: unknown color "plaid"`}},
		{"duplicate names", "rules:\n  - name: a\n    do: [drop]\n  - name: a\n    do: [drop]\n", []string{`f.yaml:4:5: rule name "a" already used at line 2, column 5`}},
		{"bad prefix", "namespaces: {\"1x\": \"urn:x\"}\nrules: []\n", []string{`f.yaml:1:14: namespace prefix "1x" is not a valid XML name`}},
		{"anchors", "rules:\n  - name: a\n    when: &w {element: iq}\n    do: [drop]\n", []string{`f.yaml:3:11: YAML anchors and aliases are not supported`}},
		{"keepalive with element", "rules:\n  - name: a\n    when: {keepalive: true, element: iq}\n    do: [drop]\n", []string{`f.yaml:3:29: element cannot be combined with keepalive`}},
		{"set-attr xmlns", "rules:\n  - name: a\n    do: [{set-attr: {name: xmlns, value: x}}]\n", []string{`f.yaml:3:28: attribute name "xmlns"`}},
		{"several problems at once", "rules:\n  - name: a\n    when: {from: \"@\", xpath: \"[\"}\n    do: [explode, drop: 1]\n",
			[]string{`f.yaml:3:18: from:`, `f.yaml:3:30: bad XPath`, `f.yaml:4:10: unknown action "explode"`, `f.yaml:4:25: drop takes no value`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tc.src))
			var fe *FileErrors
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want *FileErrors", err)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(tc.want) > 1 && !strings.HasPrefix(tc.want[1], "f.yaml") {
				// All substrings of the one line.
				for _, w := range tc.want {
					if !strings.Contains(lines[0], w) {
						t.Fatalf("problem %q does not contain %q", lines[0], w)
					}
				}
				return
			}
			if len(lines) != len(tc.want) {
				t.Fatalf("got %d problems, want %d:\n%s", len(lines), len(tc.want), err)
			}
			for i, w := range tc.want {
				if !strings.Contains(lines[i], w) {
					t.Errorf("problem %d:\n got %s\nwant …%s…", i, lines[i], w)
				}
			}
		})
	}
}

// TestParseHostileNesting checks that deep nesting, which makes the YAML parser's time
// and memory grow with its square, is refused before parsing.
func TestParseHostileNesting(t *testing.T) {
	for _, p := range []string{"[", "{", "- ", "{a: [", "- a: "} {
		src := "rules: " + strings.Repeat(p, 20000)
		_, err := Parse("f.yaml", []byte(src))
		if err == nil || !strings.Contains(err.Error(), "nested more than 32 levels deep") {
			t.Errorf("%q: %v", p, err)
		}
	}
	// Wide is fine: many keys in a flow mapping, many items in a list.
	keys := make([]string, 40)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d: v", i)
	}
	if _, err := Parse("f.yaml", []byte("namespaces: {"+strings.Join(keys, ", ")+"}\nrules: []\n")); err != nil {
		t.Errorf("wide mapping: %v", err)
	}
}

func TestParseSecondDocument(t *testing.T) {
	_, err := Parse("f.yaml", []byte("rules: []\n---\nrules: []\n"))
	if err == nil || !strings.Contains(err.Error(), "f.yaml:2:1: a rule file holds one YAML document") {
		t.Fatalf("%v", err)
	}
}

func TestParseGood(t *testing.T) {
	for _, src := range []string{"", "# only a comment\n", "rules:\n", "rules: []\n", "namespaces: {}\nrules: []\n"} {
		rs, err := Parse("f.yaml", []byte(src))
		if err != nil || rs.Len() != 0 {
			t.Errorf("%q: %v", src, err)
		}
	}
	rs, err := Parse("f.yaml", []byte("rules:\n  - do: [pass]\n  - {name: x, do: drop}\n  - do: [delay: 1s]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rs.Names(), ","); got != "rule-1,x,rule-3" {
		t.Fatalf("names %s", got)
	}
}
