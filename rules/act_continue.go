package rules

import "github.com/goccy/go-yaml/ast"

// continue: let later rules also apply to the stanza (otherwise the first matching rule is
// the only one). Later rules see the stanza as this rule left it.
func init() {
	registerAction(&actionKind{
		name:    "continue",
		summary: "let later rules apply too (first match wins otherwise)",
		compile: func(c *compiler, key, arg ast.Node) action {
			if !c.noArg("continue", arg) {
				return nil
			}
			return actionFunc(func(s *state) { s.cont = true })
		},
	})
}
