package server

import (
	"bytes"
	"errors"
)

// errBadTag reports a stanza whose start tag could not be scanned. The reader has already
// checked well-formedness, so this only happens on bytes that did not come from it.
var errBadTag = errors.New("server: malformed start tag")

// rawAttr is one attribute of a start tag as written: its name and the byte span of
// " name='value'" (leading whitespace included), so it can be copied untouched.
type rawAttr struct {
	nameStart, nameEnd int
	start, end         int
}

// name returns the attribute's name as written.
func (a rawAttr) name(raw []byte) []byte { return raw[a.nameStart:a.nameEnd] }

// startTag describes the start tag of a raw stanza.
type startTag struct {
	nameEnd     int // raw[1:nameEnd] is the element name as written (with prefix)
	attrs       []rawAttr
	end         int  // raw[:end] is the whole start tag, '>' included
	selfClosing bool // the tag ends in "/>"
}

// scanStartTag scans the start tag at the beginning of raw. Rewriting only the start tag
// (rather than re-serialising a parsed tree) keeps everything inside the stanza byte for
// byte as the sender wrote it: unknown extensions and the sender's escaping pass through.
// The attributes are appended to buf; a caller's stack array as buf (most stanzas have few
// attributes) keeps the scan free of allocations, where a buffer inside startTag itself
// would move every scanned tag to the heap.
func scanStartTag(raw []byte, buf []rawAttr) (t startTag, err error) {
	t.attrs = buf[:0]
	if len(raw) < 3 || raw[0] != '<' {
		return t, errBadTag
	}
	i := 1
	for i < len(raw) && !isSpace(raw[i]) && raw[i] != '>' && raw[i] != '/' {
		i++
	}
	t.nameEnd = i
	if t.nameEnd == 1 {
		return t, errBadTag
	}
	for i < len(raw) {
		start := i
		for i < len(raw) && isSpace(raw[i]) {
			i++
		}
		if i >= len(raw) {
			return t, errBadTag
		}
		switch raw[i] {
		case '>':
			t.end = i + 1
			return t, nil
		case '/':
			if i+1 < len(raw) && raw[i+1] == '>' {
				t.end = i + 2
				t.selfClosing = true
				return t, nil
			}
			return t, errBadTag
		}
		if i == start {
			return t, errBadTag // attributes must be separated by whitespace
		}
		nameStart := i
		for i < len(raw) && raw[i] != '=' && !isSpace(raw[i]) && raw[i] != '>' && raw[i] != '/' {
			i++
		}
		nameEnd := i
		for i < len(raw) && isSpace(raw[i]) {
			i++
		}
		if i >= len(raw) || raw[i] != '=' || nameEnd == nameStart {
			return t, errBadTag
		}
		i++
		for i < len(raw) && isSpace(raw[i]) {
			i++
		}
		if i >= len(raw) || (raw[i] != '\'' && raw[i] != '"') {
			return t, errBadTag
		}
		q := raw[i]
		j := bytes.IndexByte(raw[i+1:], q)
		if j < 0 {
			return t, errBadTag
		}
		i += j + 2
		t.attrs = append(t.attrs, rawAttr{nameStart: nameStart, nameEnd: nameEnd, start: start, end: i})
	}
	return t, errBadTag
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// kv is an attribute to write: an unprefixed name and an unescaped value.
type kv struct{ k, v string }

// restamp returns a copy of the stanza raw with its addressing rewritten by the server:
// the attributes named in lead are written first (in that order), the original attributes
// follow except those named in lead or tail, then tail; empty values are omitted (so an
// entry with an empty value just removes the attribute). extra is inserted just before the
// closing tag (for delay stamps). Everything else is copied byte for byte.
func restamp(raw []byte, lead, tail []kv, extra []byte) ([]byte, error) {
	var buf [8]rawAttr
	t, err := scanStartTag(raw, buf[:0])
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(raw)+64+len(extra))
	out = append(out, raw[:t.nameEnd]...)
	for _, a := range lead {
		out = appendAttr(out, a.k, a.v)
	}
outer:
	for _, a := range t.attrs {
		name := a.name(raw)
		for _, l := range lead {
			if string(name) == l.k {
				continue outer
			}
		}
		for _, l := range tail {
			if string(name) == l.k {
				continue outer
			}
		}
		out = append(out, raw[a.start:a.end]...)
	}
	for _, a := range tail {
		out = appendAttr(out, a.k, a.v)
	}
	name := raw[1:t.nameEnd]
	if t.selfClosing {
		if len(extra) == 0 {
			return append(out, "/>"...), nil
		}
		out = append(out, '>')
		out = append(out, extra...)
		out = append(out, "</"...)
		out = append(out, name...)
		return append(out, '>'), nil
	}
	closeAt := bytes.LastIndex(raw, []byte("</"))
	if closeAt < t.end {
		return nil, errBadTag
	}
	out = append(out, '>')
	out = append(out, raw[t.end:closeAt]...)
	out = append(out, extra...)
	return append(out, raw[closeAt:]...), nil
}
