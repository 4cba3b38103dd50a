package rules

import "github.com/goccy/go-yaml/ast"

// hide: forward the stanza but keep it out of the log (noise such as pings).
func init() {
	registerAction(&actionKind{
		name:    "hide",
		summary: "forward, but do not show in the log",
		compile: func(c *compiler, key, arg ast.Node) action {
			if !c.noArg("hide", arg) {
				return nil
			}
			return actionFunc(func(s *state) { s.out.Hide = true })
		},
	})
}
