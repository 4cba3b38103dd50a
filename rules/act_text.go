package rules

import (
	"regexp"

	"github.com/goccy/go-yaml/ast"
	"github.com/stanzascope/stanzascope/inspect"
)

const maxRegexp = 4096

// replace-text: replace what a regular expression (Go RE2 syntax, linear time) matches in
// the text of the elements an XPath selects; `with` may use $1, ${name}. The XPath may also
// select attributes (`@to`) or text nodes.
//
//   - replace-text: {xpath: "body", regexp: "(?i)parrot", with: "budgie"}
func init() {
	registerAction(&actionKind{
		name:    "replace-text",
		summary: "regexp-replace text or attribute values: {xpath, regexp, with}",
		compile: compileReplaceText,
	})
}

type replaceTextAction struct {
	x    *xpathExpr
	re   *regexp.Regexp
	with string
}

func compileReplaceText(c *compiler, key, arg ast.Node) action {
	if isNull(arg) {
		c.errAt(key, "replace-text needs {xpath, regexp, with}")
		return nil
	}
	f, ok := c.mapping(arg, "replace-text", "xpath", "regexp", "with")
	if !ok || !c.require(f, "replace-text", "xpath", "regexp") {
		return nil
	}
	a := &replaceTextAction{}
	if a.x = c.nodeXPath(f.get("xpath"), "replace-text xpath"); a.x == nil {
		return nil
	}
	src, ok := c.str(f.get("regexp"), "regexp")
	if !ok {
		return nil
	}
	if len(src) > maxRegexp {
		c.errAt(f.get("regexp"), "regexp longer than %d bytes", maxRegexp)
		return nil
	}
	re, err := regexp.Compile(src)
	if err != nil {
		c.errAt(f.get("regexp"), "bad regexp: %v", err)
		return nil
	}
	a.re = re
	if f.has("with") && !isNull(f.get("with")) {
		if a.with, ok = c.str(f.get("with"), "with"); !ok {
			return nil
		}
	}
	return a
}

func (a *replaceTextAction) apply(s *state) {
	for _, t := range s.targets(a.x) {
		switch {
		case t.attr >= 0:
			at := &t.elem.Attrs[t.attr]
			if v := a.re.ReplaceAllString(at.Value, a.with); v != at.Value {
				at.Value, s.changed = v, true
			}
		case t.elem == nil: // a text node
			old := string(t.parent.Children[t.index].(inspect.Text))
			if v := a.re.ReplaceAllString(old, a.with); v != old {
				t.parent.Children[t.index], s.changed = inspect.Text(v), true
			}
		default:
			if a.replaceIn(t.elem) {
				s.changed = true
			}
		}
	}
}

// replaceIn replaces in the text directly inside e. Text split by child elements is
// handled piece by piece; a match never spans a child element.
func (a *replaceTextAction) replaceIn(e *inspect.Element) bool {
	changed := false
	for i, c := range e.Children {
		if txt, ok := c.(inspect.Text); ok {
			if v := a.re.ReplaceAllString(string(txt), a.with); v != string(txt) {
				e.Children[i], changed = inspect.Text(v), true
			}
		}
	}
	return changed
}
