package inspect

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// ParseElement parses one element (a stanza's raw bytes) into a tree, resolving namespaces
// with ctx (the stream header in force; nil means jabber:client with the stream prefix).
//
// raw is expected to come from a Reader, which has checked it; ParseElement still returns an
// error, never panics, on anything it cannot make sense of. What a reader in annotate mode
// lets through and a tree can still hold is kept: comments and processing instructions are
// left out, and a reference that is not one of the five entities or a valid character
// reference stays as written. Use ParseFragment for text from elsewhere. The tree's strings share one copy of raw, and its elements, attributes and
// child lists are carved from a few slabs, so a stanza costs a handful of allocations.
func ParseElement(raw []byte, ctx *Header) (*Element, error) {
	if ctx == nil {
		ctx = defaultHeader
	}
	p := treeParser{s: string(raw), ctx: ctx}
	lt := strings.Count(p.s, "<")
	p.elems = make([]Element, 0, max(1, lt-strings.Count(p.s, "</")))
	p.attrSlab = make([]Attr, 0, strings.Count(p.s, "="))
	p.nodeSlab = make([]Node, 0, 2*lt)
	p.scopes = append(p.scopes, nsBinding{"", ctx.ContentNS})
	p.skipSpace()
	if p.i >= len(p.s) || p.s[p.i] != '<' {
		return nil, p.errorf("expected '<'")
	}
	el, err := p.element(0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.i != len(p.s) {
		return nil, p.errorf("trailing data after the element")
	}
	return el, nil
}

// ParseFragment parses text holding exactly one element, with the same checks as a stream
// (well-formedness, restricted XML), in the jabber:client namespace by default.
func ParseFragment(text string) (*Element, error) {
	rd := NewFragmentReader(strings.NewReader(text), nil, Limits{})
	var el *Element
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if ev.Kind != KindStanza {
			continue
		}
		if el != nil {
			return nil, errors.New("inspect: more than one element in fragment")
		}
		if el, err = ParseElement(ev.Raw, nil); err != nil {
			return nil, err
		}
	}
	if el == nil {
		return nil, errors.New("inspect: no element in fragment")
	}
	return el, nil
}

type nsBinding struct{ prefix, space string }

// treeParser builds an Element tree from checked bytes.
type treeParser struct {
	s      string // the stanza; names, values and text are substrings of it when unescaped
	i      int
	ctx    *Header
	scopes []nsBinding

	elems    []Element // slabs the tree is carved from
	attrSlab []Attr
	nodeSlab []Node
	pending  []Node // children of the open elements, innermost last
	attrs    []treeAttr
}

type treeAttr struct{ prefix, local, value string }

func (p *treeParser) errorf(format string, args ...any) error {
	return fmt.Errorf("inspect: parse element at byte %d: %s", p.i, fmt.Sprintf(format, args...))
}

func (p *treeParser) skipSpace() {
	for p.i < len(p.s) && isSpace(p.s[p.i]) {
		p.i++
	}
}

func (p *treeParser) name() (prefix, local string, err error) {
	start := p.i
	for p.i < len(p.s) && nameByte[p.s[p.i]] {
		p.i++
	}
	if p.i == start {
		return "", "", p.errorf("expected a name")
	}
	q := p.s[start:p.i]
	if c := strings.IndexByte(q, ':'); c >= 0 {
		return q[:c], q[c+1:], nil
	}
	return "", q, nil
}

func (p *treeParser) lookup(prefix string) (string, bool) {
	for k := len(p.scopes) - 1; k >= 0; k-- {
		if p.scopes[k].prefix == prefix {
			return p.scopes[k].space, true
		}
	}
	if prefix == "xml" {
		return NSXML, true
	}
	if v, ok := p.ctx.NS[prefix]; ok && prefix != "" {
		return v, true
	}
	return "", false
}

// unescape returns s[a:b] with references replaced, sharing p.s when there are none. A
// reference that is not one of the five entities or a valid character reference stays as
// written.
func (p *treeParser) unescape(a, b int) (string, error) {
	v := p.s[a:b]
	if strings.IndexByte(v, '&') < 0 {
		return v, nil
	}
	return string(appendUnescaped(nil, []byte(v))), nil
}

func (p *treeParser) newElement() *Element {
	if len(p.elems) < cap(p.elems) {
		p.elems = p.elems[:len(p.elems)+1]
		return &p.elems[len(p.elems)-1]
	}
	return new(Element)
}

const maxTreeDepth = 1024 // a hard stop for input that did not come through a Reader

// element parses from '<' to the end of the element.
func (p *treeParser) element(depth int) (*Element, error) {
	if depth > maxTreeDepth {
		return nil, p.errorf("elements nested too deep")
	}
	p.i++ // '<'
	prefix, local, err := p.name()
	if err != nil {
		return nil, err
	}
	attrs := p.attrs[:0]
	empty := false
	for {
		p.skipSpace()
		if p.i >= len(p.s) {
			return nil, p.errorf("unterminated start tag")
		}
		c := p.s[p.i]
		if c == '>' {
			p.i++
			break
		}
		if c == '/' {
			if p.i+1 >= len(p.s) || p.s[p.i+1] != '>' {
				return nil, p.errorf("expected '/>'")
			}
			p.i += 2
			empty = true
			break
		}
		ap, al, err := p.name()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.i >= len(p.s) || p.s[p.i] != '=' {
			return nil, p.errorf("expected '='")
		}
		p.i++
		p.skipSpace()
		if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
			return nil, p.errorf("expected a quoted value")
		}
		q := p.s[p.i]
		p.i++
		end := strings.IndexByte(p.s[p.i:], q)
		if end < 0 {
			return nil, p.errorf("unterminated attribute value")
		}
		val, err := p.unescape(p.i, p.i+end)
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, treeAttr{ap, al, val})
		p.i += end + 1
	}
	p.attrs = attrs

	mark := len(p.scopes)
	nattr := 0
	for _, a := range attrs {
		switch {
		case a.prefix == "" && a.local == "xmlns":
			p.scopes = append(p.scopes, nsBinding{"", a.value})
		case a.prefix == "xmlns":
			p.scopes = append(p.scopes, nsBinding{a.local, a.value})
		default:
			nattr++
		}
	}
	el := p.newElement()
	el.Local, el.Prefix = local, prefix
	var ok bool
	if el.Space, ok = p.lookup(prefix); !ok {
		return nil, p.errorf("namespace prefix %q is not declared", prefix)
	}
	if nattr > 0 {
		el.Attrs = p.takeAttrs(nattr)
		for _, a := range attrs {
			if a.local == "xmlns" && a.prefix == "" || a.prefix == "xmlns" {
				continue
			}
			at := Attr{Local: a.local, Prefix: a.prefix, Value: a.value}
			if a.prefix != "" {
				if at.Space, ok = p.lookup(a.prefix); !ok {
					return nil, p.errorf("namespace prefix %q is not declared", a.prefix)
				}
			}
			el.Attrs = append(el.Attrs, at)
		}
	}
	if !empty {
		if err := p.content(el, depth); err != nil {
			return nil, err
		}
	}
	p.scopes = p.scopes[:mark]
	return el, nil
}

// takeAttrs returns an empty slice with room for n attributes, from the slab when it can.
func (p *treeParser) takeAttrs(n int) []Attr {
	if len(p.attrSlab)+n <= cap(p.attrSlab) {
		k := len(p.attrSlab)
		p.attrSlab = p.attrSlab[:k+n]
		return p.attrSlab[k : k : k+n]
	}
	return make([]Attr, 0, n)
}

// takeNodes copies children into the slab and returns them.
func (p *treeParser) takeNodes(children []Node) []Node {
	n := len(children)
	if len(p.nodeSlab)+n <= cap(p.nodeSlab) {
		k := len(p.nodeSlab)
		p.nodeSlab = append(p.nodeSlab, children...)
		return p.nodeSlab[k : k+n : k+n]
	}
	return append([]Node(nil), children...)
}

// content parses children up to and including el's end tag.
func (p *treeParser) content(el *Element, depth int) error {
	base := len(p.pending)
	textStart, textEnd := -1, -1 // a text run still shared with p.s
	var text []byte              // a text run that needed unescaping or joins CDATA
	flush := func() {
		switch {
		case text != nil:
			p.pending = append(p.pending, Text(text))
		case textStart >= 0:
			p.pending = append(p.pending, Text(p.s[textStart:textEnd]))
		}
		text, textStart = nil, -1
	}
	addText := func(a, b int, raw bool) {
		if textStart < 0 && text == nil && (raw || strings.IndexByte(p.s[a:b], '&') < 0) {
			textStart, textEnd = a, b
			return
		}
		if text == nil && textStart >= 0 {
			text = append([]byte(nil), p.s[textStart:textEnd]...)
			textStart = -1
		}
		if raw {
			text = append(text, p.s[a:b]...)
		} else {
			text = appendUnescaped(text, []byte(p.s[a:b]))
		}
	}
	for {
		if p.i >= len(p.s) {
			return p.errorf("unterminated element <%s>", el.Local)
		}
		if p.s[p.i] != '<' {
			end := strings.IndexByte(p.s[p.i:], '<')
			if end < 0 {
				end = len(p.s) - p.i
			}
			addText(p.i, p.i+end, false)
			p.i += end
			continue
		}
		rest := p.s[p.i:]
		switch {
		case strings.HasPrefix(rest, "</"):
			flush()
			p.i += 2
			prefix, local, err := p.name()
			if err != nil {
				return err
			}
			if local != el.Local || prefix != el.Prefix {
				return p.errorf("end tag does not match <%s>", el.Local)
			}
			p.skipSpace()
			if p.i >= len(p.s) || p.s[p.i] != '>' {
				return p.errorf("expected '>'")
			}
			p.i++
			if len(p.pending) > base {
				el.Children = p.takeNodes(p.pending[base:])
				p.pending = p.pending[:base]
			}
			return nil
		case strings.HasPrefix(rest, "<![CDATA["):
			end := strings.Index(rest, "]]>")
			if end < 0 {
				return p.errorf("unterminated CDATA section")
			}
			addText(p.i+len("<![CDATA["), p.i+end, true)
			p.i += end + len("]]>")
		case strings.HasPrefix(rest, "<!--"):
			end := strings.Index(rest[4:], "-->")
			if end < 0 {
				return p.errorf("unterminated comment")
			}
			p.i += 4 + end + len("-->")
		case strings.HasPrefix(rest, "<?"):
			end := strings.Index(rest, "?>")
			if end < 0 {
				return p.errorf("unterminated processing instruction")
			}
			p.i += end + len("?>")
		case len(rest) > 1 && rest[1] == '!':
			return p.errorf("DTDs are not allowed")
		default:
			flush()
			child, err := p.element(depth + 1)
			if err != nil {
				return err
			}
			p.pending = append(p.pending, child)
		}
	}
}

// unescapeBytes returns b with entity and character references replaced. It returns b
// itself when there is nothing to replace.
func unescapeBytes(b []byte) []byte {
	if len(b) <= 32 {
		// Most are attribute values (an id, a type, a JID): looked through byte by byte,
		// which costs less than a call to bytes.IndexByte (the JSON log unescapes four of
		// them for every stanza).
		for _, c := range b {
			if c == '&' {
				return appendUnescaped(nil, b)
			}
		}
		return b
	}
	if bytes.IndexByte(b, '&') < 0 {
		return b
	}
	return appendUnescaped(nil, b)
}

// appendUnescaped appends b to dst with references replaced; an unknown reference is kept
// as written.
func appendUnescaped(dst, b []byte) []byte {
	for {
		k := bytes.IndexByte(b, '&')
		if k < 0 {
			return append(dst, b...)
		}
		dst = append(dst, b[:k]...)
		b = b[k:]
		end := bytes.IndexByte(b, ';')
		if end < 0 || end > maxEntity {
			dst = append(dst, '&')
			b = b[1:]
			continue
		}
		name := b[1:end]
		switch string(name) {
		case "lt":
			dst = append(dst, '<')
		case "gt":
			dst = append(dst, '>')
		case "amp":
			dst = append(dst, '&')
		case "apos":
			dst = append(dst, '\'')
		case "quot":
			dst = append(dst, '"')
		default:
			if c, ok := charRef(name[min(1, len(name)):]); ok && len(name) > 0 && name[0] == '#' {
				dst = utf8.AppendRune(dst, c)
			} else {
				dst = append(dst, b[:end+1]...)
			}
		}
		b = b[end+1:]
	}
}

// TopAttr returns the value of the unprefixed attribute local on the top-level start tag of
// raw (unescaped), or "" when absent. It does not build a tree.
func TopAttr(raw []byte, local string) string {
	v, ok := RawAttr(raw, local)
	if !ok {
		return ""
	}
	return string(unescapeBytes(v))
}

// RawAttr returns the value as written (entities not expanded; a view on raw) of the
// attribute whose qualified name is name on the first start tag of raw, and whether it is
// there. It does not allocate.
func RawAttr(raw []byte, name string) ([]byte, bool) {
	i := FirstStartTag(raw)
	if i < 0 {
		return nil, false
	}
	raw = raw[i:]
	qname, complete := TagName(raw)
	if !complete || len(qname) == 0 {
		return nil, false
	}
	for i = 1 + len(qname); ; {
		a, next, end, err := scanAttr(raw, i)
		if err != nil || end > 0 {
			return nil, false
		}
		if string(a.Name(raw)) == name {
			return a.Value(raw), true
		}
		i = next
	}
}
