package inspect

import (
	"bytes"
	"errors"
)

// This file is stanzascope's one start-tag scanner. The Reader checks a stream as it
// arrives; everything that later needs a stanza's name or attributes without a tree (the
// switch rewriting addresses, the redactor, the proxy naming what it wrote, the capture path
// resynchronising, TopAttr) scans the start tag here.

// ErrBadTag reports bytes that do not begin with a complete, well-formed start tag.
var ErrBadTag = errors.New("inspect: malformed start tag")

// TagAttr is one attribute of a start tag as written, as offsets into the scanned bytes so
// that it can be copied untouched.
type TagAttr struct {
	Start      int // raw[Start:End] is " name='value'", the whitespace before it included
	NameStart  int // raw[NameStart:NameEnd] is the qualified name
	NameEnd    int
	ValueStart int // raw[ValueStart:ValueEnd] is the value as written (not unescaped)
	ValueEnd   int
	End        int // just after the closing quote
}

// Name returns the attribute's qualified name as written (a view on raw).
func (a TagAttr) Name(raw []byte) []byte { return raw[a.NameStart:a.NameEnd] }

// Value returns the attribute's value as written, entities not expanded (a view on raw).
func (a TagAttr) Value(raw []byte) []byte { return raw[a.ValueStart:a.ValueEnd] }

// Quote returns the quote character around the value.
func (a TagAttr) Quote(raw []byte) byte { return raw[a.ValueEnd] }

// StartTag describes the start tag at the beginning of scanned bytes.
type StartTag struct {
	NameEnd int       // raw[1:NameEnd] is the element's qualified name as written
	Attrs   []TagAttr // in the order written
	End     int       // raw[:End] is the whole start tag, '>' included
	Empty   bool      // the tag ends in "/>"
}

// Name returns the element's qualified name as written (a view on raw).
func (t StartTag) Name(raw []byte) []byte { return raw[1:t.NameEnd] }

// Local returns the element's local name: its name without a prefix (a view on raw).
func (t StartTag) Local(raw []byte) []byte { return LocalName(raw[1:t.NameEnd]) }

// Attr returns the value as written of the attribute whose qualified name is name.
func (t StartTag) Attr(raw []byte, name string) (value []byte, ok bool) {
	for _, a := range t.Attrs {
		if string(a.Name(raw)) == name {
			return a.Value(raw), true
		}
	}
	return nil, false
}

// ScanStartTag scans the start tag at the beginning of raw (raw[0] is '<'). It is a
// scanner, not a validator: it finds the name, each attribute and the end of the tag, and
// returns ErrBadTag for bytes that are not a complete start tag. The attributes are
// appended to buf; a caller's stack array as buf (most stanzas have few attributes) keeps
// the scan free of allocations.
func ScanStartTag(raw []byte, buf []TagAttr) (StartTag, error) {
	return scanStartTag(raw, buf, true)
}

// scanStartTag is ScanStartTag; without keep it only finds the name and the end.
func scanStartTag(raw []byte, buf []TagAttr, keep bool) (t StartTag, err error) {
	t.Attrs = buf[:0]
	if len(raw) < 3 || raw[0] != '<' {
		return t, ErrBadTag
	}
	name, complete := TagName(raw)
	if !complete || len(name) == 0 {
		return t, ErrBadTag
	}
	t.NameEnd = 1 + len(name)
	for i := t.NameEnd; ; {
		a, next, end, err := scanAttr(raw, i)
		if err != nil {
			return t, err
		}
		if end > 0 {
			t.End, t.Empty = end, raw[end-2] == '/'
			return t, nil
		}
		if keep {
			t.Attrs = append(t.Attrs, a)
		}
		i = next
	}
}

// scanAttr scans what follows offset i of a start tag: one attribute (returned with the
// offset after it), or the tag's end (end is the offset just after its '>').
func scanAttr(raw []byte, i int) (a TagAttr, next, end int, err error) {
	start := i
	for i < len(raw) && isSpace(raw[i]) {
		i++
	}
	if i >= len(raw) {
		return a, 0, 0, ErrBadTag
	}
	switch raw[i] {
	case '>':
		return a, 0, i + 1, nil
	case '/':
		if i+1 < len(raw) && raw[i+1] == '>' {
			return a, 0, i + 2, nil
		}
		return a, 0, 0, ErrBadTag
	}
	if i == start {
		return a, 0, 0, ErrBadTag // attributes are separated by whitespace
	}
	a.Start, a.NameStart = start, i
	for i < len(raw) && raw[i] != '=' && !isSpace(raw[i]) && raw[i] != '>' && raw[i] != '/' {
		i++
	}
	a.NameEnd = i
	for i < len(raw) && isSpace(raw[i]) {
		i++
	}
	if i >= len(raw) || raw[i] != '=' || a.NameEnd == a.NameStart {
		return a, 0, 0, ErrBadTag
	}
	i++
	for i < len(raw) && isSpace(raw[i]) {
		i++
	}
	if i >= len(raw) || (raw[i] != '\'' && raw[i] != '"') {
		return a, 0, 0, ErrBadTag
	}
	j := bytes.IndexByte(raw[i+1:], raw[i])
	if j < 0 {
		return a, 0, 0, ErrBadTag
	}
	a.ValueStart, a.ValueEnd = i+1, i+1+j
	a.End = a.ValueEnd + 1
	return a, a.End, 0, nil
}

// eachAttr calls fn with each attribute of the start tag st as written: its qualified
// name, its value (not unescaped) and the quote character, until fn returns false. It
// stops quietly at anything malformed.
func eachAttr(st []byte, fn func(name, value []byte, quote byte) bool) {
	name, _ := TagName(st)
	for i := 1 + len(name); ; {
		a, next, end, err := scanAttr(st, i)
		if err != nil || end > 0 || !fn(a.Name(st), a.Value(st), a.Quote(st)) {
			return
		}
		i = next
	}
}

// TagName returns the qualified name of the tag that b starts with ('<' or '</' at b[0]),
// as written, and whether the bytes after it show that it is complete (whitespace, '>' or
// '/' follows). A name cut by the end of b is not complete; more bytes may extend it.
func TagName(b []byte) (name []byte, complete bool) {
	i := 1
	if len(b) > 1 && b[1] == '/' {
		i = 2
	}
	start := i
	for i < len(b) && (nameByte[b[i]] || b[i] >= 0x80) {
		i++
	}
	if i >= len(b) {
		return b[start:i], false
	}
	c := b[i]
	return b[start:i], isSpace(c) || c == '>' || c == '/'
}

// LocalName returns the local part of a qualified name (after its prefix, if any).
func LocalName(qname []byte) []byte {
	if i := bytes.IndexByte(qname, ':'); i >= 0 {
		return qname[i+1:]
	}
	return qname
}

// FirstStartTag returns the offset of the first start tag in raw, after whitespace, an XML
// declaration, comments and processing instructions, or -1 when there is none.
func FirstStartTag(raw []byte) int {
	for i := 0; i < len(raw); {
		switch {
		case isSpace(raw[i]):
			i++
		case raw[i] != '<' || i+1 >= len(raw):
			return -1
		case raw[i+1] == '?':
			k := bytes.Index(raw[i:], []byte("?>"))
			if k < 0 {
				return -1
			}
			i += k + 2
		case bytes.HasPrefix(raw[i:], []byte("<!--")):
			k := bytes.Index(raw[i+4:], []byte("-->"))
			if k < 0 {
				return -1
			}
			i += 4 + k + 3
		case raw[i+1] == '!' || raw[i+1] == '/':
			return -1
		default:
			return i
		}
	}
	return -1
}

// TopName returns the local name of the first element of raw (after whitespace and an XML
// declaration), or "" when raw holds none.
func TopName(raw []byte) string {
	i := FirstStartTag(raw)
	if i < 0 {
		return ""
	}
	name, _ := TagName(raw[i:])
	return internName(LocalName(name))
}
