package rules

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
	"github.com/stanzascope/stanzascope/inspect"
)

// Limits on what a rule file may hold, so a broken or hostile file cannot make loading
// slow or large.
const (
	maxFileSize = 1 << 20
	maxRules    = 10000
)

// RuleSet is the compiled content of one rule file.
type RuleSet struct {
	file  string
	rules []*rule
}

// Len returns the number of rules in the set.
func (rs *RuleSet) Len() int { return len(rs.rules) }

// Names returns the rule names in order.
func (rs *RuleSet) Names() []string {
	out := make([]string, len(rs.rules))
	for i, r := range rs.rules {
		out[i] = r.name
	}
	return out
}

// compiler turns a YAML syntax tree into rules, collecting every problem on the way.
type compiler struct {
	problems
	ns                        map[string]string // prefix -> URI, for XPath; never nil
	fallbackLine, fallbackCol int               // where to report a problem with no node
}

// Parse reads a rule file's content. name is used in problems and counts (normally the
// path). On any problem it returns a *FileErrors listing all of them as FILE:LINE:COL.
func Parse(name string, data []byte) (rs *RuleSet, err error) {
	c := &compiler{problems: problems{file: name}, ns: map[string]string{"xml": inspect.NSXML}}
	if len(data) > maxFileSize {
		c.add(0, 0, "file larger than %d bytes", maxFileSize)
		return nil, c.err()
	}
	f, perr := parseYAML(data)
	if perr != nil {
		var ye yaml.Error
		if errors.As(perr, &ye) && ye.GetToken() != nil && ye.GetToken().Position != nil {
			p := ye.GetToken().Position
			c.add(p.Line, p.Column, "YAML: %s", ye.GetMessage())
		} else {
			c.add(1, 1, "YAML: %v", perr)
		}
		return nil, c.err()
	}
	rs = &RuleSet{file: name}
	if len(f.Docs) > 1 {
		line, col := 1, 1
		if d := f.Docs[1]; d.Start != nil && d.Start.Position != nil {
			line, col = d.Start.Position.Line, d.Start.Position.Column
		} else if d.Body != nil {
			line, col = pos(d.Body)
		}
		c.add(line, col, "a rule file holds one YAML document (found a second `---`)")
	}
	if len(f.Docs) > 0 && f.Docs[0].Body != nil {
		c.fallbackLine, c.fallbackCol = 1, 1
		rs.rules = c.file(f.Docs[0].Body)
	}
	if err := c.err(); err != nil {
		return nil, err
	}
	for _, r := range rs.rules {
		r.file = name
	}
	return rs, nil
}

// maxNesting bounds how deeply collections may nest on one line or in flow style ([ {).
// Rule files need four or five levels; the YAML parser's time and memory grow with the
// square of the nesting (a file of a million '[' would take gigabytes), so deeper input is
// refused after the linear tokenizer and before the parser.
const maxNesting = 32

// parseYAML runs the YAML parser, turning a panic inside it (a bug on odd input) into an
// error: a rule file must never take the process down.
func parseYAML(data []byte) (f *ast.File, err error) {
	defer func() {
		if p := recover(); p != nil {
			f, err = nil, fmt.Errorf("parser failure: %v", p)
		}
	}()
	tokens := lexer.Tokenize(string(data))
	if tk := tooDeep(tokens); tk != nil {
		return nil, &yaml.SyntaxError{Message: fmt.Sprintf("nested more than %d levels deep", maxNesting), Token: tk}
	}
	return parser.Parse(tokens, 0)
}

// tooDeep returns the token where flow collections, or block entries on one line, nest
// deeper than maxNesting; nil if none does.
func tooDeep(tokens token.Tokens) *token.Token {
	flow, line, onLine := 0, 0, 0
	for _, tk := range tokens {
		if tk.Position != nil && tk.Position.Line != line {
			line, onLine = tk.Position.Line, 0
		}
		switch tk.Type {
		case token.SequenceStartType, token.MappingStartType:
			flow++
			if flow > maxNesting {
				return tk
			}
		case token.SequenceEndType, token.MappingEndType:
			flow--
		case token.SequenceEntryType, token.MappingValueType, token.MappingKeyType:
			if flow > 0 {
				continue // keys in a flow mapping are siblings, not nesting
			}
			onLine++
			if onLine > maxNesting {
				return tk
			}
		}
	}
	return nil
}

// file reads the top level: `namespaces:` and `rules:`.
func (c *compiler) file(n ast.Node) []*rule {
	top, ok := c.mapping(n, "the rule file", "namespaces", "rules")
	if !ok {
		return nil
	}
	if ns := top.get("namespaces"); !isNull(ns) {
		c.namespaces(ns)
	}
	rn := top.get("rules")
	if isNull(rn) {
		return nil
	}
	seq, ok := rn.(*ast.SequenceNode)
	if !ok {
		c.errAt(rn, "rules must be a list (each rule starts with `- name:`), not a %s", nodeKind(rn))
		return nil
	}
	if len(seq.Values) > maxRules {
		c.errAt(rn, "more than %d rules in one file", maxRules)
		return nil
	}
	var out []*rule
	names := map[string]ast.Node{}
	for i, v := range seq.Values {
		r := c.rule(v, i+1)
		if r == nil {
			continue
		}
		if prev, dup := names[r.name]; dup {
			l, col := pos(prev)
			c.errAt(v, "rule name %q already used at line %d, column %d", r.name, l, col)
		}
		names[r.name] = v
		out = append(out, r)
	}
	return out
}

var prefixRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// namespaces reads the prefix -> URI map used by XPath expressions.
func (c *compiler) namespaces(n ast.Node) {
	m, ok := c.plain(n).(*ast.MappingNode)
	if !ok {
		c.errAt(n, "namespaces must be a mapping of prefix: URI")
		return
	}
	for _, kv := range m.Values {
		p, ok1 := c.str(kv.Key, "namespace prefix")
		uri, ok2 := c.str(kv.Value, "namespace URI")
		switch {
		case !ok1 || !ok2:
		case !prefixRE.MatchString(p):
			c.errAt(kv.Key, "namespace prefix %q is not a valid XML name", p)
		case p == "xmlns" || (p == "xml" && uri != inspect.NSXML):
			c.errAt(kv.Key, "namespace prefix %q is reserved", p)
		case uri == "":
			c.errAt(kv.Value, "namespace URI for prefix %q is empty", p)
		default:
			c.ns[p] = uri
		}
	}
}

// rule reads one rule.
func (c *compiler) rule(n ast.Node, index int) *rule {
	f, ok := c.mapping(n, "a rule", "name", "when", "do")
	if !ok {
		return nil
	}
	r := &rule{}
	r.line, r.col = pos(n)
	if f.has("name") {
		if name, ok := c.str(f.get("name"), "name"); ok {
			r.name = strings.TrimSpace(name)
			if r.name == "" {
				c.errAt(f.get("name"), "name is empty")
			}
		}
	} else {
		r.name = fmt.Sprintf("rule-%d", index)
	}
	if w := f.get("when"); !isNull(w) {
		c.when(w, r)
	}
	if !f.has("do") || isNull(f.get("do")) {
		c.errAt(n, "rule %q: missing `do:` (what to do with matching stanzas, e.g. `do: [pass]`)", r.name)
		return r
	}
	r.actions = c.actions(f.get("do"))
	return r
}

// actions reads a `do` list: each item is `- name` or `- name: argument`.
func (c *compiler) actions(n ast.Node) []action {
	items := []ast.Node{n}
	if seq, ok := n.(*ast.SequenceNode); ok {
		items = seq.Values
		if len(items) == 0 {
			c.errAt(n, "do: the list is empty")
		}
	}
	var out []action
	for _, it := range items {
		it = c.plain(it)
		var key, arg ast.Node
		switch x := it.(type) {
		case nil:
			continue
		case *ast.MappingNode:
			if len(x.Values) != 1 {
				c.errAt(it, "each action is its own list item: `- name: argument` (found %d keys)", len(x.Values))
				continue
			}
			key, arg = x.Values[0].Key, c.plain(x.Values[0].Value)
		default:
			key = it
		}
		name, ok := c.str(key, "action")
		if !ok {
			continue
		}
		k := actionKinds[name]
		if k == nil {
			c.errAt(key, "unknown action %q (known actions: %s)", name, strings.Join(actionNames(), ", "))
			continue
		}
		if a := k.compile(c, key, arg); a != nil {
			out = append(out, a)
		}
	}
	return out
}
