package rules

import (
	"regexp"

	"github.com/goccy/go-yaml/ast"
	"github.com/stanzascope/stanzascope/inspect"
)

// whenKeys are the conditions a rule may set under `when:`.
var whenKeys = []string{"direction", "element", "type", "from", "to", "bound", "namespace", "xpath", "keepalive"}

var nameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// when reads a rule's conditions into r.
func (c *compiler) when(n ast.Node, r *rule) {
	f, ok := c.mapping(n, "when", whenKeys...)
	if !ok {
		return
	}
	if v := f.get("direction"); f.has("direction") {
		if s, ok := c.str(v, "direction"); ok {
			switch s {
			case "any", "both":
			default:
				d, ok := inspect.ParseDirection(s)
				if !ok || d == inspect.DirNone {
					c.errAt(v, "direction must be client-to-server (c2s), server-to-client (s2c) or any, not %q", s)
				}
				r.dir = d
			}
		}
	}
	if v := f.get("keepalive"); f.has("keepalive") {
		r.keepalive, _ = c.boolean(v, "keepalive")
		if r.keepalive {
			for _, k := range whenKeys {
				if k != "direction" && k != "keepalive" && f.has(k) {
					c.errAt(f.keys[k], "%s cannot be combined with keepalive: whitespace keep-alives have no element", k)
				}
			}
		}
	}
	if v := f.get("element"); f.has("element") {
		if list, ok := c.strs(v, "element"); ok {
			for _, s := range list {
				if !nameRE.MatchString(s) {
					c.errAt(v, "element %q is not an XML element name (message, presence, iq, auth, ...)", s)
				}
			}
			r.elements = list
		}
	}
	if v := f.get("type"); f.has("type") {
		if list, ok := c.strs(v, "type"); ok {
			r.types = list
		}
	}
	r.from = c.jidCond(f, "from")
	r.to = c.jidCond(f, "to")
	r.bound = c.jidCond(f, "bound")
	if v := f.get("namespace"); f.has("namespace") {
		if list, ok := c.strs(v, "namespace"); ok {
			for _, s := range list {
				if s == "" {
					c.errAt(v, "namespace is empty")
				}
			}
			r.namespaces = list
		}
	}
	if v := f.get("xpath"); f.has("xpath") {
		if s, ok := c.str(v, "xpath"); ok {
			x, err := compileXPath(s, c.ns)
			if err != nil {
				c.errAt(v, "%v", err)
			}
			r.xp = x
			r.hint = literalHint(s)
		}
	}
}

// jidCond reads a JID pattern condition.
func (c *compiler) jidCond(f fields, key string) *jidPattern {
	if !f.has(key) {
		return nil
	}
	v := f.get(key)
	s, ok := c.str(v, key)
	if !ok {
		return nil
	}
	p, err := parseJIDPattern(s)
	if err != nil {
		c.errAt(v, "%s: %v", key, err)
		return nil
	}
	return p
}
