package rules

import (
	"sync"

	"github.com/stanzascope/stanzascope/inspect"
)

// MatchStanza reports whether the stanza record r matches the expression, for a caller
// that knows the bound JID of r's connection (bound, "" before binding): the proxy's
// breakpoints. Unlike Match it keeps no state, so it is safe for concurrent use and may
// see the records of many connections in any order; a condition the record cannot decide
// does not match.
func (f *Filter) MatchStanza(r *inspect.Record, bound string) bool {
	return MatchFirst([]*Filter{f}, r, bound) == 0
}

// MatchFirst returns the index of the first of fs that matches the stanza record r as
// MatchStanza does, or -1. Most filters decide a stanza on its name, direction and the
// attributes the Reader noted (quickEval): that costs no view of the record and no
// allocation. A filter that needs more (a namespace, an XPath) is matched on a view,
// built once for all of them.
func MatchFirst(fs []*Filter, r *inspect.Record, bound string) int {
	stanza := r.Kind == inspect.KindStanza
	var c *fctx
	found := -1
	for i, f := range fs {
		t, ok := quickEval(f.root, r, stanza, bound)
		if !ok {
			if c == nil {
				c = fctxPool.Get().(*fctx)
				// Not zeroed as a whole: the view in it is made afresh when asked for.
				c.r, c.stanza, c.bound, c.v = r, stanza, bound, nil
			}
			t = f.root.eval(c)
		}
		if t == yes {
			found = i
			break
		}
	}
	if c != nil {
		fctxPool.Put(c)
	}
	return found
}

// quickEval evaluates n as eval does, with fCond.quick; ok false: a condition needs the
// view (eval it then, from the start: conditions have no side effects).
func quickEval(n fnode, r *inspect.Record, stanza bool, bound string) (tri, bool) {
	switch n := n.(type) {
	case *fCond:
		return n.quick(r, stanza, bound)
	case fAnd:
		a, ok := quickEval(n.a, r, stanza, bound)
		if !ok || a == no {
			return no, ok
		}
		b, ok := quickEval(n.b, r, stanza, bound)
		return min(a, b), ok
	case fOr:
		a, ok := quickEval(n.a, r, stanza, bound)
		if !ok || a == yes {
			return yes, ok
		}
		b, ok := quickEval(n.b, r, stanza, bound)
		return max(a, b), ok
	case fNot:
		a, ok := quickEval(n.a, r, stanza, bound)
		return yes - a, ok
	}
	return no, false
}

// fctxPool recycles the match state of MatchFirst for the filters that need a view of
// the stanza, on the proxy's forwarding path while such a breakpoint is set.
var fctxPool = sync.Pool{New: func() any { return new(fctx) }}

// StanzaNames returns the element names a stanza must have for f to match it, or all
// true when f may match any element. A caller matching many stanzas against many filters
// (the proxy's breakpoints) skips, by the name alone, the filters that cannot match.
func (f *Filter) StanzaNames() (names []string, all bool) {
	return stanzaNames(f.root)
}

func stanzaNames(n fnode) ([]string, bool) {
	switch n := n.(type) {
	case *fCond:
		if n.key != "name" {
			return nil, true
		}
		var out []string
		for _, r := range n.rules {
			out = append(out, r.elements...)
		}
		return out, false
	case fAnd:
		a, allA := stanzaNames(n.a)
		b, allB := stanzaNames(n.b)
		switch {
		case allA:
			return b, allB
		case allB:
			return a, false
		}
		var both []string
		for _, x := range a {
			if contains(b, x) {
				both = append(both, x)
			}
		}
		return both, false
	case fOr:
		a, allA := stanzaNames(n.a)
		b, allB := stanzaNames(n.b)
		if allA || allB {
			return nil, true
		}
		return append(a, b...), false
	}
	return nil, true // not: any element may match
}
