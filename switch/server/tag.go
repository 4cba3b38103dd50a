package server

import (
	"bytes"
	"errors"

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

// stamped is a routed message with the from its sender gets (restamp with that one tail
// attribute, byte for byte), not yet written anywhere: a session of this process writes
// it straight into its outbox's buffer (conn.deliverStamped), so routing a message to a
// local session makes no slice of its own. A slice is made, once, only for what must
// keep the message past the sender's read (a session elsewhere, the offline store; see
// bytes). raw is the reader's, valid during the routing only. The start tag is kept as
// offsets, not as the scanner's attribute list: a view on a buffer of the router's would
// move that buffer to the heap, since the made slice escapes through Session.Deliver.
type stamped struct {
	raw  []byte
	from string // the attribute as written: " from='...'" (escaped)
	// The stanza is raw[:cut] raw[cutEnd:attrEnd] from, then "/>" (empty) or '>' raw[end:]:
	// raw[cut:cutEnd] is the sender's own from attribute, if any (else cut = cutEnd =
	// attrEnd), raw[:attrEnd] the start tag up to the end of its last attribute.
	cut, cutEnd, attrEnd, end int
	empty                     bool
	size                      int    // len of the stamped stanza
	b                         []byte // the stamped stanza once made (or given: ready)
}

// errTwoFroms: a start tag with two from attributes, which the reader refuses (a
// duplicate attribute) before the router sees it.
var errTwoFroms = errors.New("server: two from attributes")

// stampFrom returns raw stamped with from, the whole attribute as appendAttr writes it
// (conn.fromAttr), or the error restamp would return (or errTwoFroms, where restamp
// would drop both).
func stampFrom(raw []byte, from string) (stamped, error) {
	var buf [8]inspect.TagAttr
	t, err := inspect.ScanStartTag(raw, buf[:0])
	if err != nil {
		return stamped{}, err
	}
	s := stamped{raw: raw, from: from, attrEnd: t.NameEnd, end: t.End, empty: t.Empty}
	if n := len(t.Attrs); n > 0 {
		s.attrEnd = t.Attrs[n-1].End // attributes follow each other: a.Start is the last one's End
	}
	s.cut, s.cutEnd = s.attrEnd, s.attrEnd
	for _, a := range t.Attrs {
		if string(a.Name(raw)) != "from" {
			continue
		}
		if s.cut != s.attrEnd {
			return stamped{}, errTwoFroms
		}
		s.cut, s.cutEnd = a.Start, a.End
	}
	s.size = s.attrEnd - (s.cutEnd - s.cut) + len(from)
	if t.Empty {
		s.size += len("/>")
		return s, nil
	}
	// The closing tag is the last '<' of a stanza the reader framed: restamp's search for
	// the last "</" in one step, or that search when it is not.
	closeAt := bytes.LastIndexByte(raw, '<')
	if closeAt < 0 || closeAt+1 >= len(raw) || raw[closeAt+1] != '/' {
		closeAt = bytes.LastIndex(raw, []byte("</"))
	}
	if closeAt < t.End {
		return stamped{}, inspect.ErrBadTag
	}
	s.size += 1 + len(raw) - t.End
	return s, nil
}

// ready returns a stamped message for a stanza already stamped (one that was kept).
func ready(b []byte) stamped { return stamped{b: b, size: len(b)} }

// appendTo appends the stamped stanza to dst.
func (s *stamped) appendTo(dst []byte) []byte {
	if s.b != nil {
		return append(dst, s.b...)
	}
	raw := s.raw
	dst = append(dst, raw[:s.cut]...)
	dst = append(dst, raw[s.cutEnd:s.attrEnd]...)
	dst = append(dst, s.from...)
	if s.empty {
		return append(dst, "/>"...)
	}
	dst = append(dst, '>')
	return append(dst, raw[s.end:]...)
}

// bytes returns the stamped stanza as a slice of its own, made at the first call.
func (s *stamped) bytes() []byte {
	if s.b == nil {
		s.b = s.appendTo(make([]byte, 0, s.size))
	}
	return s.b
}

// deliverStamped hands s to sess: into its outbox's buffer if it is a session of this
// process, else as a slice of its own (Session.Deliver), which is also how a slice already
// made is handed to every session (without a copy).
func deliverStamped(sess Session, s *stamped) bool {
	if c, ok := sess.(*conn); ok && s.b == nil {
		return c.deliverStamped(s)
	}
	return sess.Deliver(s.bytes())
}
