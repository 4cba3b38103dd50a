package inspect

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

// Byte classes for the scanner's hot loops. The stop tables hold 0 or 1 rather than bools
// so that the loops can test four bytes with one branch (see skipText).
var (
	textStop  [256]uint8 // bytes that end a run of plain character data
	valueStop [256]uint8 // bytes that end a run of plain attribute value (quotes checked apart)
	nameByte  [256]bool  // bytes allowed in a name after the first (>= 0x80 checked later)
	nameFirst [256]bool  // bytes allowed to start a name
	nameStop  [256]uint8 // bytes that end a run of plain name: not a name byte, ':', >= 0x80
)

func init() {
	for c := 0; c < 256; c++ {
		ctl := c < 0x20 && c != '\t' && c != '\n' && c != '\r'
		textStop[c] = b2u(c == '<' || c == '&' || c == ']' || ctl || c >= 0x80)
		valueStop[c] = b2u(c == '<' || c == '&' || ctl || c >= 0x80 || c == '\'' || c == '"')
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		nameFirst[c] = letter || c == '_' || c == ':' || c >= 0x80
		nameByte[c] = nameFirst[c] || c >= '0' && c <= '9' || c == '-' || c == '.'
		nameStop[c] = b2u(!nameByte[c] || c == ':' || c >= 0x80)
	}
}

// isSpace reports whether c is XML whitespace. The first comparison settles every byte
// above ' ', which is nearly every byte asked about (the byte after a run of spaces).
func isSpace(c byte) bool { return c <= ' ' && (c == ' ' || c == '\n' || c == '\t' || c == '\r') }

func b2u(v bool) uint8 {
	if v {
		return 1
	}
	return 0
}

// skipText returns the offset of the first byte of b at or after i that ends a run of
// plain character data (textStop), or len(b). It looks at four bytes per branch: the
// runs are most of a stream's bytes. (uint(i) < uint(len(b)) lets the compiler drop the
// bounds check of b[i], which i < len(b) does not: i could be negative as far as it knows.)
func skipText(b []byte, i int) int {
	for ; i+4 <= len(b); i += 4 {
		q := b[i : i+4 : i+4]
		if textStop[q[0]]|textStop[q[1]]|textStop[q[2]]|textStop[q[3]] != 0 {
			break
		}
	}
	for uint(i) < uint(len(b)) && textStop[b[i]] == 0 {
		i++
	}
	return i
}

// skipValue returns the offset of the first byte of b at or after i that ends a run of
// plain attribute value (valueStop), or len(b), four bytes per branch like skipText.
func skipValue(b []byte, i int) int {
	for ; i+4 <= len(b); i += 4 {
		q := b[i : i+4 : i+4]
		if valueStop[q[0]]|valueStop[q[1]]|valueStop[q[2]]|valueStop[q[3]] != 0 {
			break
		}
	}
	for uint(i) < uint(len(b)) && valueStop[b[i]] == 0 {
		i++
	}
	return i
}

// skipName returns the offset of the first byte of b at or after i that is not a plain
// name byte (nameStop: not ASCII, a colon or not a name byte), or len(b). Names are short:
// a byte at a time is faster here than four.
func skipName(b []byte, i int) int {
	for uint(i) < uint(len(b)) && nameStop[b[i]] == 0 {
		i++
	}
	return i
}

// startName starts the start tag whose name begins at offset i. The name's first byte is
// scanned with the rest, which notes a colon or a byte >= 0x80 in it.
func (r *Reader) startName(i int) {
	r.name.start = int32(i)
	r.highName = false
	r.nameColon = -1
	r.manyColons = false
	r.attrs = r.attrs[:0]
	r.st = sStartName
}

// attrName scans the attribute name that started at r.attr.name.start from offset i, and
// returns where the scan stopped. The usual attribute, name='value', goes on straight to
// its value: a round of the loop in scan for each part costs more than the part.
func (r *Reader) attrName(b []byte, i int) int {
	i = r.nameRun(b, i, r.attr.name.start, &r.attr.colon)
	r.st = sAttrName
	if i == len(b) {
		return i
	}
	r.attr.name.end = int32(i)
	r.st = sAttrEq
	if b[i] != '=' || i+1 == len(b) || b[i+1] != '\'' && b[i+1] != '"' {
		return i
	}
	r.quote = b[i+1]
	i += 2
	r.attr.value.start = int32(i)
	r.st = sAttrValue
	return i
}

// nameRun scans the name that starts at offset start from offset i, up to the first byte
// that is not a name byte, which it returns (len(b) when the name may go on). It notes on
// the way what checkTag needs: the offset in the name of its first colon in *colon
// (-1 until one is seen), a second colon in r.manyColons, a byte >= 0x80 in r.highName.
func (r *Reader) nameRun(b []byte, i int, start int32, colon *int32) int {
	for {
		i = skipName(b, i)
		if i == len(b) || !nameByte[b[i]] {
			return i
		}
		if b[i] == ':' {
			if *colon < 0 {
				*colon = int32(i) - start
			} else {
				r.manyColons = true
			}
		} else {
			r.highName = true
		}
		i++
	}
}

// plainStartTag takes the start tag whose name starts at offset i, just after its '<', when
// it is buffered whole and plain: a name, then attributes name='value' (or "value"), each
// after whitespace, with values of plain bytes (valueStop, the other quote excepted), then
// '>' or "/>" after optional whitespace. It notes what the states of scan would (the name,
// its colons, the attributes) and returns the offset of the tag's '>' and whether the tag
// is empty. It returns -1 for anything else (space around '=', a reference or a byte >=
// 0x80 in a value, a tag cut by the end of the buffer, every error), which the states then
// take byte by byte from the name on: the usual tag costs no round of the state loop per
// part, and the rest is judged by one piece of code.
func (r *Reader) plainStartTag(b []byte, i int) (gt int, empty bool) {
	r.startName(i)
	i = r.nameRun(b, i, r.name.start, &r.nameColon)
	r.name.end = int32(i)
	attrs := r.attrs
	for {
		s := i
		for i < len(b) && isSpace(b[i]) {
			i++
		}
		if i >= len(b) {
			return -1, false
		}
		c := b[i]
		if c == '>' {
			r.attrs = attrs
			return i, false
		}
		if c == '/' {
			if i+1 < len(b) && b[i+1] == '>' {
				r.attrs = attrs
				return i + 1, true
			}
			return -1, false
		}
		if i == s || !nameFirst[c] || len(attrs) >= r.lim.MaxAttrs {
			return -1, false
		}
		// The attribute is noted in place: attrs grows by one first.
		if len(attrs) == cap(attrs) {
			attrs = append(attrs, attrSpan{})[:len(attrs)]
		}
		attrs = attrs[:len(attrs)+1]
		a := &attrs[len(attrs)-1]
		a.name.start, a.colon = int32(i), -1
		i = r.nameRun(b, i, a.name.start, &a.colon)
		if i+1 >= len(b) || b[i] != '=' {
			return -1, false
		}
		q := b[i+1]
		if q != '\'' && q != '"' {
			return -1, false
		}
		a.name.end = int32(i)
		i += 2
		a.value.start = int32(i)
		for {
			i = skipValue(b, i)
			if i >= len(b) {
				return -1, false
			}
			if c := b[i]; c == q {
				break
			} else if c != '\'' && c != '"' {
				return -1, false
			}
			i++
		}
		a.value.end = int32(i)
		i++
	}
}

// plainEndTag takes the end tag whose '<' is at offset lt when it is the usual one: buffered
// whole, the open element's name and then '>', in a stanza whose names are ASCII. It
// compares the tag with the open name rather than scanning it, and returns the offset of
// its '>'; -1 leaves the tag to the states of scan (which would find the same name and
// then check it against the open one).
func (r *Reader) plainEndTag(b []byte, lt int) int {
	if len(r.names) == 0 || r.highNames {
		return -1
	}
	open := r.names[len(r.names)-1]
	s := lt + 2
	gt := s + int(open.end-open.start)
	if gt >= len(b) || b[gt] != '>' || string(b[s:gt]) != string(b[open.start:open.end]) {
		return -1
	}
	return gt
}

// scan looks at the buffered bytes of the current event from where it stopped. It reports
// ok when an event is complete (in *ev, made by emit), ok=false when it needs more bytes,
// or a violation.
func (r *Reader) scan(ev *Event) (bool, error) {
	b := r.buf[r.r:r.w]
	n := len(b)
	i := r.p
	for i < n {
		switch r.st {
		case sTop:
			for i < n && isSpace(b[i]) {
				i++
			}
			if i == n {
				break
			}
			if b[i] != '<' {
				if r.phase == phaseProlog {
					return r.fail(i, CondNotWellFormed, "expected a stream header <stream:stream ...>")
				}
				return r.fail(i, CondNotWellFormed, "text outside a stanza: only whitespace may appear between stanzas")
			}
			if i > 0 && r.phase == phaseStream {
				r.emit(ev, KindWhitespace, i, "", "")
				return true, nil
			}
			if i > 0 && !r.restarted && r.declOK {
				// An XML declaration must come first, but after a restart.
				if r.lim.Annotate && r.phase == phaseProlog {
					r.declLate = true
				} else {
					r.declOK = false
				}
			}
			r.tagStart = i
			r.st = sLT
			i++

		case sLT:
			c := b[i]
			switch {
			case nameFirst[c]:
				if gt, empty := r.plainStartTag(b, i); gt >= 0 {
					ok, err := r.startTag(ev, gt, empty)
					if err != nil || ok {
						return ok, err
					}
					i = gt + 1
					break
				}
				r.startName(i)
			case c == '/':
				if r.depth == 0 && (r.phase != phaseStream || r.fragment) {
					return r.fail(i, CondNotWellFormed, "end tag with no element open")
				}
				r.name.start = int32(i + 1)
				r.highName = false
				r.st = sEndName
				i++
			case c == '!':
				r.st = sBang
				i++
			case c == '?':
				r.st = sPI
				i++
			default:
				return r.fail(i, CondNotWellFormed, fmt.Sprintf("unexpected %q after '<'", c))
			}

		case sStartName:
			i = r.nameRun(b, i, r.name.start, &r.nameColon)
			if i == n {
				break
			}
			r.name.end = int32(i)
			r.st = sTagSpace

		case sAttrName:
			i = r.attrName(b, i)

		case sEndName:
			for {
				i = skipName(b, i)
				if i == n || !nameByte[b[i]] {
					break
				}
				if b[i] >= 0x80 {
					r.highName = true
				}
				i++
			}
			if i == n {
				break
			}
			r.name.end = int32(i)
			if r.name.end == r.name.start {
				return r.fail(i, CondNotWellFormed, "end tag without a name")
			}
			r.st = sEndSpace
			if b[i] == '>' { // the usual end tag: no space before '>'
				ok, err := r.endTag(ev, i)
				if err != nil || ok {
					return ok, err
				}
				i++
			}

		case sTagSpace:
			for i < n && isSpace(b[i]) {
				i++
			}
			if i == n {
				break
			}
			c := b[i]
			switch {
			case c == '>':
				ok, err := r.startTag(ev, i, false)
				if err != nil || ok {
					return ok, err
				}
				i++
			case c == '/':
				r.st = sEmptyClose
				i++
			case nameFirst[c]:
				if !isSpace(b[i-1]) {
					return r.fail(i, CondNotWellFormed, "attributes must be separated by whitespace")
				}
				r.attr.name.start = int32(i)
				r.attr.colon = -1
				i = r.attrName(b, i)
			default:
				return r.fail(i, CondNotWellFormed, fmt.Sprintf("unexpected %q in a start tag", c))
			}

		case sAttrEq:
			for i < n && isSpace(b[i]) {
				i++
			}
			if i == n {
				break
			}
			if b[i] != '=' {
				return r.fail(i, CondNotWellFormed, "expected '=' after an attribute name")
			}
			r.st = sAttrQuote
			i++

		case sAttrQuote:
			for i < n && isSpace(b[i]) {
				i++
			}
			if i == n {
				break
			}
			if b[i] != '\'' && b[i] != '"' {
				return r.fail(i, CondNotWellFormed, "attribute value must be quoted")
			}
			r.quote = b[i]
			r.attr.value.start = int32(i + 1)
			r.st = sAttrValue
			i++

		case sAttrValue:
			i = skipValue(b, i)
			if i == n {
				break
			}
			c := b[i]
			switch {
			case c == r.quote:
				r.attr.value.end = int32(i)
				if len(r.attrs) >= r.lim.MaxAttrs {
					return r.fail(int(r.attr.name.start), CondPolicyViolation,
						fmt.Sprintf("more than %d attributes on one element", r.lim.MaxAttrs))
				}
				r.attrs = append(r.attrs, r.attr)
				r.st = sTagSpace
				i++
				if i < n && !isSpace(b[i]) && b[i] != '>' && b[i] != '/' {
					return r.fail(i, CondNotWellFormed, "attributes must be separated by whitespace")
				}
			case c == '\'' || c == '"':
				i++
			case c == '&':
				r.entStart = i
				r.entReturn = sAttrValue
				r.st = sEntity
				i++
			case c == '<':
				return r.fail(i, CondNotWellFormed, "'<' is not allowed in an attribute value")
			case c >= 0x80:
				r.high = true
				i++
			default:
				if err := r.violate(i, CondNotWellFormed, secWellFormed, fmt.Sprintf("control character %#x is not allowed in XML", c)); err != nil {
					return false, err
				}
				i++
			}

		case sEmptyClose:
			if b[i] != '>' {
				return r.fail(i, CondNotWellFormed, "expected '>' after '/' in a start tag")
			}
			ok, err := r.startTag(ev, i, true)
			if err != nil || ok {
				return ok, err
			}
			i++

		case sEndSpace:
			for i < n && isSpace(b[i]) {
				i++
			}
			if i == n {
				break
			}
			if b[i] != '>' {
				return r.fail(i, CondNotWellFormed, "expected '>' to close an end tag")
			}
			ok, err := r.endTag(ev, i)
			if err != nil || ok {
				return ok, err
			}
			i++

		case sText:
		text: // back here after a whole tag, without a round of the loop
			i = skipText(b, i)
			if i == n {
				break
			}
			switch c := b[i]; {
			case c == '<':
				// The usual tags are taken whole here (plainStartTag, plainEndTag); the
				// states take the rest byte by byte.
				r.tagStart = i
				r.st = sLT
				i++
				if i == n {
					break
				}
				if nameFirst[b[i]] { // a start tag, as sLT would find
					if gt, empty := r.plainStartTag(b, i); gt >= 0 {
						ok, err := r.startTag(ev, gt, empty)
						if err != nil || ok {
							return ok, err
						}
						i = gt + 1
						goto text // startTag left the state sText
					}
					r.startName(i)
				} else if b[i] == '/' {
					if gt := r.plainEndTag(b, i-1); gt >= 0 {
						ok, err := r.closeElement(ev, gt)
						if err != nil || ok {
							return ok, err
						}
						i = gt + 1
						goto text // closeElement left the state sText
					}
				}
			case c == '&':
				r.entStart = i
				r.entReturn = sText
				r.st = sEntity
				i++
			case c == ']':
				// "]]>" may not appear in character data outside a CDATA section.
				if n-i < 3 {
					r.p = i
					return false, nil
				}
				if b[i+1] == ']' && b[i+2] == '>' {
					if err := r.violate(i, CondNotWellFormed, secWellFormed, "']]>' is not allowed in text outside a CDATA section"); err != nil {
						return false, err
					}
				}
				i++
			case c >= 0x80:
				r.high = true
				i++
			default:
				if err := r.violate(i, CondNotWellFormed, secWellFormed, fmt.Sprintf("control character %#x is not allowed in XML", c)); err != nil {
					return false, err
				}
				i++
			}

		case sEntity:
			j := i
			for j < n && j-r.entStart < maxEntity && (nameByte[b[j]] || b[j] == '#') {
				j++
			}
			if j == n && j-r.entStart <= maxEntity { // (at the limit, the next byte may still be the ";")
				i = n // wait for the rest of the reference
				break
			}
			if j == n || b[j] != ';' {
				if err := r.violate(r.entStart, CondNotWellFormed, secWellFormed, "'&' must start an entity or character reference ending in ';'"); err != nil {
					return false, err
				}
				i = r.entStart + 1 // the '&' stands for itself
				r.st = r.entReturn
				break
			}
			if err := r.checkEntity(b[r.entStart+1 : j]); err != nil {
				return false, err
			}
			i = j + 1
			r.st = r.entReturn

		case sBang:
			adv, err := r.bang(b[i:])
			if err != nil {
				return false, err
			}
			if adv == 0 {
				i = n // need more bytes to decide
				r.p = r.tagStart + 2
				return false, nil
			}
			i += adv

		case sCDATA:
			k := bytes.Index(b[i:], cdataEnd)
			end := i + k
			if k < 0 {
				end = n - 2
				if end < i {
					end = i
				}
			}
			if err := r.checkChars(b[i:end], i); err != nil {
				return false, err
			}
			if k < 0 {
				i = end
				r.p = i
				return false, nil
			}
			i = end + len(cdataEnd)
			r.st = sText

		case sPI:
			// An XML declaration opens the stream: before the first header, after a
			// restart, or where a stanza could start and a new stream may (see restartable).
			atNewStream := r.phase == phaseStream && r.depth == 0 && r.tagStart == 0 && r.restartable()
			if r.declOK || atNewStream {
				if n-i < 4 {
					r.p = i
					return false, nil
				}
				if string(b[i:i+3]) == "xml" && isSpace(b[i+3]) {
					if !r.declOK {
						r.newStream()
					} else if r.declLate {
						if err := r.violate(r.tagStart, CondRestrictedXML, secRestricted, "the XML declaration must be the first bytes of the stream"); err != nil {
							return false, err
						}
					}
					r.st = sDecl
					i += 4
					continue
				}
			}
			const noPI = "processing instructions are not allowed in XMPP"
			if r.depth == 0 { // between stanzas or before the header: nothing to frame it in
				return false, r.errorSec(r.tagStart, CondRestrictedXML, secRestricted, noPI)
			}
			if err := r.violate(r.tagStart, CondRestrictedXML, secRestricted, noPI); err != nil {
				return false, err
			}
			r.st = sPIBody

		case sPIBody, sComment:
			end := declEnd
			if r.st == sComment {
				end = commentEnd
			}
			k := bytes.Index(b[i:], end)
			if k < 0 {
				i = max(i, n-len(end)+1) // keep what could start the end
				r.p = i
				return false, nil
			}
			i += k + len(end)
			r.st = sText

		case sDecl:
			k := bytes.Index(b[i:], declEnd)
			if k < 0 {
				if n-1 > i {
					i = n - 1
				}
				r.p = i
				return false, nil
			}
			if err := r.checkDecl(b[r.tagStart : i+k]); err != nil {
				return false, err
			}
			i += k + len(declEnd)
			r.declOK = false
			r.st = sTop
		}
	}
	r.p = i
	return false, nil
}

const maxEntity = 12 // longest reference: &#x10FFFF; plus slack

var (
	cdataEnd   = []byte("]]>")
	cdataStart = "[CDATA["
	declEnd    = []byte("?>")
	commentEnd = []byte("-->")
)

// fail returns a violation at offset i of the current event.
func (r *Reader) fail(i int, cond Cond, text string) (bool, error) {
	return false, r.errorAt(i, cond, text)
}

// errorSec is errorAt with the section that holds the rule.
func (r *Reader) errorSec(i int, cond Cond, section, text string) *StreamError {
	se := r.errorAt(i, cond, text)
	se.Section = section
	return se
}

// bang handles "<!" (rest is what follows it): comments and DTDs are restricted XML, CDATA
// sections are allowed inside elements. It returns how many bytes it consumed, 0 when it
// needs more to decide.
func (r *Reader) bang(rest []byte) (int, error) {
	if len(rest) == 0 {
		return 0, nil
	}
	switch rest[0] {
	case '-':
		const noComment = "comments are not allowed in XMPP"
		if r.depth == 0 { // between stanzas or before the header: nothing to frame it in
			return 0, r.errorSec(r.tagStart, CondRestrictedXML, secRestricted, noComment)
		}
		if !r.lim.Annotate {
			return 0, r.violate(r.tagStart, CondRestrictedXML, secRestricted, noComment)
		}
		if len(rest) < 2 {
			return 0, nil
		}
		if rest[1] != '-' {
			return 0, r.errorAt(r.tagStart, CondNotWellFormed, "malformed comment")
		}
		if err := r.violate(r.tagStart, CondRestrictedXML, secRestricted, noComment); err != nil {
			return 0, err
		}
		r.st = sComment
		return 2, nil
	case 'D':
		return 0, r.errorSec(r.tagStart, CondRestrictedXML, secRestricted, "document type declarations (DTDs) are not allowed in XMPP")
	case '[':
		if r.depth == 0 {
			return 0, r.errorAt(r.tagStart, CondNotWellFormed, "CDATA section outside an element")
		}
		k := min(len(rest), len(cdataStart))
		if string(rest[:k]) != cdataStart[:k] {
			return 0, r.errorAt(r.tagStart, CondNotWellFormed, "malformed CDATA section")
		}
		if k < len(cdataStart) {
			return 0, nil
		}
		r.st = sCDATA
		return len(cdataStart), nil
	}
	return 0, r.errorSec(r.tagStart, CondRestrictedXML, secRestricted, "markup declarations are not allowed in XMPP")
}

// checkEntity checks the name of a reference between '&' and ';'.
func (r *Reader) checkEntity(name []byte) error {
	switch string(name) {
	case "lt", "gt", "amp", "apos", "quot":
		return nil
	}
	if len(name) > 1 && name[0] == '#' {
		if _, ok := charRef(name[1:]); ok {
			return nil
		}
		return r.violate(r.entStart, CondNotWellFormed, secWellFormed, fmt.Sprintf("invalid character reference &%s;", name))
	}
	if len(name) > 0 && nameFirst[name[0]] {
		return r.violate(r.entStart, CondRestrictedXML, secRestricted,
			fmt.Sprintf("entity reference &%s; is not allowed: only &lt; &gt; &amp; &apos; &quot; and character references", name))
	}
	return r.violate(r.entStart, CondNotWellFormed, secWellFormed, "'&' must start an entity or character reference")
}

// charRef decodes the digits of a character reference (after '#') and checks that the
// character is allowed in XML.
func charRef(d []byte) (rune, bool) {
	base := 10
	if len(d) > 0 && d[0] == 'x' {
		base, d = 16, d[1:]
	}
	if len(d) == 0 || len(d) > 8 {
		return 0, false
	}
	var v rune
	for _, c := range d {
		var x rune
		switch {
		case c >= '0' && c <= '9':
			x = rune(c - '0')
		case base == 16 && c >= 'a' && c <= 'f':
			x = rune(c-'a') + 10
		case base == 16 && c >= 'A' && c <= 'F':
			x = rune(c-'A') + 10
		default:
			return 0, false
		}
		v = v*rune(base) + x
		if v > 0x10FFFF {
			return 0, false
		}
	}
	return v, isXMLChar(v)
}

// checkChars checks raw character data (CDATA) for characters XML forbids.
func (r *Reader) checkChars(b []byte, at int) error {
	for k, c := range b {
		if c >= 0x80 {
			r.high = true
		} else if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
			if err := r.violate(at+k, CondNotWellFormed, secWellFormed, fmt.Sprintf("control character %#x is not allowed in XML", c)); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkDecl checks an XML declaration (from "<?xml" up to "?>"): XML 1.0 §2.8's
// version, then optionally encoding and standalone, in that order, each after whitespace.
// XMPP is XML 1.0 in UTF-8 (RFC 6120 §11.6).
func (r *Reader) checkDecl(decl []byte) error {
	p := len("<?xml")
	bad := func(text string) error {
		return r.violate(r.tagStart+p, CondNotWellFormed, "XML 1.0 §2.8", "malformed XML declaration: "+text)
	}
	for k, want := range []string{"version", "encoding", "standalone"} {
		q := p
		for q < len(decl) && isSpace(decl[q]) {
			q++
		}
		if q == len(decl) {
			if k == 0 {
				return bad("version is missing")
			}
			return nil
		}
		if q == p || !bytes.HasPrefix(decl[q:], []byte(want)) {
			if k == 0 {
				return bad("version must come first")
			}
			continue // an optional part is absent; the next is tried at the same place
		}
		q += len(want)
		for q < len(decl) && isSpace(decl[q]) {
			q++
		}
		if q == len(decl) || decl[q] != '=' {
			return bad("expected '=' after " + want)
		}
		q++
		for q < len(decl) && isSpace(decl[q]) {
			q++
		}
		if q == len(decl) || decl[q] != '\'' && decl[q] != '"' {
			return bad(want + " must be quoted")
		}
		end := bytes.IndexByte(decl[q+1:], decl[q])
		if end < 0 {
			return bad(want + " is not closed")
		}
		v := decl[q+1 : q+1+end]
		switch want {
		case "version":
			if string(v) != "1.0" {
				if err := bad(fmt.Sprintf("version %q: XMPP streams are XML 1.0", v)); err != nil {
					return err
				}
			}
		case "encoding":
			if !bytes.EqualFold(v, []byte("utf-8")) {
				return r.errorSec(r.tagStart+q+1, CondUnsupportedEncoding, secEncoding, fmt.Sprintf("encoding %q: XMPP streams are UTF-8", v))
			}
		case "standalone":
			if string(v) != "yes" && string(v) != "no" {
				return bad(fmt.Sprintf("standalone %q: yes or no", v))
			}
		}
		p = q + 1 + end + 1
	}
	for p < len(decl) && isSpace(decl[p]) {
		p++
	}
	if p != len(decl) {
		return bad(fmt.Sprintf("unexpected %q", decl[p:]))
	}
	return nil
}

// checkText validates the non-ASCII bytes of a finished event: UTF-8 and XML characters.
func (r *Reader) checkText(b []byte) error {
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		c, size := utf8.DecodeRune(b[i:])
		if c == utf8.RuneError && size == 1 {
			return r.errorSec(i, CondUnsupportedEncoding, secEncoding, "invalid UTF-8: XMPP streams are UTF-8")
		}
		if !isXMLChar(c) {
			if err := r.violate(i, CondNotWellFormed, secWellFormed, fmt.Sprintf("character %U is not allowed in XML", c)); err != nil {
				return err
			}
		}
		i += size
	}
	return nil
}
