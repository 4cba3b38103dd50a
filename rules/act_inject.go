package rules

import (
	"github.com/goccy/go-yaml/ast"
	"github.com/stanzascope/stanzascope/inspect"
)

// inject: send an extra stanza to the client or the server, before or after the one that
// matched. The XML may be a template (see template.go); elements written without xmlns are
// in the stream's content namespace.
//
//   - inject: {to: client, when: after, xml: "<message><body>Welcome</body></message>"}
func init() {
	registerAction(&actionKind{
		name:    "inject",
		summary: "send an extra stanza: {xml, to: client|server, when: before|after}",
		compile: compileInject,
	})
}

type injectAction struct {
	t      *xmlTemplate
	dir    inspect.Direction
	before bool
}

func compileInject(c *compiler, key, arg ast.Node) action {
	if isNull(arg) {
		c.errAt(key, "inject needs {xml, to: client|server, when: before|after}")
		return nil
	}
	f, ok := c.mapping(arg, "inject", "xml", "to", "when")
	if !ok || !c.require(f, "inject", "xml", "to") {
		return nil
	}
	a := &injectAction{}
	to, ok := c.str(f.get("to"), "to")
	if !ok {
		return nil
	}
	switch to {
	case "client":
		a.dir = inspect.ServerToClient
	case "server":
		a.dir = inspect.ClientToServer
	default:
		c.errAt(f.get("to"), "inject to must be client or server, not %q", to)
		return nil
	}
	if f.has("when") {
		w, ok := c.str(f.get("when"), "when")
		if !ok {
			return nil
		}
		switch w {
		case "before":
			a.before = true
		case "after":
		default:
			c.errAt(f.get("when"), "inject when must be before or after, not %q", w)
			return nil
		}
	}
	if a.t = c.xmlTemplate(f.get("xml"), "inject"); a.t == nil {
		return nil
	}
	return a
}

// apply makes the injection, unless the stanza answers one: a rule that injects in
// answer to every stanza would otherwise answer its own answers for ever. An injection
// without an id gets one, so that answers to it can be told.
func (a *injectAction) apply(s *state) {
	if s.answersInjection() {
		s.answered = true
		return
	}
	el, err := a.t.exec(s.data())
	if err != nil {
		return
	}
	ns := s.contentNS()
	el = rehome(el, ns)
	id := el.Attr("id")
	if id == "" && s.inj != nil {
		id = s.inj.newID()
		el.SetAttr("id", id)
	}
	raw := el.AppendXML(nil, ns)
	if s.inj != nil && id != "" {
		s.inj.add(injKey{a.dir, id})
	}
	s.out.Inject = append(s.out.Inject, Injection{Dir: a.dir, Raw: raw, Before: a.before})
}
