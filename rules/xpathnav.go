package rules

import (
	"strings"

	"github.com/antchfx/xpath"
	"github.com/stanzascope/stanzascope/inspect"
)

// navigator is an xpath.NodeNavigator over an inspect.Element tree. Its document root has
// the stanza as only child, so `/iq/query` works as well as the relative `query` (the
// context node of every expression is the stanza itself).
//
// Element names report an empty prefix, so an unprefixed name test (`body`) matches the
// element in any namespace; a prefixed test (`r:query`) compares namespace URIs, with the
// prefixes declared in the rule file. Stanzas live in jabber:client or jabber:server
// depending on the stream, and rules should not have to care.
type navigator struct {
	stanza *inspect.Element
	doc    bool    // on the document root
	frames []frame // path from the stanza to the current node; empty: on the stanza
	attr   int     // >= 0: on this attribute of the current element
	// buf holds the frames of shallow paths, so that a copy needs no second allocation.
	buf   [4]frame
	arena *navArena // where Copy takes new navigators from
}

// navArena hands out navigators for the copies the xpath package makes at every step of
// an evaluation. They all die when the evaluation ends, so the arena is reused by the
// next evaluation on the same stanza (reset) instead of allocating each copy.
//
// It also holds the stanza's XPath budget: every step of every evaluation on the stanza
// (a move, a copy, each node a string-value reads) spends one. When the budget is spent,
// every move fails and every string-value is empty, so the evaluation ends at once, and
// over is set: its result must not be used (see evalBool).
type navArena struct {
	chunks [][]navigator
	i, j   int // next free: chunks[i][j]
	left   int // steps left for this stanza
	over   bool
}

// maxXPathSteps is the XPath budget of one stanza (all the expressions of all the rules
// and templates it meets). A step costs tens of nanoseconds, so a stanza costs at most a
// few milliseconds of XPath; ordinary expressions on ordinary stanzas take tens to
// hundreds of steps, a scan of every node of a 64 KiB stanza a few thousand.
const maxXPathSteps = 100_000

// spend takes n steps from the budget; false when it is spent.
func (a *navArena) spend(n int) bool {
	if a.left < n {
		a.left, a.over = 0, true
		return false
	}
	a.left -= n
	return true
}

const arenaChunk = 16

func (a *navArena) alloc() *navigator {
	if a.i == len(a.chunks) {
		a.chunks = append(a.chunks, make([]navigator, arenaChunk))
	}
	n := &a.chunks[a.i][a.j]
	if a.j++; a.j == arenaChunk {
		a.i, a.j = a.i+1, 0
	}
	return n
}

// frame locates a node as the i-th child of parent.
type frame struct {
	parent *inspect.Element
	i      int
}

// newNavigator returns a navigator on stanza with a fresh budget of maxXPathSteps.
func newNavigator(stanza *inspect.Element) *navigator {
	n := &navigator{arena: &navArena{left: maxXPathSteps}}
	return n.reset(stanza)
}

// overBudget reports whether the stanza's XPath budget ran out.
func (n *navigator) overBudget() bool { return n.arena.over }

// reset puts n on stanza, so one navigator (and its arena and budget) serves all the
// expressions a stanza meets. Navigators copied from n before are invalid afterwards:
// callers take what they need from an evaluation (strings, targets) before starting the
// next.
func (n *navigator) reset(stanza *inspect.Element) *navigator {
	n.stanza, n.doc, n.attr = stanza, false, -1
	n.frames = n.buf[:0]
	n.arena.i, n.arena.j = 0, 0
	return n
}

// node returns the current node when it is a child (element or text), else nil.
func (n *navigator) node() inspect.Node {
	if len(n.frames) == 0 {
		return nil
	}
	f := n.frames[len(n.frames)-1]
	return f.parent.Children[f.i]
}

// elem returns the current element (the owner when on an attribute), or nil on a text node
// or the document root.
func (n *navigator) elem() *inspect.Element {
	if n.doc {
		return nil
	}
	if len(n.frames) == 0 {
		return n.stanza
	}
	e, _ := n.node().(*inspect.Element)
	return e
}

func (n *navigator) NodeType() xpath.NodeType {
	switch {
	case n.doc:
		return xpath.RootNode
	case n.attr >= 0:
		return xpath.AttributeNode
	case n.elem() == nil:
		return xpath.TextNode
	}
	return xpath.ElementNode
}

func (n *navigator) LocalName() string {
	e := n.elem()
	switch {
	case e == nil:
		return ""
	case n.attr >= 0:
		return e.Attrs[n.attr].Local
	}
	return e.Local
}

func (n *navigator) Prefix() string {
	if e := n.elem(); e != nil && n.attr >= 0 {
		return e.Attrs[n.attr].Prefix
	}
	return ""
}

// NamespaceURL returns the namespace URI; the xpath package uses it for prefixed name
// tests and namespace-uri().
func (n *navigator) NamespaceURL() string {
	e := n.elem()
	switch {
	case e == nil:
		return ""
	case n.attr >= 0:
		return e.Attrs[n.attr].Space
	}
	return e.Space
}

func (n *navigator) Value() string {
	if !n.arena.spend(1) {
		return ""
	}
	var e *inspect.Element
	switch {
	case n.doc:
		e = n.stanza
	case n.attr >= 0:
		return n.elem().Attrs[n.attr].Value
	default:
		switch x := n.node().(type) {
		case inspect.Text:
			return string(x)
		case *inspect.Element:
			e = x
		default:
			e = n.stanza
		}
	}
	// A string-value reads the whole subtree: it costs a step per node, so that comparing
	// every element with every other (//*[. = //*]) is bounded too. An element with one
	// text child (<body>) is the common case, and costs the step already taken.
	if len(e.Children) > 1 || (len(e.Children) == 1 && !isText(e.Children[0])) {
		if !n.arena.spend(countNodes(e, n.arena.left)) {
			return ""
		}
	}
	return stringValue(e)
}

func isText(n inspect.Node) bool {
	_, ok := n.(inspect.Text)
	return ok
}

// countNodes returns the number of nodes below e, counting no further than limit+1.
func countNodes(e *inspect.Element, limit int) int {
	n := 0
	var walk func(*inspect.Element)
	walk = func(e *inspect.Element) {
		for _, c := range e.Children {
			if n > limit {
				return
			}
			n++
			if ce, ok := c.(*inspect.Element); ok {
				walk(ce)
			}
		}
	}
	walk(e)
	return n
}

// stringValue is the XPath string-value of an element: all its descendant text.
func stringValue(e *inspect.Element) string {
	switch len(e.Children) {
	case 0:
		return ""
	case 1:
		if t, ok := e.Children[0].(inspect.Text); ok {
			return string(t) // the common case (<body>), without copying
		}
	}
	var b strings.Builder
	var walk func(*inspect.Element)
	walk = func(e *inspect.Element) {
		for _, c := range e.Children {
			switch x := c.(type) {
			case inspect.Text:
				b.WriteString(string(x))
			case *inspect.Element:
				walk(x)
			}
		}
	}
	walk(e)
	return b.String()
}

func (n *navigator) Copy() xpath.NodeNavigator {
	n.arena.spend(1) // copies are the arena's memory: they count, but must still be made
	c := n.arena.alloc()
	c.stanza, c.doc, c.attr, c.arena = n.stanza, n.doc, n.attr, n.arena
	c.frames = append(c.buf[:0], n.frames...)
	return c
}

func (n *navigator) MoveToRoot() {
	n.arena.spend(1)
	n.doc, n.frames, n.attr = true, n.frames[:0], -1
}

func (n *navigator) MoveToParent() bool {
	if !n.arena.spend(1) {
		return false
	}
	switch {
	case n.attr >= 0:
		n.attr = -1
	case n.doc:
		return false
	case len(n.frames) == 0:
		n.doc = true
	default:
		n.frames = n.frames[:len(n.frames)-1]
	}
	return true
}

func (n *navigator) MoveToNextAttribute() bool {
	if !n.arena.spend(1) {
		return false
	}
	e := n.elem()
	if e == nil || n.attr+1 >= len(e.Attrs) {
		return false
	}
	n.attr++
	return true
}

func (n *navigator) MoveToChild() bool {
	if !n.arena.spend(1) || n.attr >= 0 {
		return false
	}
	if n.doc {
		n.doc = false
		return true
	}
	e := n.elem()
	if e == nil || len(e.Children) == 0 {
		return false
	}
	n.frames = append(n.frames, frame{e, 0})
	return true
}

func (n *navigator) MoveToFirst() bool {
	if !n.arena.spend(1) || n.attr >= 0 || len(n.frames) == 0 || n.frames[len(n.frames)-1].i == 0 {
		return false
	}
	n.frames[len(n.frames)-1].i = 0
	return true
}

func (n *navigator) MoveToNext() bool {
	if !n.arena.spend(1) || n.attr >= 0 || len(n.frames) == 0 {
		return false
	}
	f := &n.frames[len(n.frames)-1]
	if f.i+1 >= len(f.parent.Children) {
		return false
	}
	f.i++
	return true
}

func (n *navigator) MoveToPrevious() bool {
	if !n.arena.spend(1) || n.attr >= 0 || len(n.frames) == 0 {
		return false
	}
	f := &n.frames[len(n.frames)-1]
	if f.i == 0 {
		return false
	}
	f.i--
	return true
}

func (n *navigator) MoveTo(other xpath.NodeNavigator) bool {
	o, ok := other.(*navigator)
	if !ok || o.stanza != n.stanza || !n.arena.spend(1) {
		return false
	}
	n.doc, n.attr = o.doc, o.attr
	n.frames = append(n.frames[:0], o.frames...)
	return true
}

// target is a node an action can change, taken from a navigator after a selection.
type target struct {
	elem   *inspect.Element // the element (or the attribute's owner); nil for a text node
	parent *inspect.Element // parent of the element or text node; nil for the stanza
	index  int              // position in parent.Children
	attr   int              // >= 0: the attribute elem.Attrs[attr]
}

// target returns where the navigator stands, or ok=false on the document root.
func (n *navigator) target() (t target, ok bool) {
	if n.doc {
		return t, false
	}
	t.attr = n.attr
	t.elem = n.elem()
	if len(n.frames) > 0 {
		f := n.frames[len(n.frames)-1]
		t.parent, t.index = f.parent, f.i
	}
	return t, true
}
