package rules

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"text/template"
	"text/template/parse"

	"github.com/stanzascope/stanzascope/inspect"
)

// xmlTemplate is XML written in a rule file (insert, inject, replace). It may use Go
// text/template actions over the stanza that triggered the rule: {{.ID}} {{.From}} {{.To}}
// {{.Type}} {{.Bound}} and {{.XPath "expr"}}; every value is XML-escaped, so the output is
// well-formed whatever the stanza held. Without actions the XML is parsed once, at load.
type xmlTemplate struct {
	tmpl  *template.Template // nil: fixed XML
	fixed *inspect.Element
	name  string            // the top element's local name (on the sample stanza, for a template)
	ns    map[string]string // prefixes for {{.XPath}}
	cache sync.Map          // expression -> *xpathExpr, for {{.XPath}}
}

// tmplData is what a template sees.
type tmplData struct {
	ID, From, To, Type, Bound string
	stanza                    *inspect.Element
	t                         *xmlTemplate
	v                         *view // the stanza's view, whose XPath budget templates spend; nil at load
}

// XPath evaluates expr (with the rule file's prefixes) against the stanza and returns the
// result as a string, XML-escaped. It fails when the stanza's XPath budget runs out, and
// so does the template.
func (d tmplData) XPath(expr string) (string, error) {
	x, err := d.t.xpath(expr)
	if err != nil {
		return "", err
	}
	if d.stanza == nil {
		return "", nil
	}
	var nav *navigator
	if d.v != nil {
		nav = d.v.navigator(d.stanza)
	} else {
		nav = newNavigator(d.stanza)
	}
	s, err := evalString(x, nav)
	if err != nil {
		if d.v != nil {
			d.v.actionBudget()
		}
		return "", err
	}
	return inspect.EscapeAttr(s), nil
}

func (t *xmlTemplate) xpath(expr string) (*xpathExpr, error) {
	if x, ok := t.cache.Load(expr); ok {
		return x.(*xpathExpr), nil
	}
	x, err := compileXPath(expr, t.ns)
	if err != nil {
		return nil, err
	}
	t.cache.Store(expr, x)
	return x, nil
}

// sampleStanza is what templates are tried on when a file is loaded, so that mistakes show
// up then and not on the first matching stanza.
var sampleStanza = inspect.NewElement(inspect.NSClient, "message").
	SetAttr("id", "sample-id").SetAttr("type", "chat").
	SetAttr("from", "alice@example.org/phone").SetAttr("to", "bob@example.org")

// newXMLTemplate compiles src and tries it on a sample stanza.
func newXMLTemplate(src string, ns map[string]string) (*xmlTemplate, error) {
	t := &xmlTemplate{ns: ns}
	if !strings.Contains(src, "{{") {
		el, err := parseXML(src)
		if err != nil {
			return nil, err
		}
		t.fixed, t.name = el, el.Local
		return t, nil
	}
	tm, err := template.New("xml").Option("missingkey=error").Parse(src)
	if err != nil {
		return nil, fmt.Errorf("bad template: %v", strings.TrimPrefix(err.Error(), "template: "))
	}
	if len(tm.Templates()) > 1 {
		return nil, fmt.Errorf("bad template: define/block are not supported")
	}
	if err := checkTemplate(tm.Tree.Root); err != nil {
		return nil, fmt.Errorf("bad template: %v", err)
	}
	t.tmpl = tm
	d := tmplData{ID: "sample-id", From: "alice@example.org/phone", To: "bob@example.org", Type: "chat",
		Bound: "alice@example.org/phone", stanza: sampleStanza}
	el, err := t.exec(d)
	if err != nil {
		return nil, err
	}
	t.name = el.Local
	return t, nil
}

// limitedBuffer fails writes past maxXML, so a template cannot produce unbounded output.
type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxXML {
		return 0, fmt.Errorf("template output longer than %d bytes", maxXML)
	}
	return b.Buffer.Write(p)
}

// exec returns a fresh element: the parsed output of the template (or a copy of the fixed
// XML); elements without a namespace still carry inheritNS.
func (t *xmlTemplate) exec(d tmplData) (*inspect.Element, error) {
	if t.tmpl == nil {
		return t.fixed, nil // callers rehome, which copies
	}
	d.t = t
	d.ID, d.From, d.To = inspect.EscapeAttr(d.ID), inspect.EscapeAttr(d.From), inspect.EscapeAttr(d.To)
	d.Type, d.Bound = inspect.EscapeAttr(d.Type), inspect.EscapeAttr(d.Bound)
	var b limitedBuffer
	if err := t.tmpl.Execute(&b, d); err != nil {
		return nil, fmt.Errorf("template: %v", strings.TrimPrefix(err.Error(), "template: "))
	}
	el, err := parseXML(b.String())
	if err != nil {
		return nil, fmt.Errorf("template output: %w", err)
	}
	return el, nil
}

// checkTemplate refuses loops and template calls: the data has nothing to loop over, and a
// `{{range 1000000000}}` would stall loading (and every matching stanza) for nothing.
func checkTemplate(n parse.Node) error {
	switch x := n.(type) {
	case *parse.ListNode:
		if x == nil {
			return nil
		}
		for _, c := range x.Nodes {
			if err := checkTemplate(c); err != nil {
				return err
			}
		}
	case *parse.IfNode:
		return checkBranch(&x.BranchNode)
	case *parse.WithNode:
		return checkBranch(&x.BranchNode)
	case *parse.RangeNode:
		return fmt.Errorf("range is not supported")
	case *parse.TemplateNode:
		return fmt.Errorf("template calls are not supported")
	case *parse.BreakNode, *parse.ContinueNode:
		return fmt.Errorf("break/continue are not supported")
	}
	return nil
}

func checkBranch(b *parse.BranchNode) error {
	if err := checkTemplate(b.List); err != nil {
		return err
	}
	if b.ElseList != nil {
		return checkTemplate(b.ElseList)
	}
	return nil
}
