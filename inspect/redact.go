package inspect

import (
	"bytes"
	"strings"
)

// Namespaces whose elements carry credentials, besides NSSASL.
const (
	nsSASL2           = "urn:xmpp:sasl:2"                // XEP-0388
	nsComponentAccept = "jabber:component:accept"        // XEP-0114
	nsMUC             = "http://jabber.org/protocol/muc" // read by the explanations
)

// redactedMarker replaces every secret. It tells nothing about the secret, not even its
// length. It is plain character data, so a redacted stanza is still well-formed XML and
// parses as before; it is deliberately not base64, so a tool that decodes a redacted SASL
// payload fails instead of working on a plausible but wrong value.
const redactedMarker = "[redacted]"

// Redact returns raw with the credentials it carries replaced by "[redacted]". It is the
// one place where stanzascope decides what a secret is:
//
//   - the whole payload of SASL <auth> and <response> (RFC 6120), of SASL2 <response> and
//     the <initial-response> of <authenticate> (XEP-0388), and of a component <handshake>
//     (XEP-0114);
//   - in a message, presence or iq, at any depth: the content of every element named
//     <password> or <digest> (jabber:iq:auth, jabber:iq:register, MUC join and invitation
//     passwords, whatever their namespace), the <value/> of a data form field that is of
//     type text-private or named password, password-verify, old_password or
//     muc#roomconfig_roomsecret (XEP-0004, XEP-0077, XEP-0045, XEP-0133), the password
//     attribute of a direct MUC invitation (<x password=.../>, XEP-0249) and the token
//     attribute of a <token/> (XEP-0484 FAST tokens in a SASL2 <success>, which is scanned
//     the same way).
//
// An element cut off by the end of raw is redacted to the end. Everything else stays
// exactly as it travelled: names, JIDs, SCRAM challenges and server signatures, message
// bodies. h is the stream header in force (nil: jabber:client); it resolves the namespace
// of the top-level element. The bool reports whether anything was replaced; when it is
// false the returned slice is raw itself.
//
// Redact works on the bytes (it builds no tree) and is idempotent: a redacted stanza
// redacts to itself.
func Redact(raw []byte, h *Header) ([]byte, bool) {
	if plainStanzaStart(raw) && !mayNestSecret(raw) {
		// What redactScan would decide, without scanning the start tag first: nearly every
		// stanza of the traffic is a message, presence or iq with nothing to redact.
		return raw, false
	}
	return redactScan(raw, h)
}

// redactScan is Redact without its shortcut (FuzzRedactShortcut holds the two equal).
func redactScan(raw []byte, h *Header) ([]byte, bool) {
	t, ok := firstStart(raw)
	if !ok {
		return raw, false
	}
	rd := redaction{raw: raw}
	local := LocalName(t.name)
	switch string(local) {
	case "message", "presence", "iq":
		if mayNestSecret(raw) {
			rd.nested(t.end)
		}
	case "auth", "response", "authenticate", "success", "handshake":
		switch ns := elemNS(raw, t, h); {
		case ns == NSSASL && string(local) != "authenticate" && string(local) != "success",
			ns == nsSASL2 && string(local) == "response",
			ns == nsComponentAccept && string(local) == "handshake":
			rd.content(t, true)
		case ns == nsSASL2 && (string(local) == "authenticate" || string(local) == "success"):
			rd.attrs(t)
			rd.nested(t.end)
		}
	}
	return rd.result()
}

// RedactRecord returns r.Raw redacted (see Redact) when r can carry credentials: a
// stanza, or the bytes of an error record. It looks at r.Kind and r.Name first, so records
// that cannot hold secrets cost nothing.
func RedactRecord(r *Record) ([]byte, bool) { return redactFor(r, r.Raw) }

// redactFor redacts raw (r.Raw or r.Original) using r's kind and name as a pre-check.
func redactFor(r *Record, raw []byte) ([]byte, bool) {
	switch {
	case len(raw) == 0:
		return raw, false
	case r.Kind == KindStanza && mayHoldSecret(r.Name), r.Kind == KindError:
		return Redact(raw, r.Header)
	}
	return raw, false
}

// mayHoldSecret is the cheap test on a stanza's local name done before looking at its
// bytes ("" when the producer did not say).
func mayHoldSecret(name string) bool {
	switch name {
	case "message", "presence", "iq", "auth", "response", "authenticate", "success", "handshake", "":
		return true
	}
	return false
}

// plainStanzaStart reports whether raw starts with the start tag of an unprefixed
// message, presence or iq: then its first start tag is that one, and only mayNestSecret's
// words can make Redact change it.
func plainStanzaStart(raw []byte) bool {
	var n int
	switch {
	case bytes.HasPrefix(raw, []byte("<message")):
		n = len("<message")
	case bytes.HasPrefix(raw, []byte("<presence")):
		n = len("<presence")
	case bytes.HasPrefix(raw, []byte("<iq")):
		n = len("<iq")
	default:
		return false
	}
	if len(raw) == n {
		return false
	}
	switch raw[n] {
	case ' ', '\t', '\r', '\n', '/', '>':
		return true
	}
	return false
}

// mayNestSecret is a cheap test on a stanza's bytes before scanning its elements. Element
// and attribute names cannot be written with character references, so a stanza that holds
// none of these words holds no secret Redact knows of.
func mayNestSecret(raw []byte) bool {
	// Each word is looked for by a byte of it that is rare in XMPP traffic, with the
	// vectorised IndexByte: four bytes.Contains cost twice as much on a chat message, and
	// this runs on every message the proxy logs.
	for _, w := range [...]struct {
		word string
		k    int // offset of c in word
		c    byte
	}{{"password", 4, 'w'}, {"digest", 2, 'g'}, {"field", 0, 'f'}, {"token", 2, 'k'}} {
		for from := w.k; from < len(raw); {
			j := bytes.IndexByte(raw[from:], w.c)
			if j < 0 {
				break
			}
			at := from + j - w.k
			if at+len(w.word) <= len(raw) && string(raw[at:at+len(w.word)]) == w.word {
				return true
			}
			from += j + 1
		}
	}
	return false
}

// NewRedactor returns the sink chain's redaction stage: it hands next every record with
// its credentials redacted (RedactRecord, for Raw and Original). A record with nothing to
// redact is passed on as it is; one with something is copied first, so the producer's
// record (and any tree it parsed) is never changed and the copy holds no parsed tree of
// the secret. It keeps no state: it is safe for concurrent use when next is.
func NewRedactor(next Sink) Sink { return redactor{next} }

type redactor struct{ next Sink }

func (rd redactor) Write(r *Record) error { return rd.next.Write(redacted(r)) }

// WriteBatch redacts the records of rs in place, then passes them on together.
func (rd redactor) WriteBatch(rs []*Record) error {
	redactAll(rs)
	return WriteBatch(rd.next, rs)
}

// redactAll replaces each record of rs by its redacted form (see redacted).
func redactAll(rs []*Record) {
	for i, r := range rs {
		rs[i] = redacted(r)
	}
}

// redacted returns r when it holds no secret, else a redacted copy of it: r itself is
// not changed, its producer may still hold it.
func redacted(r *Record) *Record {
	raw, changed := redactFor(r, r.Raw)
	orig, origChanged := redactFor(r, r.Original())
	if !changed && !origChanged {
		return r
	}
	// A copy shares r's optional part, which is never changed once attached: the edit
	// below attaches a new one to c only.
	c := *r
	c.Raw = raw
	c.parsed = nil // its own record, not yet shared: no other goroutine has it
	// What a person may see of a SASL payload it redacts.
	if sasl := describeRedacted(r); sasl != "" || c.extra != nil {
		x := c.edit(false)
		x.original, x.sasl = orig, sasl
	}
	return &c
}

// redaction collects the spans of raw to replace by the marker, in order.
type redaction struct {
	raw   []byte
	spans [][2]int
}

// replace marks raw[from:to] as secret, unless it is empty or already the marker.
func (rd *redaction) replace(from, to int) {
	if to <= from || string(rd.raw[from:to]) == redactedMarker {
		return
	}
	rd.spans = append(rd.spans, [2]int{from, to})
}

// content marks everything inside the element that starts with tag t, up to its end tag
// or the end of raw. For a SASL payload (sasl true), "=" (empty data) is not a secret.
func (rd *redaction) content(t tag, sasl bool) {
	if t.kind != tagStart {
		return
	}
	end := bytes.LastIndex(rd.raw, []byte("</"))
	if end < t.end {
		end = len(rd.raw)
	}
	if sasl && string(rd.raw[t.end:end]) == "=" {
		return
	}
	rd.replace(t.end, end)
}

// nested marks the secrets below the top-level element, whose content starts at from.
func (rd *redaction) nested(from int) {
	raw := rd.raw
	// The open data form fields, innermost last; a <value/> is secret inside any secret
	// field. Fields do not nest in XEP-0004, but a stanza may nest them anyway.
	var fields []bool
	secretFields := 0
	for i := from; ; {
		t, ok := nextTag(raw, i)
		if !ok {
			return
		}
		i = t.end
		l := LocalName(t.name)
		switch t.kind {
		case tagEnd:
			if string(l) == "field" && len(fields) > 0 {
				if fields[len(fields)-1] {
					secretFields--
				}
				fields = fields[:len(fields)-1]
			}
			continue
		case tagOther:
			continue
		}
		rd.attrs(t)
		if t.kind == tagEmpty {
			continue
		}
		switch string(l) {
		case "field":
			secret := isSecretField(raw[t.start:t.end])
			fields = append(fields, secret)
			if secret {
				secretFields++
			}
			continue
		case "password", "digest", "initial-response":
		case "value":
			if secretFields == 0 {
				continue
			}
		default:
			continue
		}
		end, ok := matchingEnd(raw, t.end)
		if !ok {
			end = len(raw) // cut off: everything after the start tag may be the secret
		}
		rd.replace(t.end, end)
		if !ok {
			return
		}
		i = end
	}
}

// isSecretField reports whether the data form <field> start tag st holds a secret value.
func isSecretField(st []byte) bool {
	if typ, ok := rawAttr(st, "type"); ok && unescapeString(typ) == "text-private" {
		return true
	}
	v, _ := rawAttr(st, "var")
	switch unescapeString(v) {
	case "password", "password-verify", "old_password", "muc#roomconfig_roomsecret":
		return true
	}
	return false
}

// attrs marks secret attribute values of the start or empty tag t: <x password=.../>
// (XEP-0249) and <token token=.../> (XEP-0484).
func (rd *redaction) attrs(t tag) {
	var secret string
	switch string(LocalName(t.name)) {
	case "x":
		secret = "password"
	case "token":
		secret = "token"
	default:
		return
	}
	st := rd.raw[t.start:t.end]
	eachAttr(st, func(name, value []byte, _ byte) bool {
		if string(name) != secret {
			return true
		}
		// value is a view into st: its offset is what its capacity lost.
		at := t.start + cap(st) - cap(value)
		rd.replace(at, at+len(value))
		return false
	})
}

// result builds the redacted bytes.
func (rd *redaction) result() ([]byte, bool) {
	if len(rd.spans) == 0 {
		return rd.raw, false
	}
	out := make([]byte, 0, len(rd.raw))
	copied := 0
	for _, s := range rd.spans {
		out = append(out, rd.raw[copied:s[0]]...)
		out = append(out, redactedMarker...)
		copied = s[1]
	}
	return append(out, rd.raw[copied:]...), true
}

// unescapeString resolves the references in an attribute value as written.
func unescapeString(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	return string(unescapeBytes([]byte(s)))
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
	st, err := scanStartTag(rest, nil, false)
	if err != nil {
		return t, false
	}
	t.name = st.Name(rest)
	t.kind, t.end = tagStart, t.start+st.End
	if st.Empty {
		t.kind = tagEmpty
	}
	return t, true
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
		return unescapeString(v)
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
	eachAttr(st, func(n, v []byte, _ byte) bool {
		if string(n) == name {
			value, found = string(v), true
			return false
		}
		return true
	})
	return value, found
}
