package rules

import (
	"github.com/goccy/go-yaml/ast"
)

// nodeXPath reads an XPath expression that must select nodes (elements, attributes or
// text), as the rewriting actions need.
func (c *compiler) nodeXPath(n ast.Node, what string) *xpathExpr {
	s, ok := c.str(n, what)
	if !ok {
		return nil
	}
	x, err := compileXPath(s, c.ns)
	if err != nil {
		c.errAt(n, "%v", err)
		return nil
	}
	if !returnsNodes(x) {
		c.errAt(n, "%s: XPath %q must select nodes (elements, attributes or text), not compute a value", what, s)
		return nil
	}
	return x
}

// targets returns the nodes x selects in the stanza as it may be changed, or the stanza
// itself when x is nil. It makes the changeable copy, so call it only to change something.
func (s *state) targets(x *xpathExpr) []target {
	el := s.mutable()
	if el == nil {
		return nil
	}
	if x == nil {
		return []target{{elem: el, attr: -1}}
	}
	out := selectTargets(x, s.navigator(el))
	s.actionBudget()
	return out
}
