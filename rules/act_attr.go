package rules

import (
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/stanzascope/stanzascope/inspect"
)

// set-attr and remove-attr: change an attribute of the stanza, or of the elements an XPath
// selects. The name is a plain name or xml:lang.
//
//   - set-attr: {name: to, value: "bob@localhost"}
//   - set-attr: {xpath: "disco:query", name: node, value: "x"}
//   - remove-attr: {name: id}
func init() {
	registerAction(&actionKind{
		name:    "set-attr",
		summary: "set an attribute: {name, value, xpath?}",
		compile: func(c *compiler, key, arg ast.Node) action { return compileAttr(c, key, arg, true) },
	})
	registerAction(&actionKind{
		name:    "remove-attr",
		summary: "remove an attribute: {name, xpath?}",
		compile: func(c *compiler, key, arg ast.Node) action { return compileAttr(c, key, arg, false) },
	})
}

type attrAction struct {
	x            *xpathExpr // nil: the stanza
	space, local string
	value        string
	set          bool
}

func compileAttr(c *compiler, key, arg ast.Node, set bool) action {
	what, keys, req := "remove-attr", []string{"xpath", "name"}, []string{"name"}
	if set {
		what, keys, req = "set-attr", []string{"xpath", "name", "value"}, []string{"name", "value"}
	}
	if isNull(arg) {
		c.errAt(key, "%s needs {%s}", what, strings.Join(req, ", "))
		return nil
	}
	f, ok := c.mapping(arg, what, keys...)
	if !ok || !c.require(f, what, req...) {
		return nil
	}
	a := &attrAction{set: set}
	name, ok := c.str(f.get("name"), "name")
	if !ok {
		return nil
	}
	switch {
	case name == "xml:lang" || name == "xml:space":
		a.space, a.local = inspect.NSXML, strings.TrimPrefix(name, "xml:")
	case nameRE.MatchString(name) && !strings.Contains(name, ":") && !strings.HasPrefix(name, "xmlns"):
		a.local = name
	default:
		c.errAt(f.get("name"), "attribute name %q must be a plain name (or xml:lang); namespace declarations are written by the serialiser", name)
		return nil
	}
	if set {
		if a.value, ok = c.str(f.get("value"), "value"); !ok {
			return nil
		}
	}
	if f.has("xpath") {
		if a.x = c.nodeXPath(f.get("xpath"), what+" xpath"); a.x == nil {
			return nil
		}
	}
	return a
}

func (a *attrAction) apply(s *state) {
	for _, t := range s.targets(a.x) {
		if t.elem == nil || t.attr >= 0 {
			continue
		}
		if a.set {
			if setAttrNS(t.elem, a.space, a.local, a.value) {
				s.changed = true
			}
		} else if removeAttrNS(t.elem, a.space, a.local) {
			s.changed = true
		}
	}
}

// setAttrNS sets an attribute and reports whether that changed anything.
func setAttrNS(e *inspect.Element, space, local, value string) bool {
	for i := range e.Attrs {
		if e.Attrs[i].Local == local && e.Attrs[i].Space == space {
			if e.Attrs[i].Value == value {
				return false
			}
			e.Attrs[i].Value = value
			return true
		}
	}
	e.Attrs = append(e.Attrs, inspect.Attr{Space: space, Local: local, Value: value})
	return true
}

// removeAttrNS removes an attribute and reports whether it was there.
func removeAttrNS(e *inspect.Element, space, local string) bool {
	for i := range e.Attrs {
		if e.Attrs[i].Local == local && e.Attrs[i].Space == space {
			e.Attrs = append(e.Attrs[:i], e.Attrs[i+1:]...)
			return true
		}
	}
	return false
}
