package rules

import (
	"fmt"

	"github.com/stanzascope/stanzascope/inspect"
)

// selfAnswerWarnings finds rules that could answer themselves: a rule that injects a
// stanza toward a peer, when the peer's answer to it (an iq result or error, a bounce,
// the server's echo of a message) would travel in a direction the rule applies to, with
// an element name the rule accepts. Such a rule is legal, and stanzascope makes no
// injection in answer to its own injections, but it is rarely what the author meant.
func selfAnswerWarnings(rules []*rule) []Problem {
	var out []Problem
	for _, r := range rules {
		if r.keepalive {
			continue
		}
		for _, a := range r.actions {
			inj, ok := a.(*injectAction)
			if !ok {
				continue
			}
			back := inj.dir.Reverse() // the answer travels back from where the injection went
			if r.dir != inspect.DirNone && r.dir != back {
				continue
			}
			if r.elements != nil && !contains(r.elements, inj.t.name) {
				continue
			}
			peer, way := "server", "server-to-client"
			if inj.dir == inspect.ServerToClient {
				peer, way = "client", "client-to-server"
			}
			out = append(out, Problem{File: r.file, Line: r.line, Col: r.col, Msg: fmt.Sprintf(
				"warning: rule %q could answer itself: it injects a <%s> to the %s, and the %s's answer to it travels %s, where the rule applies "+
					"(stanzascope makes no injection in answer to its own injections; a direction or element condition says what you mean)",
				r.name, inj.t.name, peer, peer, way)})
		}
	}
	return out
}

// Warnings returns what `rules check` warns about in the rules in force: legal rules that
// are probably mistakes (see selfAnswerWarnings), as FILE:LINE:COL problems.
func (e *Engine) Warnings() []Problem {
	return selfAnswerWarnings(e.cur.Load().rules)
}
