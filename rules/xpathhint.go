package rules

import (
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
