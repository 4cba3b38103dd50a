package rules

import (
	"bytes"
	"regexp"
	"strings"

	"github.com/stanzascope/stanzascope/inspect"
)

// A literal hint is a cheap necessary condition for expressions of the form
// contains(PATH, 'lit') and starts-with(PATH, 'lit'), which content filters use a lot. For
// them to be true, lit must occur in the string-value of PATH's first node. That node is
// an element or text node, whose string-value is a contiguous part of the stanza's text
// (all its text nodes in document order), or an attribute. So when lit occurs neither in
// the stanza's text nor in any attribute value, the expression is false and the xpath
// package need not run. It never changes a result, only skips work.

// hintRE recognises the form. PATH must be a plain location path: names, '/', '.', '@',
// ':', '-', positional predicates and a final text(); no spaces, quotes, other parentheses
// or operators, so it cannot be a number, a string or an arithmetic or boolean expression.
var hintRE = regexp.MustCompile(`^\s*(?:contains|starts-with)\s*\(\s*(\.|\.\.|text\(\)|[A-Za-z_@/][A-Za-z0-9_:./@\[\]-]*(?:/text\(\))?)\s*,\s*(?:'([^']*)'|"([^"]*)")\s*\)\s*$`)

// literalHint returns the literal that must occur for expr to be true, or "".
func literalHint(expr string) string {
	m := hintRE.FindStringSubmatch(expr)
	if m == nil {
		return ""
	}
	if m[2] != "" {
		return m[2]
	}
	return m[3]
}

// mayContain reports whether lit occurs in the text or an attribute value of el.
func mayContain(el *inspect.Element, lit string) bool {
	return strings.Contains(stringValue(el), lit) || attrContains(el, lit)
}

// attrContains reports whether lit occurs in an attribute value of e or its descendants.
func attrContains(e *inspect.Element, lit string) bool {
	for _, a := range e.Attrs {
		if strings.Contains(a.Value, lit) {
			return true
		}
	}
	for _, c := range e.Children {
		if ce, ok := c.(*inspect.Element); ok && attrContains(ce, lit) {
			return true
		}
	}
	return false
}

// rawText returns the character data of a stanza's raw bytes (the markup removed), which
// is the stanza's string-value when the bytes hold no reference ('&'), no carriage return
// and no CDATA section; ok is false otherwise. It lets the hint be checked without building the tree.
// raw is well-formed (it came through the stream reader), so '<' always opens markup and
// a quote inside a tag always delimits an attribute value.
func rawText(raw []byte) (text string, ok bool) {
	// '\r' because XML turns line ends into '\n' in the parsed text.
	if bytes.IndexByte(raw, '&') >= 0 || bytes.IndexByte(raw, '\r') >= 0 || bytes.Contains(raw, []byte("<![CDATA[")) {
		return "", false
	}
	raw = bytes.TrimSpace(raw) // whitespace around the element is not its text
	var b strings.Builder
	inTag, quote := false, byte(0)
	start := 0
	for i, c := range raw {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case inTag:
			switch c {
			case '\'', '"':
				quote = c
			case '>':
				inTag, start = false, i+1
			}
		case c == '<':
			b.Write(raw[start:i])
			inTag = true
		}
	}
	if !inTag && start < len(raw) {
		b.Write(raw[start:])
	}
	return b.String(), true
}

// rawMayContain is mayContain on raw bytes and their rawText: lit can occur in the
// stanza's text only if it occurs in text, and in an attribute value only if it occurs in
// raw (values are written as they are when there are no references).
func rawMayContain(raw []byte, text, lit string) bool {
	return strings.Contains(text, lit) || bytes.Contains(raw, []byte(lit))
}
