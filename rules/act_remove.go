package rules

import (
	"sort"

	"github.com/goccy/go-yaml/ast"
)

// remove: remove the elements (or attributes, or text) an XPath selects. The stanza itself
// cannot be removed this way (use drop).
//
//   - remove: "x:composing"
//   - remove: {xpath: "//delay:delay"}
func init() {
	registerAction(&actionKind{
		name:    "remove",
		summary: "remove the nodes an XPath selects: remove: XPATH or {xpath}",
		compile: compileRemove,
	})
}

type removeAction struct{ x *xpathExpr }

func compileRemove(c *compiler, key, arg ast.Node) action {
	v := arg
	if _, isMap := arg.(*ast.MappingNode); isMap {
		f, ok := c.mapping(arg, "remove", "xpath")
		if !ok || !c.require(f, "remove", "xpath") {
			return nil
		}
		v = f.get("xpath")
	}
	if isNull(v) {
		c.errAt(key, "remove needs an XPath, e.g. `remove: \"body\"`")
		return nil
	}
	x := c.nodeXPath(v, "remove")
	if x == nil {
		return nil
	}
	return &removeAction{x}
}

func (a *removeAction) apply(s *state) {
	ts := s.targets(a.x)
	// Attributes first: removing them moves no child. Then children from the highest index
	// down, so the indexes of those still to remove stay valid.
	sort.SliceStable(ts, func(i, j int) bool {
		if (ts[i].attr >= 0) != (ts[j].attr >= 0) {
			return ts[i].attr >= 0
		}
		if ts[i].attr >= 0 {
			return ts[i].attr > ts[j].attr
		}
		return ts[i].index > ts[j].index
	})
	for _, t := range ts {
		switch {
		case t.attr >= 0:
			t.elem.Attrs = append(t.elem.Attrs[:t.attr], t.elem.Attrs[t.attr+1:]...)
			s.changed = true
		case t.parent != nil:
			t.parent.Children = append(t.parent.Children[:t.index], t.parent.Children[t.index+1:]...)
			s.changed = true
		}
	}
}
