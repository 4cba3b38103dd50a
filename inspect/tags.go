package inspect

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"strings"
	"unicode"
	"unicode/utf8"
)

// startTag finishes the start tag whose '>' is at offset i (empty: it ended with "/>").
// It returns an event when the tag completes one: the stream header, or an empty stanza.
func (r *Reader) startTag(ev *Event, i int, empty bool) (bool, error) {
	b := r.buf[r.r:r.w]
	if err := r.checkTag(b); err != nil {
		return false, err
	}
	if r.phase == phaseProlog {
		return r.streamHeader(ev, b, i, empty)
	}
	if r.depth == 0 && r.isStreamTag(b) {
		// A stream header is never a stanza: the stream restarts here.
		if !r.restartable() {
			if err := r.violate(r.tagStart, CondBadFormat, secRestart,
				"a stream header where a stanza was expected: a stream restarts only after STARTTLS or SASL success"); err != nil {
				return false, err
			}
		}
		r.newStream()
		return r.streamHeader(ev, b, i, empty)
	}
	r.depth++
	if r.depth > r.lim.MaxDepth {
		return r.fail(r.tagStart, CondPolicyViolation, fmt.Sprintf("elements nested deeper than the limit of %d", r.lim.MaxDepth))
	}
	// Bind this element's namespace declarations before checking its prefixes: an element
	// may use a prefix it declares itself. (The usual tag has none: nDecls is 0.)
	for k := 0; k < len(r.attrs) && r.nDecls > 0; k++ {
		a := &r.attrs[k]
		name := b[a.name.start:a.name.end]
		if a.colon == 5 && string(name[:5]) == "xmlns" {
			if !bindable(*a) {
				continue
			}
			if len(r.bindings) >= r.lim.MaxNamespaces {
				return r.fail(int(a.name.start), CondPolicyViolation,
					fmt.Sprintf("more than %d namespace prefixes declared in scope", r.lim.MaxNamespaces))
			}
			r.bind(b, binding{
				prefix: span{a.name.start + 6, a.name.end},
				value:  a.value,
				depth:  int32(r.depth),
				prev:   -1,
			})
		} else if r.depth == 1 && string(name) == "xmlns" {
			r.topHasNS = true
			r.topNS = a.value
		}
	}
	if r.nameColon >= 0 || r.nPrefixed > 0 { // the usual tag has no prefix
		if err := r.checkPrefixes(b); err != nil {
			return false, err
		}
		if err := r.checkUnique(b); err != nil {
			return false, err
		}
	}
	if r.depth == 1 {
		r.topName = r.name
		r.topColon = r.nameColon
		r.topNSValue = r.topNamespace(b)
		r.noteTopAttrs(b)
	}
	if empty {
		if len(r.bindings) > 0 {
			r.popBindings()
		}
		r.depth--
		if r.depth == 0 {
			err := r.stanza(ev, i+1)
			return err == nil, err
		}
	} else {
		r.names = append(r.names, r.name)
	}
	r.st = sText
	return false, nil
}

// endTag finishes the end tag whose '>' is at offset i.
func (r *Reader) endTag(ev *Event, i int) (bool, error) {
	b := r.buf[r.r:r.w]
	name := b[r.name.start:r.name.end]
	if r.highName {
		if err := r.checkName(b, r.name); err != nil {
			return false, err
		}
	}
	if r.depth == 0 {
		return r.streamClose(ev, name, i)
	}
	open := r.names[len(r.names)-1]
	if !bytes.Equal(name, b[open.start:open.end]) {
		return r.fail(r.tagStart, CondNotWellFormed,
			fmt.Sprintf("end tag </%s> does not match <%s>", name, b[open.start:open.end]))
	}
	return r.closeElement(ev, i)
}

// closeElement closes the open element with the end tag whose '>' is at offset i, which
// matches it.
func (r *Reader) closeElement(ev *Event, i int) (bool, error) {
	r.names = r.names[:len(r.names)-1]
	if len(r.bindings) > 0 { // the usual stanza declares no prefix
		r.popBindings()
	}
	r.depth--
	if r.depth == 0 {
		err := r.stanza(ev, i+1)
		return err == nil, err
	}
	r.st = sText
	return false, nil
}

// indexFrom is how many prefixes may be in scope before lookups go through a map rather
// than a scan of the bindings: a stanza rarely declares any, so the map is rarely made.
const indexFrom = 8

// bind brings a namespace declaration of the current element into scope.
func (r *Reader) bind(b []byte, bd binding) {
	r.bindings = append(r.bindings, bd)
	switch {
	case r.nsIndexed:
		r.indexBinding(b, len(r.bindings)-1)
	case len(r.bindings) > indexFrom:
		if r.nsIndex == nil {
			r.nsIndex = make(map[uint64]int32, 2*indexFrom)
		}
		r.nsIndexed = true
		for k := range r.bindings {
			r.indexBinding(b, k)
		}
	}
}

// indexBinding makes binding k the one its prefix resolves to, remembering the one it
// shadows. The index is keyed by the prefix's hash (seeded per process, so a peer cannot
// aim at a collision) and holds nothing to allocate per prefix; should two prefixes share
// a hash, lookups scan for the rest of the stanza.
func (r *Reader) indexBinding(b []byte, k int) {
	bd := &r.bindings[k]
	p := b[bd.prefix.start:bd.prefix.end]
	h := maphash.Bytes(dupSeed, p)
	if prev, ok := r.nsIndex[h]; ok {
		if o := r.bindings[prev]; !bytes.Equal(b[o.prefix.start:o.prefix.end], p) {
			r.nsCollided = true
		}
		bd.prev = prev
	} else {
		bd.prev = -1
	}
	r.nsIndex[h] = int32(k)
}

// popBindings drops the declarations of elements deeper than the current depth.
func (r *Reader) popBindings() {
	k := len(r.bindings)
	for k > 0 && r.bindings[k-1].depth >= int32(r.depth) {
		k--
		if r.nsIndexed {
			bd := r.bindings[k]
			h := maphash.Bytes(dupSeed, r.buf[r.r+int(bd.prefix.start):r.r+int(bd.prefix.end)])
			if bd.prev >= 0 {
				r.nsIndex[h] = bd.prev
			} else {
				delete(r.nsIndex, h)
			}
		}
	}
	r.bindings = r.bindings[:k]
}

// stanza completes the stanza of the first n bytes of the event.
func (r *Reader) stanza(ev *Event, n int) error {
	if n > r.lim.MaxStanza {
		return r.errorAt(0, CondPolicyViolation, fmt.Sprintf("stanza of %d bytes is larger than the limit of %d", n, r.lim.MaxStanza))
	}
	b := r.buf[r.r : r.r+n]
	if r.high {
		if err := r.checkText(b); err != nil {
			return err
		}
	}
	local := b[r.topName.start:r.topName.end]
	if r.topColon >= 0 {
		local = local[r.topColon+1:]
	}
	top := r.top
	r.emit(ev, KindStanza, n, internName(local), r.topNSValue)
	ev.top, ev.topSet = top, true
	return nil
}

// noteTopAttrs notes where the values of id, type, from and to are in the stanza's top
// start tag (b from the stanza's first byte), so that the Record can hand them out
// without a second scan (Record.TopAttrRaw).
func (r *Reader) noteTopAttrs(b []byte) {
	r.top = [numTopAttrs]span{}
	for _, a := range r.attrs {
		if a.colon >= 0 {
			continue
		}
		// The switch on the bytes, rather than TopAttrIndex(string(...)), makes no string:
		// this runs for every attribute of every stanza's top element.
		var i int
		switch string(b[a.name.start:a.name.end]) {
		case "id":
			i = TopID
		case "type":
			i = TopType
		case "from":
			i = TopFrom
		case "to":
			i = TopTo
		default:
			continue
		}
		if r.top[i].end == 0 {
			r.top[i] = a.value
		}
	}
}

// topNamespace resolves the namespace of the stanza's top element while its declarations
// are in scope.
func (r *Reader) topNamespace(b []byte) string {
	if r.nameColon >= 0 {
		v, _ := r.lookupPrefix(b, b[r.name.start:r.name.start+r.nameColon])
		return internNS(v)
	}
	if r.topHasNS {
		return internNS(unescapeBytes(b[r.topNS.start:r.topNS.end]))
	}
	if r.header != nil {
		return r.header.ContentNS
	}
	return ""
}

// streamClose handles an end tag at depth 0: it must close the stream.
func (r *Reader) streamClose(ev *Event, name []byte, i int) (bool, error) {
	want := "stream"
	if r.header != nil && r.header.Prefix != "" {
		want = r.header.Prefix + ":stream"
	}
	if string(name) != want {
		return r.fail(r.tagStart, CondNotWellFormed, fmt.Sprintf("end tag </%s> does not match the stream's <%s>", name, want))
	}
	r.emit(ev, KindStreamClose, i+1, "stream", NSStreams)
	r.phase = phaseDone
	return true, nil
}

// checkTag checks the names of the current start tag: valid characters, at most one colon,
// no duplicate attributes.
func (r *Reader) checkTag(b []byte) error {
	if r.highName {
		r.highNames = true
		if err := r.checkName(b, r.name); err != nil {
			return err
		}
		for _, a := range r.attrs {
			if err := r.checkName(b, a.name); err != nil {
				return err
			}
		}
	}
	if r.nameColon >= 0 {
		if err := r.checkColon(b, r.name, r.nameColon); err != nil {
			return err
		}
	}
	// One pass checks each name's colon (which the scan found) and counts declarations and
	// prefixed attributes, so the checks after it skip what a tag does not have.
	nDecls, nPrefixed := 0, 0
	attrs := r.attrs
	for k := range attrs {
		a := &attrs[k]
		if a.colon < 0 { // the usual attribute
			if a.name.end-a.name.start == 5 && string(b[a.name.start:a.name.end]) == "xmlns" {
				nDecls++
			}
			continue
		}
		if err := r.checkColon(b, a.name, a.colon); err != nil {
			return err
		}
		if a.colon == 5 && string(b[a.name.start:a.name.start+5]) == "xmlns" {
			nDecls++
		} else {
			nPrefixed++
		}
	}
	r.nDecls, r.nPrefixed = nDecls, nPrefixed
	dup := -1
	if len(attrs) <= pairwiseMax {
	pairs: // the usual tag: compare in place, lengths first
		for i := 1; i < len(attrs); i++ {
			ni := attrs[i].name
			for j := range i {
				nj := attrs[j].name
				// Lengths, then first bytes (to and id, from and type differ there), then all.
				if nj.end-nj.start == ni.end-ni.start && b[ni.start] == b[nj.start] && string(b[ni.start:ni.end]) == string(b[nj.start:nj.end]) {
					dup = i
					break pairs
				}
			}
		}
	} else {
		name := func(i int) []byte { return b[attrs[i].name.start:attrs[i].name.end] }
		dup, _ = r.dups.first(len(attrs),
			func(i int) uint64 { return maphash.Bytes(dupSeed, name(i)) },
			func(i, j int) bool { return bytes.Equal(name(i), name(j)) })
	}
	if dup >= 0 {
		a := attrs[dup].name
		if err := r.violate(int(a.start), CondNotWellFormed, secUniqueAttr, fmt.Sprintf("attribute %s appears twice", b[a.start:a.end])); err != nil {
			return err
		}
	}
	if r.nDecls == 0 {
		return nil
	}
	return r.checkDecls(b)
}

// checkColon enforces Namespaces in XML on the name at s whose first colon the scan found
// at c (-1: none): a name has at most one colon, not at either end. (checkTag calls it only
// for a name with a colon.)
func (r *Reader) checkColon(b []byte, s span, c int32) error {
	if c < 0 || c > 0 && c < s.end-s.start-1 && !r.manyColons {
		return nil
	}
	return r.qnameError(b, s)
}

// qnameError is checkColon's rare case, a colon at either end or several, in full: it
// enforces Namespaces in XML on the name at s (at most one colon, not at either end).
func (r *Reader) qnameError(b []byte, s span) error {
	name := b[s.start:s.end]
	c := bytes.IndexByte(name, ':')
	if c < 0 {
		return nil
	}
	if c == 0 || c == len(name)-1 || bytes.IndexByte(name[c+1:], ':') >= 0 {
		return r.violate(int(s.start), CondNotWellFormed, secNSPrefix, fmt.Sprintf("%q is not a valid qualified name", name))
	}
	return nil
}

// namePrefix returns the prefix of the name at s whose colon is at c, nil without one.
func namePrefix(b []byte, s span, c int32) []byte {
	if c < 0 {
		return nil
	}
	return b[s.start : s.start+c]
}

// checkPrefixes checks that the element's and its attributes' prefixes are declared.
func (r *Reader) checkPrefixes(b []byte) error {
	if p := namePrefix(b, r.name, r.nameColon); p != nil {
		if string(p) == "xmlns" {
			if err := r.violate(int(r.name.start), CondNotWellFormed, secNSDeclare, "an element name cannot have the prefix xmlns"); err != nil {
				return err
			}
		} else if _, ok := r.lookupPrefix(b, p); !ok {
			if err := r.violate(int(r.name.start), CondNotWellFormed, secNSPrefix, fmt.Sprintf("namespace prefix %q is not declared", p)); err != nil {
				return err
			}
		}
	}
	for _, a := range r.attrs {
		if r.nPrefixed == 0 {
			break
		}
		p := namePrefix(b, a.name, a.colon)
		if p == nil || string(p) == "xmlns" {
			continue
		}
		if _, ok := r.lookupPrefix(b, p); !ok {
			if err := r.violate(int(a.name.start), CondNotWellFormed, secNSPrefix, fmt.Sprintf("namespace prefix %q is not declared", p)); err != nil {
				return err
			}
		}
	}
	return nil
}

// lookupPrefix resolves a prefix in scope: the stanza's own declarations, then the stream
// header's, then the predefined xml prefix.
func (r *Reader) lookupPrefix(b, prefix []byte) ([]byte, bool) {
	scan := !r.nsIndexed || r.nsCollided
	if !scan {
		if k, ok := r.nsIndex[maphash.Bytes(dupSeed, prefix)]; ok {
			bd := r.bindings[k]
			if bytes.Equal(prefix, b[bd.prefix.start:bd.prefix.end]) {
				return unescapeBytes(b[bd.value.start:bd.value.end]), true
			}
			scan = true // another prefix with the same hash
		}
	}
	if scan {
		for k := len(r.bindings) - 1; k >= 0; k-- {
			bd := r.bindings[k]
			if bytes.Equal(prefix, b[bd.prefix.start:bd.prefix.end]) {
				return unescapeBytes(b[bd.value.start:bd.value.end]), true
			}
		}
	}
	if string(prefix) == "xml" {
		return nsXMLBytes, true
	}
	if r.header != nil {
		if v, ok := r.header.NS[string(prefix)]; ok {
			return []byte(v), true
		}
	}
	return nil, false
}

// checkName validates a name containing non-ASCII characters against XML 1.0's NameStartChar
// and NameChar productions.
func (r *Reader) checkName(b []byte, s span) error {
	name := b[s.start:s.end]
	for k := 0; k < len(name); {
		c, size := utf8.DecodeRune(name[k:])
		if c == utf8.RuneError && size == 1 {
			return r.errorAt(int(s.start)+k, CondUnsupportedEncoding, "invalid UTF-8 in a name")
		}
		if !isNameRune(c, k == 0) {
			if err := r.violate(int(s.start)+k, CondNotWellFormed, secWellFormed, fmt.Sprintf("character %U is not allowed in an XML name", c)); err != nil {
				return err
			}
		}
		k += size
	}
	return nil
}

// isNameRune reports whether c may appear in an XML name (first: at its start). Beyond
// ASCII it uses the characters of XML 1.0 Appendix B, which encoding/xml and expat (the
// parser of Prosody and ejabberd) accept: a name the reader accepts must not break a
// recipient's parser. The tables are generated from encoding/xml (gen_xmlnames.go).
func isNameRune(c rune, first bool) bool {
	if c < utf8.RuneSelf {
		if first {
			return nameFirst[c]
		}
		return nameByte[c]
	}
	if first {
		return unicode.Is(xmlNameFirst, c)
	}
	return unicode.Is(xmlNameNext, c)
}

//go:generate go run gen_xmlnames.go

// splitQName splits prefix:local; prefix is nil when there is none.
func splitQName(q []byte) (local, prefix []byte) {
	if c := bytes.IndexByte(q, ':'); c >= 0 {
		return q[c+1:], q[:c]
	}
	return q, nil
}

// isStreamTag reports whether the current start tag, at the top level of a stream, is a
// stream header: a stream element in the streams namespace, through its own declarations
// or those in force.
func (r *Reader) isStreamTag(b []byte) bool {
	name := b[r.name.start:r.name.end]
	if len(name) < 6 || string(name[len(name)-6:]) != "stream" {
		return false
	}
	local, prefix := splitQName(name)
	if string(local) != "stream" {
		return false
	}
	for _, a := range r.attrs {
		an := b[a.name.start:a.name.end]
		own := prefix == nil && string(an) == "xmlns" ||
			prefix != nil && len(an) == 6+len(prefix) && string(an[:6]) == "xmlns:" && bytes.Equal(an[6:], prefix)
		if own {
			return string(unescapeBytes(b[a.value.start:a.value.end])) == NSStreams
		}
	}
	if prefix == nil || r.header == nil {
		return false
	}
	return r.header.NS[string(prefix)] == NSStreams
}

// newStream makes the event being scanned the start of a new stream (a restart that the
// owner of the reader did not ask for: read from a transcript, or seen by a proxy).
func (r *Reader) newStream() {
	r.phase = phaseProlog
	r.fragment = false
}

// streamHeader finishes the stream header whose '>' is at offset i.
func (r *Reader) streamHeader(ev *Event, b []byte, i int, empty bool) (bool, error) {
	if i+1 > r.lim.MaxStanza {
		return r.fail(0, CondPolicyViolation, "stream header larger than the stanza limit")
	}
	if r.high {
		if err := r.checkText(b[:i+1]); err != nil {
			return false, err
		}
	}
	// The header's strings share one copy of its bytes: a header costs a few allocations
	// however many attributes it has.
	hs := string(b[:i+1])
	h := &Header{NS: map[string]string{}, Attrs: make([]Attr, 0, len(r.attrs))}
	for _, a := range r.attrs {
		qn := b[a.name.start:a.name.end]
		val := hs[a.value.start:a.value.end]
		if strings.IndexByte(val, '&') >= 0 {
			val = string(appendUnescaped(nil, b[a.value.start:a.value.end]))
		}
		local, prefix := splitQName(qn)
		at := Attr{Local: hs[int(a.name.end)-len(local) : a.name.end], Prefix: hs[a.name.start : int(a.name.start)+len(prefix)], Value: val}
		switch {
		case string(qn) == "xmlns":
			h.ContentNS = val
		case string(prefix) == "xmlns":
			if val == "" {
				break // undeclaring: a violation checkDecls reported
			}
			if len(h.NS) >= r.lim.MaxNamespaces {
				return r.fail(int(a.name.start), CondPolicyViolation,
					fmt.Sprintf("more than %d namespace prefixes declared on the stream header", r.lim.MaxNamespaces))
			}
			h.NS[at.Local] = val
		case prefix == nil:
			switch at.Local {
			case "to":
				h.To = val
			case "from":
				h.From = val
			case "id":
				h.ID = val
			case "version":
				h.Version = val
			}
		case string(prefix) == "xml":
			at.Space = NSXML
			if at.Local == "lang" {
				h.Lang = val
			}
		}
		h.Attrs = append(h.Attrs, at)
	}
	// Declarations may follow the attributes that use them: resolve prefixes once all are in.
	for k := range h.Attrs {
		a := &h.Attrs[k]
		if a.Prefix == "" || a.Prefix == "xmlns" {
			continue
		}
		sp, ok := h.NS[a.Prefix]
		if !ok && a.Prefix == "xml" {
			sp, ok = NSXML, true
		}
		if !ok {
			if err := r.violate(int(r.attrs[k].name.start), CondNotWellFormed, secNSPrefix, fmt.Sprintf("namespace prefix %q is not declared", a.Prefix)); err != nil {
				return false, err
			}
		}
		a.Space = sp
	}
	if err := r.checkHeaderUnique(h); err != nil {
		return false, err
	}
	local, prefix := splitQName(b[r.name.start:r.name.end])
	h.Prefix = string(prefix)
	ns := h.ContentNS
	if prefix != nil {
		var ok bool
		if ns, ok = h.NS[h.Prefix]; !ok {
			if err := r.violate(int(r.name.start), CondNotWellFormed, secNSPrefix, fmt.Sprintf("namespace prefix %q of the stream header is not declared", prefix)); err != nil {
				return false, err
			}
		}
	}
	if ns != NSStreams {
		if err := r.violate(r.tagStart, CondInvalidNamespace, secStreamNS,
			fmt.Sprintf("the stream element must be in namespace %s, not %q", NSStreams, ns)); err != nil {
			return false, err
		}
	}
	if string(local) != "stream" {
		return r.fail(r.tagStart, CondBadFormat, fmt.Sprintf("expected a <stream> element, got <%s>", local))
	}
	if empty {
		return r.fail(r.tagStart, CondBadFormat, "the stream header cannot be an empty element")
	}
	if h.Prefix == "" {
		h.ContentNS = "" // the default namespace is the streams namespace itself
	}
	r.header = h
	r.phase = phaseStream
	r.emit(ev, KindStreamOpen, i+1, "stream", NSStreams)
	return true, nil
}

// internName returns the string for a stanza's element name without allocating for the
// names that make up nearly all traffic.
func internName(b []byte) string {
	switch string(b) {
	case "message":
		return "message"
	case "presence":
		return "presence"
	case "iq":
		return "iq"
	case "features":
		return "features"
	case "auth":
		return "auth"
	case "challenge":
		return "challenge"
	case "response":
		return "response"
	case "success":
		return "success"
	case "failure":
		return "failure"
	case "starttls":
		return "starttls"
	case "proceed":
		return "proceed"
	case "error":
		return "error"
	case "r":
		return "r"
	case "a":
		return "a"
	case "enable":
		return "enable"
	case "enabled":
		return "enabled"
	}
	return string(b)
}

// internNS does for namespaces what internName does for names.
func internNS(b []byte) string {
	switch string(b) {
	case NSClient:
		return NSClient
	case NSServer:
		return NSServer
	case NSSASL:
		return NSSASL
	case NSTLS:
		return NSTLS
	case NSStreams:
		return NSStreams
	case "urn:xmpp:sm:3":
		return "urn:xmpp:sm:3"
	}
	return string(b)
}
