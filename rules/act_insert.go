package rules

import (
	"github.com/goccy/go-yaml/ast"
)

// insert: add an XML fragment as the last child of the stanza, or of each element an XPath
// selects. Elements written without xmlns take the namespace of the element they go into.
// The XML may be a template (see template.go).
//
//   - insert: "<body>added</body>"
//   - insert: {xpath: "r:query", xml: "<instructions>Closed today</instructions>"}
func init() {
	registerAction(&actionKind{
		name:    "insert",
		summary: "add an XML child: insert: XML or {xml, xpath?}",
		compile: compileInsert,
	})
}

type insertAction struct {
	x *xpathExpr // nil: the stanza
	t *xmlTemplate
}

func compileInsert(c *compiler, key, arg ast.Node) action {
	a := &insertAction{}
	v := arg
	if _, isMap := arg.(*ast.MappingNode); isMap {
		f, ok := c.mapping(arg, "insert", "xpath", "xml")
		if !ok || !c.require(f, "insert", "xml") {
			return nil
		}
		v = f.get("xml")
		if f.has("xpath") {
			if a.x = c.nodeXPath(f.get("xpath"), "insert xpath"); a.x == nil {
				return nil
			}
		}
	}
	if isNull(v) {
		c.errAt(key, "insert needs XML, e.g. `insert: \"<body>hi</body>\"`")
		return nil
	}
	if a.t = c.xmlTemplate(v, "insert"); a.t == nil {
		return nil
	}
	return a
}

func (a *insertAction) apply(s *state) {
	el, err := a.t.exec(s.data())
	if err != nil {
		return
	}
	for _, t := range s.targets(a.x) {
		if t.elem == nil || t.attr >= 0 {
			continue
		}
		t.elem.Append(rehome(el, t.elem.Space))
		s.changed = true
	}
}

// xmlTemplate reads XML (possibly a template) from a rule file.
func (c *compiler) xmlTemplate(n ast.Node, what string) *xmlTemplate {
	src, ok := c.str(n, what)
	if !ok {
		return nil
	}
	t, err := newXMLTemplate(src, c.ns)
	if err != nil {
		c.errAt(n, "%s: %v", what, err)
		return nil
	}
	return t
}
