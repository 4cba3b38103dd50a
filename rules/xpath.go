package rules

import (
	"fmt"
	"math"
	"regexp"
	"strings"

	"github.com/antchfx/xpath"
	"github.com/stanzascope/stanzascope/inspect"
)

// maxXPath bounds the length of an expression in a rule file.
const maxXPath = 4096

// compileXPath compiles expr with the file's namespace prefixes. The xpath package only
// checks prefixes when given a non-nil map, so ns is never nil (it holds at least "xml").
func compileXPath(expr string, ns map[string]string) (*xpath.Expr, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, fmt.Errorf("empty XPath expression")
	}
	if len(expr) > maxXPath {
		return nil, fmt.Errorf("XPath expression longer than %d bytes", maxXPath)
	}
	x, err := xpath.CompileWithNS(expr, ns)
	if err != nil {
		if m := undeclaredRE.FindStringSubmatch(err.Error()); m != nil {
			return nil, fmt.Errorf("XPath %q: undeclared namespace prefix %q (declare it under namespaces:)", expr, m[1])
		}
		return nil, fmt.Errorf("bad XPath %q: %v", expr, err)
	}
	return x, nil
}

var undeclaredRE = regexp.MustCompile(`prefix (\S+) not defined`)

// evalBool evaluates x against the stanza with XPath's boolean() rules: a non-empty
// node-set, a non-zero number, a non-empty string. A panic inside the xpath package (it
// has had some on odd input) counts as false rather than taking the proxy down.
func evalBool(x *xpath.Expr, nav *navigator) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	switch v := x.Evaluate(nav).(type) {
	case bool:
		return v
	case float64:
		return v != 0 && !math.IsNaN(v)
	case string:
		return v != ""
	case *xpath.NodeIterator:
		return v.MoveNext()
	}
	return false
}

// evalString evaluates x as XPath's string(): the first node's string-value for a node-set.
func evalString(x *xpath.Expr, stanza *inspect.Element) (s string) {
	defer func() {
		if recover() != nil {
			s = ""
		}
	}()
	switch v := x.Evaluate(newNavigator(stanza)).(type) {
	case bool:
		if v {
			return "true"
		}
		return "false"
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1e15 {
			return fmt.Sprintf("%d", int64(v))
		}
		return fmt.Sprint(v)
	case string:
		return v
	case *xpath.NodeIterator:
		if v.MoveNext() {
			return v.Current().Value()
		}
	}
	return ""
}

// maxTargets bounds how many nodes one action changes in one stanza.
const maxTargets = 1000

// selectTargets returns the nodes x selects in stanza, in document order.
func selectTargets(x *xpath.Expr, stanza *inspect.Element) (out []target) {
	defer func() {
		if recover() != nil {
			out = nil
		}
	}()
	it := x.Select(newNavigator(stanza))
	for len(out) < maxTargets && it.MoveNext() {
		if t, ok := it.Current().(*navigator).target(); ok {
			out = append(out, t)
		}
	}
	return out
}

// returnsNodes reports whether x yields a node-set, checked on a sample stanza so that
// `remove: {xpath: "count(x)"}` is refused when the file is loaded.
func returnsNodes(x *xpath.Expr) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	_, ok = x.Evaluate(newNavigator(inspect.NewElement(inspect.NSClient, "message"))).(*xpath.NodeIterator)
	return ok
}
