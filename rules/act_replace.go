package rules

import "github.com/goccy/go-yaml/ast"

// replace: replace the whole stanza with one built from a template, which may use the
// original's {{.ID}}, {{.From}}, {{.To}}, {{.Type}}, {{.Bound}} and {{.XPath "expr"}}
// (all XML-escaped). The template must produce exactly one element; this is tried on a
// sample stanza when the file is loaded.
//
//   - replace: "<message to='{{.To}}' id='{{.ID}}'><body>censored</body></message>"
//   - replace: {template: "..."}
func init() {
	registerAction(&actionKind{
		name:    "replace",
		summary: "replace the stanza from a template: replace: XML or {template}",
		compile: compileReplace,
	})
}

type replaceAction struct{ t *xmlTemplate }

func compileReplace(c *compiler, key, arg ast.Node) action {
	v := arg
	if _, isMap := arg.(*ast.MappingNode); isMap {
		f, ok := c.mapping(arg, "replace", "template")
		if !ok || !c.require(f, "replace", "template") {
			return nil
		}
		v = f.get("template")
	}
	if isNull(v) {
		c.errAt(key, "replace needs a template, e.g. `replace: \"<presence/>\"`")
		return nil
	}
	t := c.xmlTemplate(v, "replace")
	if t == nil {
		return nil
	}
	return &replaceAction{t}
}

func (a *replaceAction) apply(s *state) {
	el, err := a.t.exec(s.data())
	if err != nil {
		return
	}
	s.replace(rehome(el, s.contentNS()))
}
