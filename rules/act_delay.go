package rules

import (
	"time"

	"github.com/goccy/go-yaml/ast"
)

// maxDelay bounds a delay: the proxy holds delayed stanzas in memory.
const maxDelay = 10 * time.Minute

// delay: hold the stanza for a while before forwarding it. The proxy keeps the order of
// stanzas within a direction, so later stanzas wait behind a delayed one. Delays of rules
// that `continue` add up.
//
//   - delay: 2s
//   - delay: {duration: 1.5s}
func init() {
	registerAction(&actionKind{
		name:    "delay",
		summary: "hold the stanza for a duration (order within the direction is kept)",
		compile: compileDelay,
	})
}

func compileDelay(c *compiler, key, arg ast.Node) action {
	v := arg
	if _, isMap := arg.(*ast.MappingNode); isMap {
		f, ok := c.mapping(arg, "delay", "duration")
		if !ok || !c.require(f, "delay", "duration") {
			return nil
		}
		v = f.get("duration")
	}
	if isNull(v) {
		c.errAt(key, "delay needs a duration, e.g. `delay: 2s`")
		return nil
	}
	s, ok := c.str(v, "delay")
	if !ok {
		return nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		c.errAt(v, "bad duration %q (write e.g. 500ms, 2s, 1m)", s)
		return nil
	}
	if d <= 0 || d > maxDelay {
		c.errAt(v, "delay must be more than 0 and at most %v", maxDelay)
		return nil
	}
	return actionFunc(func(s *state) { s.out.Delay = min(s.out.Delay+d, maxDelay) })
}
