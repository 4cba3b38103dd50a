package rules

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"sync"

	"github.com/antchfx/xpath"
	"github.com/stanzascope/stanzascope/inspect"
)

// maxXPath bounds the length of an expression in a rule file.
const maxXPath = 4096

// xpathExpr is a compiled XPath expression that is safe for concurrent use. The xpath
// package keeps evaluation state in the query tree of an Expr (Evaluate resets iterators
// in place), so each evaluation takes a private copy from a pool: one compile per
// goroutine at most, no allocation in the steady state.
type xpathExpr struct {
	src  string
	pool sync.Pool // of *xpath.Expr
}

// with runs f on a private copy of x's expression. A panic inside the xpath package (it
// has had some on odd input) gives the zero result rather than taking the proxy down.
func with[T any](x *xpathExpr, f func(*xpath.Expr) T) (out T) {
	e, _ := x.pool.Get().(*xpath.Expr)
	if e == nil {
		return out
	}
	defer func() {
		if recover() != nil {
			var zero T
			out = zero
		}
		x.pool.Put(e)
	}()
	return f(e)
}

// compileXPath compiles expr with the file's namespace prefixes. The xpath package only
// checks prefixes when given a non-nil map, so ns is never nil (it holds at least "xml").
func compileXPath(expr string, ns map[string]string) (*xpathExpr, error) {
	first, err := compileOne(expr, ns)
	if err != nil {
		return nil, err
	}
	x := &xpathExpr{src: expr}
	x.pool.New = func() any {
		e, err := xpath.CompileWithNS(expr, ns)
		if err != nil {
			return nil // cannot happen: the same text compiled before
		}
		return e
	}
	x.pool.Put(first)
	return x, nil
}

func compileOne(expr string, ns map[string]string) (*xpath.Expr, error) {
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

// errXPathBudget is the failure of an evaluation that ran out of the stanza's budget.
var errXPathBudget = fmt.Errorf("XPath budget of %d steps per stanza exceeded", maxXPathSteps)

// evalBool evaluates x against the stanza with XPath's boolean() rules: a non-empty
// node-set, a non-zero number, a non-empty string. A panic counts as false, and so does an
// evaluation cut short by the budget (nav.overBudget() says so), whatever it returned.
func evalBool(x *xpathExpr, nav *navigator) bool {
	return with(x, func(e *xpath.Expr) bool {
		ok := evalBoolOnce(e, nav)
		return ok && !nav.overBudget()
	})
}

func evalBoolOnce(e *xpath.Expr, nav *navigator) bool {
	switch v := e.Evaluate(nav).(type) {
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
// It fails with errXPathBudget when the stanza's budget ran out.
func evalString(x *xpathExpr, nav *navigator) (string, error) {
	s := with(x, func(e *xpath.Expr) string { return evalStringOnce(e, nav) })
	if nav.overBudget() {
		return "", errXPathBudget
	}
	return s, nil
}

func evalStringOnce(e *xpath.Expr, nav *navigator) string {
	switch v := e.Evaluate(nav).(type) {
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

// selectTargets returns the nodes x selects in the stanza nav stands on, in document
// order, each once (the xpath package may return a node twice: following::*/preceding::*);
// none when the stanza's budget ran out (a partial selection would change a part).
func selectTargets(x *xpathExpr, nav *navigator) []target {
	out := with(x, func(e *xpath.Expr) (out []target) {
		it := e.Select(nav)
		var seen map[target]bool
		for len(out) < maxTargets && it.MoveNext() {
			t, ok := it.Current().(*navigator).target()
			if !ok {
				continue
			}
			if len(out) > 0 {
				if seen == nil {
					seen = map[target]bool{out[0]: true}
				}
				if seen[t] {
					continue
				}
				seen[t] = true
			}
			out = append(out, t)
		}
		return out
	})
	if nav.overBudget() {
		return nil
	}
	return out
}

// returnsNodes reports whether x yields a node-set, checked on a sample stanza so that
// `remove: {xpath: "count(x)"}` is refused when the file is loaded.
func returnsNodes(x *xpathExpr) bool {
	return with(x, func(e *xpath.Expr) bool {
		_, ok := e.Evaluate(newNavigator(inspect.NewElement(inspect.NSClient, "message"))).(*xpath.NodeIterator)
		return ok
	})
}
