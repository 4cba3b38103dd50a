package inspect

import "unicode/utf8"

// AppendXML appends e serialised as XML to dst and returns the extended slice. parentSpace
// is the default namespace in force around e (for a stanza, the stream's content namespace):
// e gets an xmlns attribute only when its namespace differs. Text and attribute values are
// escaped, so the output is well-formed whatever the tree holds; characters that XML cannot
// carry are replaced by U+FFFD.
func (e *Element) AppendXML(dst []byte, parentSpace string) []byte {
	return e.appendXML(dst, parentSpace, nil)
}

// String returns e as XML with its own namespace declared.
func (e *Element) String() string { return string(e.AppendXML(nil, "")) }

// scope is a linked list of prefix bindings written so far, innermost first.
type scope struct {
	prefix, space string
	next          *scope
}

func (s *scope) lookup(prefix string) (string, bool) {
	for ; s != nil; s = s.next {
		if s.prefix == prefix {
			return s.space, true
		}
	}
	return "", false
}

func (e *Element) appendXML(dst []byte, defSpace string, sc *scope) []byte {
	dst = append(dst, '<')
	prefix := e.Prefix
	if prefix == "xmlns" || prefix == "xml" {
		prefix = "" // never write an element in a reserved prefix
	}
	var decl []byte
	if prefix != "" {
		if sp, ok := sc.lookup(prefix); !ok || sp != e.Space {
			sc = &scope{prefix, e.Space, sc}
			decl = appendAttr(decl, "xmlns:"+prefix, e.Space)
		}
		dst = append(dst, prefix...)
		dst = append(dst, ':')
	} else if e.Space != defSpace {
		defSpace = e.Space
		decl = appendAttr(decl, "xmlns", e.Space)
	}
	dst = append(dst, e.Local...)
	dst = append(dst, decl...)
	for _, a := range e.Attrs {
		name := a.Local
		switch {
		case a.Space == "":
		case a.Space == NSXML:
			name = "xml:" + a.Local
		default:
			p := a.Prefix
			if p == "" || p == "xmlns" || p == "xml" {
				p = "ns"
			}
			if sp, ok := sc.lookup(p); !ok || sp != a.Space {
				sc = &scope{p, a.Space, sc}
				dst = appendAttr(dst, "xmlns:"+p, a.Space)
			}
			name = p + ":" + a.Local
		}
		dst = appendAttr(dst, name, a.Value)
	}
	if len(e.Children) == 0 {
		return append(dst, "/>"...)
	}
	dst = append(dst, '>')
	for _, c := range e.Children {
		switch n := c.(type) {
		case Text:
			dst = appendEscaped(dst, string(n), false)
		case *Element:
			dst = n.appendXML(dst, defSpace, sc)
		}
	}
	dst = append(dst, "</"...)
	if prefix != "" {
		dst = append(dst, prefix...)
		dst = append(dst, ':')
	}
	dst = append(dst, e.Local...)
	return append(dst, '>')
}

func appendAttr(dst []byte, name, value string) []byte {
	dst = append(dst, ' ')
	dst = append(dst, name...)
	dst = append(dst, "='"...)
	dst = appendEscaped(dst, value, true)
	return append(dst, '\'')
}

// appendEscaped escapes s for XML text (attr=false) or a single-quoted attribute value.
func appendEscaped(dst []byte, s string, attr bool) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '<':
				dst = append(dst, "&lt;"...)
			case c == '>':
				dst = append(dst, "&gt;"...)
			case c == '&':
				dst = append(dst, "&amp;"...)
			case c == '\'' && attr:
				dst = append(dst, "&apos;"...)
			case c == '"' && attr:
				dst = append(dst, "&quot;"...)
			case (c == '\n' || c == '\t' || c == '\r') && attr:
				dst = append(dst, "&#x"...)
				dst = append(dst, "0123456789ABCDEF"[c>>4], "0123456789ABCDEF"[c&15], ';')
			case c == '\r':
				dst = append(dst, "&#xD;"...)
			case c < 0x20 && c != '\n' && c != '\t':
				dst = append(dst, "\uFFFD"...)
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || !isXMLChar(r) {
			dst = append(dst, "\uFFFD"...)
		} else {
			dst = append(dst, s[i:i+n]...)
		}
		i += n
	}
	return dst
}

// isXMLChar reports whether r is allowed in an XML 1.0 document.
func isXMLChar(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

// EscapeText returns s escaped for use as XML character data.
func EscapeText(s string) string { return string(appendEscaped(nil, s, false)) }

// EscapeAttr returns s escaped for use in a single- or double-quoted attribute value.
func EscapeAttr(s string) string { return string(appendEscaped(nil, s, true)) }
