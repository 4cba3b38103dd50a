package rules

import "github.com/goccy/go-yaml/ast"

// pass: forward the stanza unchanged; the match is logged (Outcome.Matched) and counted.
func init() {
	registerAction(&actionKind{
		name:    "pass",
		summary: "forward unchanged; the match is logged and counted",
		compile: func(c *compiler, key, arg ast.Node) action {
			if !c.noArg("pass", arg) {
				return nil
			}
			return actionFunc(func(*state) {})
		},
	})
}
