package rules

import (
	"sort"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

const maxErrorText = 1024

// reject: forward nothing and bounce an RFC 6120 stanza error to the sender: same element
// and id, addresses swapped, type='error'. The error type defaults from the condition
// (RFC 6120 section 8.3.3). An error stanza is never answered with an error (section 8.3.1),
// nor is an iq result (only requests get answers, section 8.2.3), and top-level elements
// that are not stanzas (SASL, TLS) cannot carry one: all these are dropped instead.
//
//   - reject: not-allowed
//   - reject: {condition: not-allowed, type: cancel, text: "Registration is closed"}
func init() {
	registerAction(&actionKind{
		name:    "reject",
		summary: "forward nothing; bounce a stanza error: reject: CONDITION or {condition, type, text}",
		compile: compileReject,
	})
}

type rejectAction struct{ cond, errType, text string }

func compileReject(c *compiler, key, arg ast.Node) action {
	a := &rejectAction{}
	condNode := arg
	if _, isMap := arg.(*ast.MappingNode); isMap {
		f, ok := c.mapping(arg, "reject", "condition", "type", "text")
		if !ok || !c.require(f, "reject", "condition") {
			return nil
		}
		condNode = f.get("condition")
		if f.has("type") {
			if a.errType, ok = c.str(f.get("type"), "type"); !ok {
				return nil
			}
			if !contains(errorTypeNames, a.errType) {
				c.errAt(f.get("type"), "unknown error type %q (known: %s)", a.errType, strings.Join(errorTypeNames, ", "))
				return nil
			}
		}
		if f.has("text") {
			if a.text, ok = c.str(f.get("text"), "text"); !ok {
				return nil
			}
			if len(a.text) > maxErrorText {
				c.errAt(f.get("text"), "text longer than %d bytes", maxErrorText)
				return nil
			}
		}
	}
	if isNull(condNode) {
		c.errAt(key, "reject needs a condition, e.g. `reject: not-allowed`")
		return nil
	}
	var ok bool
	if a.cond, ok = c.str(condNode, "condition"); !ok {
		return nil
	}
	def, known := errorTypes[a.cond]
	if !known {
		names := make([]string, 0, len(errorTypes))
		for n := range errorTypes {
			names = append(names, n)
		}
		sort.Strings(names)
		c.errAt(condNode, "unknown stanza error condition %q (RFC 6120 section 8.3.3: %s)", a.cond, strings.Join(names, ", "))
		return nil
	}
	if a.errType == "" {
		a.errType = def
	}
	return a
}

func (a *rejectAction) apply(s *state) {
	s.stop = true
	name, typ := s.name(), s.attr("type")
	answerable := typ != "error" && (name == "message" || name == "presence" ||
		name == "iq" && (typ == "get" || typ == "set"))
	if !answerable {
		s.out.Verdict = Drop
		return
	}
	s.out.Verdict = Reject
	ns := s.contentNS()
	el := stanzaError(ns, name, s.attr("id"), s.attr("from"), s.attr("to"), a.errType, a.cond, a.text)
	s.out.Inject = append(s.out.Inject, Injection{Dir: s.in.Dir.Reverse(), Raw: el.AppendXML(nil, ns)})
}
