package rules

import (
	"sort"

	"github.com/goccy/go-yaml/ast"
)

// action is one compiled step of a rule's `do` list. apply runs for every stanza the rule
// matches, possibly from many goroutines at once, so an action keeps no per-stanza state of
// its own: everything goes through s.
type action interface {
	apply(s *state)
}

// actionFunc adapts a function to action.
type actionFunc func(s *state)

func (f actionFunc) apply(s *state) { f(s) }

// actionKind describes one action of the rule language. Each lives in its own act_*.go
// file and registers itself in init; adding an action touches no other file (see
// docs/RULES.md).
type actionKind struct {
	name    string
	summary string // one line for documentation and error messages
	// compile reads the action's argument: nil for `- name` (or `- name:` with no
	// value), a scalar or a mapping. It reports problems through c (at arg, or at key when
	// arg is nil) and returns nil after reporting one.
	compile func(c *compiler, key, arg ast.Node) action
}

var actionKinds = map[string]*actionKind{}

// registerAction adds an action kind; it panics on a duplicate name, a programming error
// found by any test.
func registerAction(k *actionKind) {
	if _, dup := actionKinds[k.name]; dup {
		panic("rules: action registered twice: " + k.name)
	}
	actionKinds[k.name] = k
}

// actionNames returns the names of all actions, sorted.
func actionNames() []string {
	out := make([]string, 0, len(actionKinds))
	for n := range actionKinds {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// noArg reports an argument given to an action that takes none.
func (c *compiler) noArg(name string, arg ast.Node) bool {
	if !isNull(arg) {
		if b, ok := arg.(*ast.BoolNode); ok && b.Value {
			return true // `- drop: true` reads naturally too
		}
		c.errAt(arg, "%s takes no value (write `- %s`)", name, name)
		return false
	}
	return true
}

// errNode returns arg if present, else key: where to point at a problem.
func errNode(key, arg ast.Node) ast.Node {
	if isNull(arg) {
		return key
	}
	return arg
}

// ActionSummary returns the one-line summary of each action, by name, for help texts.
func ActionSummary() map[string]string {
	m := make(map[string]string, len(actionKinds))
	for n, k := range actionKinds {
		m[n] = k.summary
	}
	return m
}
