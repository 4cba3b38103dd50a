package inspect

import (
	"errors"
	"strings"
)

var errNotStanza = errors.New("inspect: record carries no stanza")

// Node is a child of an Element: either *Element or Text.
type Node interface{ isNode() }

// Text is character data, unescaped.
type Text string

func (Text) isNode()     {}
func (*Element) isNode() {}

// Attr is an attribute with its namespace resolved. Namespace declarations (xmlns,
// xmlns:p) are not kept as attributes: the serialiser writes the declarations it needs.
type Attr struct {
	Space  string // resolved namespace, "" for unprefixed attributes
	Local  string
	Prefix string // prefix as written, kept so output looks like input
	Value  string // unescaped
}

// Element is an XML element with resolved namespaces.
type Element struct {
	Space    string // resolved namespace URI
	Local    string
	Prefix   string // prefix as written, "" for the default namespace
	Attrs    []Attr
	Children []Node
}

// NewElement returns an element in namespace space with the given local name.
func NewElement(space, local string) *Element { return &Element{Space: space, Local: local} }

// Attr returns the value of the unprefixed attribute local, or "".
func (e *Element) Attr(local string) string {
	v, _ := e.LookupAttr("", local)
	return v
}

// LookupAttr returns the value of the attribute and whether it is present.
func (e *Element) LookupAttr(space, local string) (string, bool) {
	for _, a := range e.Attrs {
		if a.Local == local && a.Space == space {
			return a.Value, true
		}
	}
	return "", false
}

// SetAttr sets (or adds) the unprefixed attribute local. It returns e.
func (e *Element) SetAttr(local, value string) *Element {
	for i := range e.Attrs {
		if e.Attrs[i].Local == local && e.Attrs[i].Space == "" {
			e.Attrs[i].Value = value
			return e
		}
	}
	e.Attrs = append(e.Attrs, Attr{Local: local, Value: value})
	return e
}

// RemoveAttr removes the unprefixed attribute local, if present.
func (e *Element) RemoveAttr(local string) {
	out := e.Attrs[:0]
	for _, a := range e.Attrs {
		if !(a.Local == local && a.Space == "") {
			out = append(out, a)
		}
	}
	e.Attrs = out
}

// Append adds children and returns e.
func (e *Element) Append(children ...Node) *Element {
	e.Children = append(e.Children, children...)
	return e
}

// AppendText adds a text child and returns e.
func (e *Element) AppendText(s string) *Element {
	return e.Append(Text(s))
}

// Child returns the first child element with the given namespace and local name; an empty
// space matches any namespace. It returns nil when there is none.
func (e *Element) Child(space, local string) *Element {
	for _, c := range e.Children {
		if ce, ok := c.(*Element); ok && ce.Local == local && (space == "" || ce.Space == space) {
			return ce
		}
	}
	return nil
}

// Elements returns the child elements in order.
func (e *Element) Elements() []*Element {
	var out []*Element
	for _, c := range e.Children {
		if ce, ok := c.(*Element); ok {
			out = append(out, ce)
		}
	}
	return out
}

// FirstElement returns the first child element, or nil.
func (e *Element) FirstElement() *Element {
	for _, c := range e.Children {
		if ce, ok := c.(*Element); ok {
			return ce
		}
	}
	return nil
}

// Text returns the concatenated character data directly inside e.
func (e *Element) Text() string {
	var b strings.Builder
	for _, c := range e.Children {
		if t, ok := c.(Text); ok {
			b.WriteString(string(t))
		}
	}
	return b.String()
}

// SetText replaces all children with one text node.
func (e *Element) SetText(s string) { e.Children = []Node{Text(s)} }

// RemoveChild removes the child element c (compared by identity). It reports whether it
// was found.
func (e *Element) RemoveChild(c *Element) bool {
	for i, n := range e.Children {
		if n == Node(c) {
			e.Children = append(e.Children[:i], e.Children[i+1:]...)
			return true
		}
	}
	return false
}

// Copy returns a deep copy of e.
func (e *Element) Copy() *Element {
	c := *e
	c.Attrs = append([]Attr(nil), e.Attrs...)
	c.Children = make([]Node, len(e.Children))
	for i, n := range e.Children {
		if ce, ok := n.(*Element); ok {
			c.Children[i] = ce.Copy()
		} else {
			c.Children[i] = n
		}
	}
	return &c
}
