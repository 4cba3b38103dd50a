package rules

import (
	"sync/atomic"

	"github.com/stanzascope/stanzascope/inspect"
)

// rule is one compiled rule: its conditions (all must hold) and its actions.
type rule struct {
	name       string
	file       string
	line, col  int
	dir        inspect.Direction // DirNone: both directions
	keepalive  bool              // matches whitespace keep-alives instead of stanzas
	elements   []string          // nil: any element
	types      []string          // nil: any type
	from, to   *jidPattern       // nil: any
	bound      *jidPattern       // nil: any
	namespaces []string          // nil: any; else the element's or a child's namespace
	xp         *xpathExpr        // nil: none
	hint       string            // a literal xp needs in the stanza (see xpathhint.go)
	actions    []action
	hits       atomic.Uint64
	overBudget atomic.Uint64 // stanzas where the XPath budget ran out in this rule
}

// match checks the conditions, cheap ones first: everything up to bound reads only the
// raw start tag; the namespace and XPath conditions build the tree.
func (r *rule) match(v *view) bool {
	if r.dir != inspect.DirNone && r.dir != v.in.Dir {
		return false
	}
	if r.keepalive {
		return v.in.Record.Kind == inspect.KindWhitespace
	}
	if r.elements != nil && !contains(r.elements, v.name()) {
		return false
	}
	if r.types != nil && !v.typeIn(r.types) {
		return false
	}
	if r.to != nil && !v.jidAttr(r.to, attrTo) {
		return false
	}
	if r.from != nil && !v.jidAttr(r.from, attrFrom) {
		return false
	}
	if r.bound != nil && !r.bound.match(v.in.BoundJID) {
		return false
	}
	if r.namespaces != nil && !r.matchNamespace(v) {
		return false
	}
	if r.xp != nil {
		if r.hint != "" && v.work == nil && !v.hintMayHold(r.hint) {
			return false
		}
		el := v.current()
		if el == nil || (r.hint != "" && v.work != nil && !mayContain(el, r.hint)) {
			return false
		}
		ok := evalBool(r.xp, v.navigator(el))
		if v.budgetSpent() {
			v.noteBudget(r)
			return false
		}
		if !ok {
			return false
		}
	}
	return true
}

// matchNamespace reports whether the stanza's own namespace (cheap: SASL, TLS and other
// top-level elements) or one of its children's namespaces (a stanza's payload) is listed.
func (r *rule) matchNamespace(v *view) bool {
	if v.work == nil && contains(r.namespaces, v.in.Record.NS) {
		return true
	}
	el := v.current()
	if el == nil {
		return false
	}
	if contains(r.namespaces, el.Space) {
		return true
	}
	for _, c := range el.Children {
		if ce, ok := c.(*inspect.Element); ok && contains(r.namespaces, ce.Space) {
			return true
		}
	}
	return false
}
