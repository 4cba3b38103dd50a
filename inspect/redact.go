package inspect

import (
	"bytes"
	"strconv"
	"strings"
)

// Namespaces whose elements can carry credentials.
const (
	nsMUC = "http://jabber.org/protocol/muc"
)

// Redact returns raw with the credentials it carries replaced by "[redacted N bytes]":
// the payload of SASL <auth> and <response> (urn:ietf:params:xml:ns:xmpp-sasl), <password>
// and <digest> inside jabber:iq:auth and jabber:iq:register queries, and a multi-user chat
// room <password> in a presence. h is the stream header in force (nil: jabber:client); it
// resolves the namespace of the top-level element. The bool reports whether anything was
// replaced; when it is false the returned slice is raw itself.
//
// Redact works on the bytes (it builds no tree), so everything but the secret stays exactly
// as it travelled, and it is idempotent: a redacted stanza redacts to itself.
func Redact(raw []byte, h *Header) ([]byte, bool) {
	t, ok := firstStart(raw)
	if !ok {
		return raw, false
	}
	return redactTop(raw, t, elemNS(raw, t, h))
}

// RedactRecord returns the bytes a printer should show for r.Raw: redacted when r is a
// stanza that can carry credentials. It looks at r.Name and r.NS first, so stanzas that
// cannot hold secrets cost nothing.
func RedactRecord(r *Record) ([]byte, bool) { return redactFor(r, r.Raw) }

// redactFor redacts raw (r.Raw or r.Original) using r's name and namespace as a pre-check.
func redactFor(r *Record, raw []byte) ([]byte, bool) {
	if r.Kind != KindStanza || !mayHoldSecret(r.Name, r.NS) {
		return raw, false
	}
	return Redact(raw, r.Header)
}

// mayHoldSecret is the cheap test done before looking at the bytes.
func mayHoldSecret(name, ns string) bool {
	switch name {
	case "auth", "response":
		return ns == NSSASL || ns == ""
	case "iq", "presence":
		return true
	}
	return false
}

func redactTop(raw []byte, t tag, ns string) ([]byte, bool) {
	switch local := string(localBytes(t.name)); {
	case ns == NSSASL && (local == "auth" || local == "response"):
		if t.kind != tagStart {
			return raw, false
		}
		end := bytes.LastIndex(raw, []byte("</"))
		if end < t.end {
			return raw, false
		}
		return replaceContent(raw, t.end, end)
	case local == "iq":
		if !bytes.Contains(raw, []byte(NSAuth)) && !bytes.Contains(raw, []byte(NSRegister)) {
			return raw, false
		}
		return redactElements(raw, t.end, "password", "digest")
	case local == "presence":
		if !bytes.Contains(raw, []byte(nsMUC)) {
			return raw, false
		}
		return redactElements(raw, t.end, "password", "")
	}
	return raw, false
}

// replaceContent replaces raw[from:to] with the redaction marker.
func replaceContent(raw []byte, from, to int) ([]byte, bool) {
	content := raw[from:to]
	if len(bytes.TrimSpace(content)) == 0 || string(content) == "=" || isMarker(content) {
		return raw, false
	}
	out := make([]byte, 0, len(raw))
	out = append(out, raw[:from]...)
	out = appendMarker(out, len(content))
	return append(out, raw[to:]...), true
}

func appendMarker(dst []byte, n int) []byte {
	dst = append(dst, "[redacted "...)
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, " bytes]"...)
}

// isMarker reports whether b is exactly a redaction marker, so Redact is idempotent.
func isMarker(b []byte) bool {
	rest, ok := bytes.CutPrefix(b, []byte("[redacted "))
	if !ok {
		return false
	}
	digits, ok := bytes.CutSuffix(rest, []byte(" bytes]"))
	if !ok || len(digits) == 0 {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// redactElements replaces the content of every element below the top whose local name is
// a or b (b may be ""), and the <value/> of a data form field named "password" (XEP-0077
// extensible registration). from is the offset just after the top-level start tag.
func redactElements(raw []byte, from int, a, b string) ([]byte, bool) {
	var out []byte
	copied := 0 // raw[:copied] is already in out
	inPasswordField := false
	for i := from; ; {
		t, ok := nextTag(raw, i)
		if !ok {
			break
		}
		i = t.end
		l := localBytes(t.name)
		if t.kind == tagEnd && string(l) == "field" {
			inPasswordField = false
		}
		if t.kind != tagStart {
			continue
		}
		if string(l) == "field" {
			v, _ := rawAttr(raw[t.start:t.end], "var")
			inPasswordField = v == "password"
			continue
		}
		if string(l) != a && (b == "" || string(l) != b) && !(inPasswordField && string(l) == "value") {
			continue
		}
		end, ok := matchingEnd(raw, t.end)
		if !ok {
			break
		}
		content := raw[t.end:end]
		if len(content) > 0 && !isMarker(content) {
			out = append(out, raw[copied:t.end]...)
			out = appendMarker(out, len(content))
			copied = end
		}
		i = end
	}
	if out == nil {
		return raw, false
	}
	return append(out, raw[copied:]...), true
}

// matchingEnd returns the offset of the end tag closing the element whose content starts
// at from.
func matchingEnd(raw []byte, from int) (int, bool) {
	depth := 0
	for i := from; ; {
		t, ok := nextTag(raw, i)
		if !ok {
			return 0, false
		}
		switch t.kind {
		case tagStart:
			depth++
		case tagEnd:
			if depth == 0 {
				return t.start, true
			}
			depth--
		}
		i = t.end
	}
}

type tagKind uint8

const (
	tagStart tagKind = iota + 1
	tagEnd
	tagEmpty
	tagOther // CDATA section, comment, processing instruction, declaration
)

// tag is one piece of markup found by nextTag: raw[start:end] is all of it.
type tag struct {
	start, end int
	kind       tagKind
	name       []byte // qualified name as written, for start, end and empty tags (a view)
}

// nextTag finds the next markup at or after offset i. It is a scanner, not a parser: it
// trusts that the reader already checked well-formedness, and stops (ok false) at anything
// unterminated.
func nextTag(raw []byte, i int) (t tag, ok bool) {
	if i >= len(raw) {
		return t, false
	}
	j := bytes.IndexByte(raw[i:], '<')
	if j < 0 {
		return t, false
	}
	t.start = i + j
	rest := raw[t.start:]
	skipTo := func(prefix, term string) (tag, bool) {
		k := bytes.Index(rest[len(prefix):], []byte(term))
		if k < 0 {
			return t, false
		}
		t.kind, t.end = tagOther, t.start+len(prefix)+k+len(term)
		return t, true
	}
	switch {
	case bytes.HasPrefix(rest, []byte("<![CDATA[")):
		return skipTo("<![CDATA[", "]]>")
	case bytes.HasPrefix(rest, []byte("<!--")):
		return skipTo("<!--", "-->")
	case bytes.HasPrefix(rest, []byte("<?")):
		return skipTo("<?", "?>")
	case bytes.HasPrefix(rest, []byte("<!")):
		return skipTo("<!", ">")
	case bytes.HasPrefix(rest, []byte("</")):
		k := bytes.IndexByte(rest, '>')
		if k < 0 {
			return t, false
		}
		t.kind, t.end = tagEnd, t.start+k+1
		t.name = bytes.TrimSpace(rest[2:k])
		return t, true
	}
	n := 1
	for n < len(rest) && !isNameEnd(rest[n]) {
		n++
	}
	t.name = rest[1:n]
	var quote byte
	for k := n; k < len(rest); k++ {
		c := rest[k]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			t.kind, t.end = tagStart, t.start+k+1
			if rest[k-1] == '/' {
				t.kind = tagEmpty
			}
			return t, true
		}
	}
	return t, false
}

func isNameEnd(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '/' || c == '>'
}

// firstStart returns the first start or empty tag of raw (skipping an XML declaration).
func firstStart(raw []byte) (tag, bool) {
	for i := 0; ; {
		t, ok := nextTag(raw, i)
		if !ok {
			return t, false
		}
		if t.kind == tagStart || t.kind == tagEmpty {
			return t, true
		}
		i = t.end
	}
}

// localBytes is localName without a copy.
func localBytes(qname []byte) []byte {
	if i := bytes.IndexByte(qname, ':'); i >= 0 {
		return qname[i+1:]
	}
	return qname
}

func localName(qname string) string {
	if i := strings.IndexByte(qname, ':'); i >= 0 {
		return qname[i+1:]
	}
	return qname
}

func prefixOf(qname string) string {
	if i := strings.IndexByte(qname, ':'); i >= 0 {
		return qname[:i]
	}
	return ""
}

// elemNS resolves the namespace of the start tag t from its own declarations, then the
// stream header.
func elemNS(raw []byte, t tag, h *Header) string {
	p := prefixOf(string(t.name))
	decl := "xmlns"
	if p != "" {
		decl = "xmlns:" + p
	}
	if v, ok := rawAttr(raw[t.start:t.end], decl); ok {
		return v
	}
	if h == nil {
		if p == "" {
			return NSClient
		}
		if p == "stream" {
			return NSStreams
		}
		return ""
	}
	if p == "" {
		if h.ContentNS == "" {
			return NSClient
		}
		return h.ContentNS
	}
	return h.NS[p]
}

// rawAttr returns the value (as written, not unescaped) of the attribute named name in the
// start tag st.
func rawAttr(st []byte, name string) (value string, found bool) {
	eachRawAttr(st, func(n, v []byte, _ byte) bool {
		if string(n) == name {
			value, found = string(v), true
			return false
		}
		return true
	})
	return value, found
}

// eachRawAttr calls fn with each attribute of the start tag st as written: its qualified
// name, its value (not unescaped) and the quote character, until fn returns false. It stops
// quietly at anything malformed.
func eachRawAttr(st []byte, fn func(name, value []byte, quote byte) bool) {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
	i := 1
	for i < len(st) && !isNameEnd(st[i]) {
		i++
	}
	for i < len(st) {
		for i < len(st) && isNameEnd(st[i]) && st[i] != '>' {
			i++
		}
		if i >= len(st) || st[i] == '>' {
			return
		}
		k := i
		for k < len(st) && st[k] != '=' && !isNameEnd(st[k]) {
			k++
		}
		name := st[i:k]
		for k < len(st) && isSpace(st[k]) {
			k++
		}
		if k >= len(st) || st[k] != '=' {
			return
		}
		k++
		for k < len(st) && isSpace(st[k]) {
			k++
		}
		if k >= len(st) || (st[k] != '\'' && st[k] != '"') {
			return
		}
		q := st[k]
		e := bytes.IndexByte(st[k+1:], q)
		if e < 0 {
			return
		}
		if !fn(name, st[k+1:k+1+e], q) {
			return
		}
		i = k + 1 + e + 1
	}
}
