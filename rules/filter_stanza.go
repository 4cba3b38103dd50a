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
// MatchStanza does, or -1. What the filters read of r (its addresses, its tree) is read
// once for all of them, so that many breakpoints cost little more than one.
func MatchFirst(fs []*Filter, r *inspect.Record, bound string) int {
	c := fctxPool.Get().(*fctx)
	*c = fctx{r: r, stanza: r.Kind == inspect.KindStanza, bound: bound}
	found := -1
	for i, f := range fs {
		if f.root.eval(c) == yes {
			found = i
			break
		}
	}
	fctxPool.Put(c) // zeroed at the next Get: once per match, not twice
	return found
}

// fctxPool recycles the match state of MatchFirst, which is on the proxy's forwarding path
// while a breakpoint is set.
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
