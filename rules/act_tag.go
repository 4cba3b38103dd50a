package rules

import (
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/stanzascope/stanzascope/inspect"
)

// tagColors are the colours a tag may have in the pretty log.
var tagColors = []string{"black", "blue", "cyan", "gray", "green", "magenta", "red", "white", "yellow"}

const maxLabel = 64

// tag: attach a label (and a colour) to the stanza in the log.
//
//   - tag: slow-path
//   - tag: {label: registration, color: red}
func init() {
	registerAction(&actionKind{
		name:    "tag",
		summary: "label the stanza in the log: tag: LABEL or {label, color}",
		compile: compileTag,
	})
}

func compileTag(c *compiler, key, arg ast.Node) action {
	var t inspect.Tag
	if _, isMap := arg.(*ast.MappingNode); isMap {
		f, ok := c.mapping(arg, "tag", "label", "color")
		if !ok || !c.require(f, "tag", "label") {
			return nil
		}
		if t.Label, ok = c.str(f.get("label"), "label"); !ok {
			return nil
		}
		if f.has("color") {
			col, ok := c.str(f.get("color"), "color")
			if !ok {
				return nil
			}
			if col == "grey" {
				col = "gray"
			}
			if !contains(tagColors, col) {
				c.errAt(f.get("color"), "unknown color %q (known: %s)", col, strings.Join(tagColors, ", "))
				return nil
			}
			t.Color = col
		}
	} else {
		label, ok := c.str(arg, "tag")
		if !ok {
			if isNull(arg) {
				c.errAt(key, "tag needs a label: `tag: LABEL` or `tag: {label: L, color: red}`")
			}
			return nil
		}
		t.Label = label
	}
	if t.Label == "" || len(t.Label) > maxLabel {
		c.errAt(errNode(key, arg), "tag label must be 1 to %d characters", maxLabel)
		return nil
	}
	return actionFunc(func(s *state) { s.out.Tags = append(s.out.Tags, t) })
}
