package rules

import (
	"bytes"
	"strings"

	"github.com/stanzascope/stanzascope/inspect"
)

// Filter is a compiled filter expression: which records of a session to show. Its
// conditions are the match conditions of rule files, with the same code and meaning
// (direction, element, type with the RFC defaults, JID patterns, namespace, XPath with its
// budget), plus what only a record has: its connection, who produced it (origin), what
// became of it (verdict) and its kind. docs/INSPECT.md describes the language:
//
//	name message and type chat
//	jid alice@localhost and not name presence
//	conn 3,4 or verdict dropped,rejected
//	dir c2s and xpath "//body[contains(., 'parrot')]"
//
// A Filter knows each connection by the JID it is bound to (inspect.Bindings), so that
// "jid alice@localhost" or "bound alice@*" match the stanzas alice sends without a
// 'from'. Every condition asks about what the record has: a stream header is named
// "stream" and has addresses, a note has no name, type or address, so "name message" hides
// the notes and "conn 2" or "jid alice@localhost" keep those of that connection: a filter
// hides the headers, notes and milestones of the connections it excludes. Before a
// connection's binding is known, its records other than stanzas are undecided for the
// bound JID, and shown only if a stanza of that connection was shown before.
//
// A Filter has state (the bindings, the connections it showed): feed it the records of
// one session in order, from one goroutine. Clone gives a fresh one for another consumer.
type Filter struct {
	src      string
	root     fnode
	warnings []string

	bindings *inspect.Bindings
	// asksBound says that a condition of the expression reads the connection's bound JID
	// (see asksBound): Match looks it up only then, since it runs on every record the
	// terminal would show, on the traffic's path.
	asksBound bool
	included  map[uint64]bool // connections a stanza of which was shown
	// ctx is the record being matched, reused: Match runs in one goroutine, and a context
	// made per record escapes (the conditions are interfaces), an allocation per record
	// for a terminal filter that the traffic pays for.
	ctx fctx
}

// maxIncluded bounds the connections a Filter remembers as shown; a connection is
// forgotten when it closes.
const maxIncluded = 65536

// Match reports whether r is to be shown, and learns from it (see Filter).
func (f *Filter) Match(r *inspect.Record) bool {
	ctx := &f.ctx
	ctx.r, ctx.stanza, ctx.bound, ctx.v = r, r.Kind == inspect.KindStanza, "", nil
	if r.Kind != inspect.KindConnClose {
		f.bindings.Observe(r)
	}
	if r.Conn != nil && f.asksBound {
		ctx.bound = f.bindings.Bound(r.Conn)
	}
	if r.Kind == inspect.KindConnClose {
		f.bindings.Observe(r) // forgets the connection, after its close is matched by its JID
	}
	res := f.root.eval(ctx)
	ctx.release()
	show := res == yes
	if r.Conn != nil {
		id := r.Conn.ID
		switch {
		case res == yes && ctx.stanza:
			if len(f.included) >= maxIncluded {
				clear(f.included)
			}
			f.included[id] = true
		case res == unknown:
			show = f.included[id]
		}
		if r.Kind == inspect.KindConnClose {
			delete(f.included, id)
		}
	}
	return show
}

// NeedsTree reports whether the expression has a condition decided on the parsed stanza
// (ns, xpath). Without one, Match decides on what the Reader noted of a record (its name,
// direction, connection, the top-level attributes): quick enough for the traffic's path
// (inspect.Output.Show).
func (f *Filter) NeedsTree() bool { return needsTree(f.root) }

func needsTree(n fnode) bool { return anyCond(n, func(c *fCond) bool { return c.k == kOther }) }

// anyCond reports whether the expression n has a condition that is says yes to.
func anyCond(n fnode, is func(*fCond) bool) bool {
	switch n := n.(type) {
	case fAnd:
		return anyCond(n.a, is) || anyCond(n.b, is)
	case fOr:
		return anyCond(n.a, is) || anyCond(n.b, is)
	case fNot:
		return anyCond(n.a, is)
	case *fCond:
		return is(n)
	}
	return true // a node this function does not know: assume the worst
}

// asksBound reports whether the expression n reads the connection's bound JID: "bound",
// "jid" (from, to or the bound JID), and a condition decided on a view, which carries it.
func asksBound(n fnode) bool {
	return anyCond(n, func(c *fCond) bool { return c.k == kBound || c.k == kJID || c.k == kOther })
}

// Clone returns a Filter with the same expression and no state.
func (f *Filter) Clone() *Filter { return newFilter(f.src, f.root, f.warnings) }

func newFilter(src string, root fnode, warnings []string) *Filter {
	return &Filter{src: src, root: root, warnings: warnings, bindings: inspect.NewBindings(),
		asksBound: asksBound(root), included: map[uint64]bool{}}
}

// String returns the expression as written.
func (f *Filter) String() string { return f.src }

// Warnings are what the expression asks that may be a mistake: an element name or a type
// that no XMPP specification we know uses, with the closest known one.
func (f *Filter) Warnings() []string { return f.warnings }

// NewFilterSink returns a sink that passes to next the records f shows.
func NewFilterSink(next inspect.Sink, f *Filter) inspect.Sink {
	return inspect.SinkFunc(func(r *inspect.Record) error {
		if f.Match(r) {
			return next.Write(r)
		}
		return nil
	})
}

// tri is a three-valued truth: a condition that a record cannot decide (the element name
// of a note) is unknown.
type tri uint8

const (
	no tri = iota
	unknown
	yes
)

func triOf(b bool) tri {
	if b {
		return yes
	}
	return no
}

// fctx is one record being matched, with its view built on first use.
type fctx struct {
	r      *inspect.Record
	stanza bool
	bound  string
	v      *view
	vv     view // where v points once made, so that a pooled fctx makes no view
}

// release forgets the record, so that a reused fctx holds nothing of it.
func (c *fctx) release() {
	if c.v != nil {
		c.vv = view{}
	}
	c.r, c.v = nil, nil
}

func (c *fctx) view() *view {
	if c.v == nil {
		c.vv = view{in: Input{Conn: c.r.Conn, Dir: c.r.Dir, BoundJID: c.bound, Record: c.r}}
		c.v = &c.vv
	}
	return c.v
}

type fnode interface{ eval(c *fctx) tri }

type fAnd struct{ a, b fnode }
type fOr struct{ a, b fnode }
type fNot struct{ a fnode }

func (n fAnd) eval(c *fctx) tri {
	a := n.a.eval(c)
	if a == no {
		return no
	}
	return min(a, n.b.eval(c))
}

func (n fOr) eval(c *fctx) tri {
	a := n.a.eval(c)
	if a == yes {
		return yes
	}
	return max(a, n.b.eval(c))
}

func (n fNot) eval(c *fctx) tri { return yes - n.a.eval(c) }

// fCond is one condition: a key and the values it may have (any of them).
type fCond struct {
	key      string
	k        fkey         // key, for the switch on every record
	rules    []*rule      // one per value, with the single rule condition of the key
	pats     []jidPattern // from, to, jid, bound: the rules' patterns, in one array
	conns    []uint64
	origins  []inspect.Origin
	verdicts []inspect.Verdict
	kinds    []inspect.Kind
	dir      inspect.Direction
}

// fkey is a condition's key as a number: every record (every stanza, for a breakpoint)
// goes through the switch on it.
type fkey uint8

const (
	kOther fkey = iota // ns, xpath: the rule conditions on the view
	kKind
	kConn
	kDir
	kOrigin
	kVerdict
	kName
	kType
	kFrom
	kTo
	kJID
	kBound
)

func fkeyOf(key string) fkey {
	switch key {
	case "kind":
		return kKind
	case "conn":
		return kConn
	case "dir":
		return kDir
	case "origin":
		return kOrigin
	case "verdict":
		return kVerdict
	case "name":
		return kName
	case "type":
		return kType
	case "from":
		return kFrom
	case "to":
		return kTo
	case "jid":
		return kJID
	case "bound":
		return kBound
	}
	return kOther
}

func (n *fCond) eval(c *fctx) tri {
	if t, ok := n.quick(c.r, c.stanza, c.bound); ok {
		return t
	}
	return n.slow(c)
}

// slow decides the condition on a view of the record (what quick cannot decide; for the
// keys it decides, the same answer: TestQuickAgreesWithSlow).
func (n *fCond) slow(c *fctx) tri {
	switch n.k {
	case kKind, kConn, kDir, kOrigin, kVerdict, kBound:
		t, _ := n.quick(c.r, c.stanza, c.bound) // they need no view
		return t
	case kJID:
		// From, to, or the connection's bound JID: what --filter-jid means.
		v := c.view()
		for _, ru := range n.rules {
			if v.jidAttr(ru.bound, attrFrom) || v.jidAttr(ru.bound, attrTo) {
				return yes
			}
		}
		return n.boundMatch(c)
	}
	// name, type, from, to, ns, xpath: the rule conditions, on what the record has (a
	// stream header is named stream and has addresses; a note has neither).
	return n.anyRule(c)
}

// quick decides the condition on what the record is and where the Reader noted its
// attributes, without a view of the record (which a breakpoint on every stanza cannot
// afford); ok false: the view must decide (a namespace, an XPath, a type to default or
// to unescape, attributes that were not noted).
func (n *fCond) quick(r *inspect.Record, stanza bool, bound string) (t tri, ok bool) {
	switch n.k {
	case kKind:
		for _, k := range n.kinds {
			if r.Kind == k {
				return yes, true
			}
		}
		return no, true
	case kConn:
		if r.Conn == nil {
			return no, true
		}
		for _, id := range n.conns {
			if r.Conn.ID == id {
				return yes, true
			}
		}
		return no, true
	case kDir:
		return triOf(r.Dir == n.dir), true
	case kOrigin:
		o := r.Producer()
		for _, x := range n.origins {
			if o == x {
				return yes, true
			}
		}
		return no, true
	case kVerdict:
		if r.Producer() == inspect.OriginUnknown {
			return no, true // nothing travelled, so nothing became of it
		}
		for _, x := range n.verdicts {
			if r.Verdict == x {
				return yes, true
			}
		}
		return no, true
	case kBound:
		return n.bound(r, stanza, bound), true
	case kName:
		// A filter runs no action, so the name is the record's (view.name).
		for _, ru := range n.rules {
			if contains(ru.elements, r.Name) {
				return yes, true
			}
		}
		return no, true
	case kType:
		b, ok := rawAttr(r, stanza, inspect.TopType)
		if !ok || len(b) == 0 {
			return no, false // no type: the RFC defaults (view.stanzaType)
		}
		for _, ru := range n.rules {
			for _, t := range ru.types {
				if string(b) == t { // compared, no string made
					return yes, true
				}
			}
		}
		return no, true
	case kFrom, kTo:
		i := inspect.TopFrom
		if n.k == kTo {
			i = inspect.TopTo
		}
		b, ok := rawAttr(r, stanza, i)
		if !ok {
			return no, false
		}
		for i := range n.pats {
			if n.pats[i].matchBytes(b) {
				return yes, true
			}
		}
		return no, true
	case kJID:
		// From, to, or the connection's bound JID: what --filter-jid means.
		from, okF := rawAttr(r, stanza, inspect.TopFrom)
		to, okT := rawAttr(r, stanza, inspect.TopTo)
		if !okF || !okT {
			return no, false
		}
		for i := range n.pats {
			if p := &n.pats[i]; p.matchBytes(from) || p.matchBytes(to) {
				return yes, true
			}
		}
		return n.bound(r, stanza, bound), true
	}
	return no, false
}

// rawAttr returns the top attribute i (inspect.TopType, TopFrom, TopTo) of a stanza as
// written, from where the Reader noted it (inspect.Record.TopAttrRaw), when those bytes
// are its value (no entity reference): the conditions on it compare them without a view
// of the record. ok false: ask the view (not noted, or an entity reference).
func rawAttr(r *inspect.Record, stanza bool, i int) (b []byte, ok bool) {
	if !stanza {
		return nil, false
	}
	b, _, known := r.TopAttrRaw(i)
	if !known || bytes.IndexByte(b, '&') >= 0 {
		return nil, false
	}
	return b, true
}

// anyRule reports whether one of the condition's rules matches the record.
func (n *fCond) anyRule(c *fctx) tri {
	v := c.view()
	for _, ru := range n.rules {
		if ru.match(v) {
			return yes
		}
	}
	return no
}

// boundMatch matches the connection's bound JID. Before the binding is known, a stanza
// does not match (it is nobody's yet) and the connection's other records are undecided;
// a record of no connection is bound to no one.
func (n *fCond) boundMatch(c *fctx) tri { return n.bound(c.r, c.stanza, c.bound) }

func (n *fCond) bound(r *inspect.Record, stanza bool, bound string) tri {
	if bound == "" {
		if stanza || r.Conn == nil {
			return no
		}
		return unknown
	}
	for i := range n.pats {
		if n.pats[i].match(bound) {
			return yes
		}
	}
	return no
}

// QuoteFilterValue quotes s as a value of a filter expression, for programs that build
// one from separate flags.
func QuoteFilterValue(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range s {
		if r == '\'' || r == '\\' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('\'')
	return b.String()
}
