package rules

import (
	"sort"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// This file holds the helpers that read the YAML syntax tree. We read the tree rather than
// decoding into structs so that every key and value keeps its line and column, which the
// problems we report must carry.

// pos returns the 1-based line and column of n, choosing the token a person would point at
// (the first key of a mapping, not its colon).
func pos(n ast.Node) (int, int) {
	switch x := n.(type) {
	case nil:
		return 0, 0
	case *ast.MappingNode:
		if len(x.Values) > 0 {
			return pos(x.Values[0])
		}
	case *ast.MappingValueNode:
		return pos(x.Key)
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return 0, 0
	}
	return tk.Position.Line, tk.Position.Column
}

// errAt records a problem at node n.
func (c *compiler) errAt(n ast.Node, format string, args ...any) {
	line, col := pos(n)
	if line == 0 {
		line, col = c.fallbackLine, c.fallbackCol
	}
	c.add(line, col, format, args...)
}

// plain returns n unless it is a YAML feature rule files do not use (anchors, aliases,
// tags), which is reported. Keeping to plain YAML keeps every value at one place in the
// file, so positions in problems stay meaningful.
func (c *compiler) plain(n ast.Node) ast.Node {
	switch n.(type) {
	case *ast.AnchorNode, *ast.AliasNode:
		c.errAt(n, "YAML anchors and aliases are not supported in rule files")
		return nil
	case *ast.TagNode:
		c.errAt(n, "YAML tags are not supported in rule files")
		return nil
	case *ast.MergeKeyNode:
		c.errAt(n, "YAML merge keys are not supported in rule files")
		return nil
	}
	return n
}

// isNull reports whether n is absent or an explicit null (`key:` with no value).
func isNull(n ast.Node) bool {
	if n == nil {
		return true
	}
	_, ok := n.(*ast.NullNode)
	return ok
}

// str returns the scalar n as a string; numbers and booleans are taken as written, so
// `value: 5` is the string "5". what names the value in the problem reported otherwise.
func (c *compiler) str(n ast.Node, what string) (string, bool) {
	n = c.plain(n)
	switch x := n.(type) {
	case nil:
		return "", false
	case *ast.StringNode:
		return x.Value, true
	case *ast.LiteralNode:
		return x.Value.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return n.GetToken().Value, true
	case *ast.NullNode:
		c.errAt(n, "%s: a value is required", what)
		return "", false
	}
	c.errAt(n, "%s must be a string, not a %s", what, nodeKind(n))
	return "", false
}

// strs returns a string or a list of strings.
func (c *compiler) strs(n ast.Node, what string) ([]string, bool) {
	n = c.plain(n)
	seq, ok := n.(*ast.SequenceNode)
	if !ok {
		s, ok := c.str(n, what)
		return []string{s}, ok
	}
	if len(seq.Values) == 0 {
		c.errAt(n, "%s: the list is empty", what)
		return nil, false
	}
	out := make([]string, 0, len(seq.Values))
	good := true
	for _, v := range seq.Values {
		s, ok := c.str(v, what)
		good = good && ok
		out = append(out, s)
	}
	return out, good
}

// boolean returns the scalar n as a bool.
func (c *compiler) boolean(n ast.Node, what string) (bool, bool) {
	n = c.plain(n)
	if b, ok := n.(*ast.BoolNode); ok {
		return b.Value, true
	}
	if n != nil {
		c.errAt(n, "%s must be true or false", what)
	}
	return false, false
}

func nodeKind(n ast.Node) string {
	switch n.(type) {
	case *ast.MappingNode:
		return "mapping"
	case *ast.SequenceNode:
		return "list"
	}
	return strings.ToLower(n.Type().String())
}

// fields is a mapping read with a fixed set of allowed keys.
type fields struct {
	node ast.Node // the mapping, for problems about missing keys
	vals map[string]ast.Node
	keys map[string]ast.Node
}

// get returns the value of key, or nil when absent.
func (f fields) get(key string) ast.Node { return f.vals[key] }

// has reports whether key was given.
func (f fields) has(key string) bool { _, ok := f.keys[key]; return ok }

// mapping reads n as a mapping whose keys must be among allowed; unknown keys are reported
// at the key. It returns ok=false when n is not a mapping.
func (c *compiler) mapping(n ast.Node, what string, allowed ...string) (fields, bool) {
	f := fields{node: n, vals: map[string]ast.Node{}, keys: map[string]ast.Node{}}
	n = c.plain(n)
	m, ok := n.(*ast.MappingNode)
	if !ok {
		if n != nil {
			c.errAt(n, "%s must be a mapping (key: value), not a %s", what, nodeKind(n))
		}
		return f, false
	}
	for _, kv := range m.Values {
		key, ok := c.str(kv.Key, what+" key")
		if !ok {
			continue
		}
		if !contains(allowed, key) {
			c.errAt(kv.Key, "unknown key %q in %s (known keys: %s)", key, what, strings.Join(sorted(allowed), ", "))
			continue
		}
		f.keys[key] = kv.Key
		f.vals[key] = c.plain(kv.Value)
	}
	return f, true
}

// require reports the keys missing from f.
func (c *compiler) require(f fields, what string, keys ...string) bool {
	ok := true
	for _, k := range keys {
		if !f.has(k) {
			c.errAt(f.node, "%s: missing key %q", what, k)
			ok = false
		}
	}
	return ok
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func sorted(list []string) []string {
	out := append([]string(nil), list...)
	sort.Strings(out)
	return out
}
