package server

import (
	"bytes"

	"github.com/stanzascope/stanzascope/inspect"
)

// kv is an attribute to write: an unprefixed name and an unescaped value.
type kv struct{ k, v string }

// restamp returns a copy of the stanza raw with its addressing rewritten by the server:
// the attributes named in lead are written first (in that order), the original attributes
// follow except those named in lead or tail, then tail; empty values are omitted (so an
// entry with an empty value just removes the attribute). extra is inserted just before the
// closing tag (for delay stamps). Everything else is copied byte for byte.
func restamp(raw []byte, lead, tail []kv, extra []byte) ([]byte, error) {
	// Rewriting only the start tag (rather than re-serialising a parsed tree) keeps
	// everything inside the stanza byte for byte as the sender wrote it: unknown extensions
	// and the sender's escaping pass through.
	var buf [8]inspect.TagAttr
	t, err := inspect.ScanStartTag(raw, buf[:0])
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(raw)+64+len(extra))
	out = append(out, raw[:t.NameEnd]...)
	for _, a := range lead {
		out = appendAttr(out, a.k, a.v)
	}
outer:
	for _, a := range t.Attrs {
		name := a.Name(raw)
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
		out = append(out, raw[a.Start:a.End]...)
	}
	for _, a := range tail {
		out = appendAttr(out, a.k, a.v)
	}
	name := t.Name(raw)
	if t.Empty {
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
	if closeAt < t.End {
		return nil, inspect.ErrBadTag
	}
	out = append(out, '>')
	out = append(out, raw[t.End:closeAt]...)
	out = append(out, extra...)
	return append(out, raw[closeAt:]...), nil
}
