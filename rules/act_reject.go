package rules

import (
	"slices"
	"sort"
	"strings"

	"github.com/goccy/go-yaml/ast"

	"github.com/stanzascope/stanzascope/inspect"
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

type rejectAction struct{ e inspect.StanzaError }

func compileReject(c *compiler, key, arg ast.Node) action {
	a := &rejectAction{}
	var errType string
	condNode := arg
	if _, isMap := arg.(*ast.MappingNode); isMap {
		f, ok := c.mapping(arg, "reject", "condition", "type", "text")
		if !ok || !c.require(f, "reject", "condition") {
			return nil
		}
		condNode = f.get("condition")
		if f.has("type") {
			if errType, ok = c.str(f.get("type"), "type"); !ok {
				return nil
			}
			if !slices.Contains(inspect.ErrorTypes, inspect.ErrorType(errType)) {
				names := make([]string, len(inspect.ErrorTypes))
				for i, t := range inspect.ErrorTypes {
					names[i] = string(t)
				}
				c.errAt(f.get("type"), "unknown error type %q (known: %s)", errType, strings.Join(names, ", "))
				return nil
			}
		}
		if f.has("text") {
			if a.e.Text, ok = c.str(f.get("text"), "text"); !ok {
				return nil
			}
			if len(a.e.Text) > maxErrorText {
				c.errAt(f.get("text"), "text longer than %d bytes", maxErrorText)
				return nil
			}
		}
	}
	if isNull(condNode) {
		c.errAt(key, "reject needs a condition, e.g. `reject: not-allowed`")
		return nil
	}
	cond, ok := c.str(condNode, "condition")
	if !ok {
		return nil
	}
	a.e.Condition, a.e.Type = inspect.Cond(cond), inspect.ErrorType(errType)
	if !a.e.Condition.IsStanzaCond() {
		var names []string
		for _, n := range inspect.StanzaConds() {
			names = append(names, string(n))
		}
		sort.Strings(names)
		c.errAt(condNode, "unknown stanza error condition %q (RFC 6120 section 8.3.3: %s)", cond, strings.Join(names, ", "))
		return nil
	}
	return a
}

func (a *rejectAction) apply(s *state) {
	s.stop = true
	raw, ok := errorReply(s.name(), s.attr("type"), s.attr("id"), s.attr("from"), s.attr("to"), a.e)
	if !ok {
		s.out.Verdict = Drop
		return
	}
	s.out.Verdict = Reject
	s.out.Inject = append(s.out.Inject, Injection{Dir: s.in.Dir.Reverse(), Raw: raw})
}

// BounceError returns the stanza error that answers the stanza r (same element and id,
// addresses swapped, type='error'), as the reject action sends it, and false when r may
// not be answered with an error: an error stanza (RFC 6120 section 8.3.1), an iq that is
// not a request (section 8.2.3), or an element that is not a stanza. The proxy's reject of
// a held stanza uses it, so that there is one way to bounce a stanza.
func BounceError(r *inspect.Record, e inspect.StanzaError) ([]byte, bool) {
	return errorReply(r.Name, r.Attr("type"), r.Attr("id"), r.Attr("from"), r.Attr("to"), e)
}

// errorReply builds the error answering a stanza named name with the given type, id and
// addresses, when one may be sent.
func errorReply(name, typ, id, from, to string, e inspect.StanzaError) ([]byte, bool) {
	answerable := typ != "error" && (name == "message" || name == "presence" ||
		name == "iq" && (typ == "get" || typ == "set"))
	if !answerable {
		return nil, false
	}
	// The reply is in the stream's content namespace, which its elements inherit.
	return inspect.AppendErrorReply(nil, name, id, to, from, nil, e), true
}
