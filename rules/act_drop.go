package rules

import "github.com/goccy/go-yaml/ast"

// drop: forward nothing and tell nobody. Later rules do not apply.
func init() {
	registerAction(&actionKind{
		name:    "drop",
		summary: "forward nothing; later rules do not apply",
		compile: func(c *compiler, key, arg ast.Node) action {
			if !c.noArg("drop", arg) {
				return nil
			}
			return actionFunc(func(s *state) {
				s.out.Verdict = Drop
				s.stop = true
			})
		},
	})
}
