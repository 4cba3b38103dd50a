package rules

import (
	"bytes"
	"slices"

	"github.com/stanzascope/stanzascope/inspect"
)

// StanzaSet is filters made ready to match many stanzas, most of which none of them
// matches: the proxy's breakpoints, against which every stanza is matched. For each
// kind of stanza (message, presence, iq) and direction, it keeps only the filters whose
// conditions on the element, the direction and the kind of record do not rule such a
// stanza out, each with the types it requires (when its other conditions cannot match
// without one of them). A stanza then costs the choice of its list and, per filter left,
// a look at its type before the filter itself is asked; the filters' memory is not even
// touched for the stanzas they cannot match, which is most of what matching costs on a
// forwarding path that has the rest of the stanza's work in its caches.
//
// A StanzaSet does not change once made and is safe for concurrent use.
type StanzaSet struct {
	fs []*Filter
	by [len(setNames)][2][]setEntry // by name, by direction (c2s, s2c)
}

// setNames are the stanzas a StanzaSet indexes (MatchFirst picks them by a switch, in
// this order); other elements are matched against every filter.
var setNames = [...]string{"message", "presence", "iq"}

type setEntry struct {
	// What is left of the filter once the element and the direction are known (residual),
	// nil when nothing is: it matches every such stanza of the types it requires.
	root  fnode
	i     int      // in fs
	types []string // nil, or the types (with the RFC defaults) it requires
	mask  uint32   // the same as typeBits, when every one of them has a bit
	// What is left is one condition on addresses (jid, from or to) with one pattern, the
	// most usual breakpoint: ak is its key and pat a copy of the pattern, read with the
	// entry instead of through the condition.
	ak  fkey
	pat jidPattern
}

// NewStanzaSet prepares fs. MatchFirst's answers are indexes of fs.
func NewStanzaSet(fs []*Filter) *StanzaSet {
	s := &StanzaSet{fs: slices.Clone(fs)}
	for ni, name := range setNames {
		for di, dir := range [2]inspect.Direction{inspect.ClientToServer, inspect.ServerToClient} {
			for i, f := range s.fs {
				if partial(f.root, name, dir, nil) == no {
					continue // cannot match such a stanza whatever else it has
				}
				root, t, decided := residual(f.root, name, dir)
				if decided && t == no {
					continue
				}
				e := setEntry{root: root, i: i}
				if c, ok := root.(*fCond); ok && len(c.pats) == 1 && (c.k == kJID || c.k == kFrom || c.k == kTo) {
					e.ak, e.pat = c.k, c.pats[0]
				}
				if types := typeValues(f.root, nil); len(types) > 0 {
					var other string // a type none of the conditions names
					if partial(f.root, name, dir, &other) == no {
						e.types = types
						for _, t := range types {
							bit := typeBit(t)
							if bit == 0 {
								e.mask = 0
								break
							}
							e.mask |= bit
						}
					}
				}
				s.by[ni][di] = append(s.by[ni][di], e)
			}
		}
	}
	return s
}

// Len returns how many filters the set has.
func (s *StanzaSet) Len() int { return len(s.fs) }

// MatchFirst returns the index of the first filter that matches the stanza record r as
// Filter.MatchStanza does, or -1.
func (s *StanzaSet) MatchFirst(r *inspect.Record, bound string) int {
	ni := -1
	switch r.Name {
	case "message":
		ni = 0
	case "presence":
		ni = 1
	case "iq":
		ni = 2
	}
	di := 0
	switch r.Dir {
	case inspect.ClientToServer:
	case inspect.ServerToClient:
		di = 1
	default:
		ni = -1
	}
	if ni < 0 || r.Kind != inspect.KindStanza {
		return MatchFirst(s.fs, r, bound)
	}
	var (
		typ             []byte
		def             string
		bit             uint32
		typeRead, known bool
	)
	list := s.by[ni][di]
	for k := range list {
		e := &list[k]
		if e.types != nil {
			if !typeRead {
				typ, def, known = stanzaTypeRaw(r, ni)
				if len(typ) > 0 {
					bit = typeBit(typ)
				} else {
					bit = typeBit(def)
				}
				typeRead = true
			}
			if known && ((e.mask != 0 && bit&e.mask == 0) || (e.mask == 0 && !hasType(e.types, typ, def))) {
				continue
			}
		}
		if e.root == nil {
			return e.i
		}
		t, ok := no, false
		if e.ak != 0 {
			t, ok = e.quickAddr(r, bound)
		} else {
			t, ok = quickEval(e.root, r, true, bound)
		}
		if !ok { // a condition that needs a view of the stanza
			t = triOf(MatchFirst(s.fs[e.i:e.i+1], r, bound) == 0)
		}
		if t == yes {
			return e.i
		}
	}
	return -1
}

// quickAddr is fCond.quick for the entry's condition on addresses.
func (e *setEntry) quickAddr(r *inspect.Record, bound string) (tri, bool) {
	// Most stanzas are ruled out by the first byte of their addresses, as written, without
	// a scan for entity references (the look at them must cost next to nothing).
	out := func(i int) bool {
		b, _, known := r.TopAttrRaw(i)
		return known && e.pat.rulesOut(b)
	}
	switch e.ak {
	case kFrom:
		if out(inspect.TopFrom) {
			return no, true
		}
	case kTo:
		if out(inspect.TopTo) {
			return no, true
		}
	case kJID:
		if out(inspect.TopFrom) && out(inspect.TopTo) {
			return triOf(bound != "" && e.pat.match(bound)), true
		}
	}
	if e.ak != kJID {
		i := inspect.TopFrom
		if e.ak == kTo {
			i = inspect.TopTo
		}
		b, ok := rawAttr(r, true, i)
		return triOf(ok && e.pat.matchBytes(b)), ok
	}
	from, okF := rawAttr(r, true, inspect.TopFrom)
	to, okT := rawAttr(r, true, inspect.TopTo)
	switch {
	case !okF || !okT:
		return no, false
	case e.pat.matchBytes(from) || e.pat.matchBytes(to):
		return yes, true
	}
	return triOf(bound != "" && e.pat.match(bound)), true // no bound JID: nobody's yet
}

// residual returns what is left of n for a stanza of element name in direction dir: the
// conditions on them (and on the kind of record) decided and simplified away. decided:
// nothing is left, and t is the answer for every such stanza.
func residual(n fnode, name string, dir inspect.Direction) (left fnode, t tri, decided bool) {
	switch n := n.(type) {
	case *fCond:
		switch n.k {
		case kName, kDir, kKind:
			return nil, partial(n, name, dir, nil), true
		}
		return n, no, false
	case fAnd:
		a, ta, da := residual(n.a, name, dir)
		if da && ta == no {
			return nil, no, true
		}
		b, tb, db := residual(n.b, name, dir)
		switch {
		case db && tb == no:
			return nil, no, true
		case da:
			return b, tb, db // yes and b
		case db:
			return a, ta, da // a and yes
		}
		return fAnd{a, b}, no, false
	case fOr:
		a, ta, da := residual(n.a, name, dir)
		if da && ta == yes {
			return nil, yes, true
		}
		b, tb, db := residual(n.b, name, dir)
		switch {
		case db && tb == yes:
			return nil, yes, true
		case da:
			return b, tb, db // no or b
		case db:
			return a, ta, da // a or no
		}
		return fOr{a, b}, no, false
	case fNot:
		a, ta, da := residual(n.a, name, dir)
		if da {
			return nil, yes - ta, true
		}
		return fNot{a}, no, false
	}
	return n, no, false
}

// stanzaTypeRaw returns the type of the stanza as written, or def, the RFC 6120/6121
// default, when it has none (a message is normal, a presence available, an iq has none);
// known false when it must be read from a view (not noted by the Reader, or an entity
// reference in it).
func stanzaTypeRaw(r *inspect.Record, ni int) (b []byte, def string, known bool) {
	b, _, known = r.TopAttrRaw(inspect.TopType)
	if !known || bytes.IndexByte(b, '&') >= 0 {
		return nil, "", false
	}
	if len(b) == 0 {
		switch setNames[ni] {
		case "message":
			def = "normal"
		case "presence":
			def = "available"
		}
	}
	return b, def, true
}

// hasType reports whether the type (b, or def when b is empty) is one of list.
func hasType(list []string, b []byte, def string) bool {
	for _, s := range list {
		if string(b) == s || (len(b) == 0 && def == s) {
			return true
		}
	}
	return false
}

// typeBit returns the bit of a stanza type RFC 6120 and 6121 define, 0 for another: a
// set's entries test the types they require against the stanza's as a mask, without
// reading strings from memory that other work has pushed out of the caches.
func typeBit[T string | []byte](t T) uint32 {
	switch string(t) {
	case "normal":
		return 1 << 0
	case "chat":
		return 1 << 1
	case "groupchat":
		return 1 << 2
	case "headline":
		return 1 << 3
	case "error":
		return 1 << 4
	case "available":
		return 1 << 5
	case "unavailable":
		return 1 << 6
	case "subscribe":
		return 1 << 7
	case "subscribed":
		return 1 << 8
	case "unsubscribe":
		return 1 << 9
	case "unsubscribed":
		return 1 << 10
	case "probe":
		return 1 << 11
	case "get":
		return 1 << 12
	case "set":
		return 1 << 13
	case "result":
		return 1 << 14
	}
	return 0
}

// partial evaluates n for a stanza of element name in direction dir, knowing nothing
// else, or also that its type (with the defaults) is *typ when typ is not nil: the
// conditions on anything else are unknown. By the three-valued logic, no means that no
// such stanza matches, whatever else it has.
func partial(n fnode, name string, dir inspect.Direction, typ *string) tri {
	switch n := n.(type) {
	case *fCond:
		switch n.k {
		case kName:
			for _, ru := range n.rules {
				if contains(ru.elements, name) {
					return yes
				}
			}
			return no
		case kDir:
			return triOf(dir == n.dir)
		case kKind:
			return triOf(slices.Contains(n.kinds, inspect.KindStanza))
		case kType:
			if typ == nil {
				return unknown
			}
			for _, ru := range n.rules {
				if contains(ru.types, *typ) {
					return yes
				}
			}
			return no
		}
		return unknown
	case fAnd:
		a := partial(n.a, name, dir, typ)
		if a == no {
			return no
		}
		return min(a, partial(n.b, name, dir, typ))
	case fOr:
		a := partial(n.a, name, dir, typ)
		if a == yes {
			return yes
		}
		return max(a, partial(n.b, name, dir, typ))
	case fNot:
		return yes - partial(n.a, name, dir, typ)
	}
	return unknown
}

// typeValues returns the types the type conditions of n name.
func typeValues(n fnode, out []string) []string {
	switch n := n.(type) {
	case *fCond:
		if n.k == kType {
			for _, ru := range n.rules {
				out = append(out, ru.types...)
			}
		}
	case fAnd:
		out = typeValues(n.b, typeValues(n.a, out))
	case fOr:
		out = typeValues(n.b, typeValues(n.a, out))
	case fNot:
		out = typeValues(n.a, out)
	}
	return out
}
