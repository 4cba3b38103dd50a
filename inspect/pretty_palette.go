package inspect

import (
	"strings"

	"github.com/fatih/color"
)

// style is a colour as the escape sequences around a piece of text, precomputed so that
// painting appends bytes instead of formatting strings.
type style struct{ pre, post string }

func newStyle(on bool, attrs ...color.Attribute) style {
	if !on {
		return style{}
	}
	c := color.New(attrs...)
	c.EnableColor() // explicit: never the process-wide color.NoColor
	pre, post, _ := strings.Cut(c.Sprint("\x00"), "\x00")
	return style{pre, post}
}

func (s style) paint(dst []byte, text string) []byte {
	dst = append(dst, s.pre...)
	dst = append(dst, text...)
	return append(dst, s.post...)
}

// paintEscaped appends text escaped for XML (attr: as a single-quoted attribute value,
// with its quotes) without building an intermediate string.
func (s style) paintEscaped(dst []byte, text string, attr bool) []byte {
	dst = append(dst, s.pre...)
	if attr {
		dst = append(dst, '\'')
		dst = appendEscaped(dst, text, true)
		dst = append(dst, '\'')
	} else {
		dst = appendEscaped(dst, text, false)
	}
	return append(dst, s.post...)
}

// palette holds the colours of the pretty printer. With colour off every style is empty.
type palette struct {
	time, conn, c2s, s2c, none, kind style
	elem, attr, value, text, punct   style
	open, closed, note, gap, err     style
	explain, rtt, unmatched          style
	dropped, rejected, injected      style
	delayed, rules, minus, plus      style
	tags                             map[string]style
	tagDefault                       style
}

func newPalette(on bool) *palette {
	p := &palette{
		time:       newStyle(on, color.Faint),
		conn:       newStyle(on, color.FgHiBlack),
		c2s:        newStyle(on, color.FgHiGreen, color.Bold),
		s2c:        newStyle(on, color.FgHiMagenta, color.Bold),
		none:       newStyle(on, color.FgHiBlack),
		kind:       newStyle(on, color.Bold),
		elem:       newStyle(on, color.FgBlue, color.Bold),
		attr:       newStyle(on, color.FgCyan),
		value:      newStyle(on, color.FgGreen),
		text:       newStyle(on, color.FgYellow),
		punct:      newStyle(on, color.FgBlue),
		open:       newStyle(on, color.FgHiBlue, color.Bold),
		closed:     newStyle(on, color.FgHiBlue),
		note:       newStyle(on, color.FgHiCyan),
		gap:        newStyle(on, color.FgRed),
		err:        newStyle(on, color.FgHiRed, color.Bold),
		explain:    newStyle(on, color.FgHiBlack, color.Italic),
		rtt:        newStyle(on, color.FgHiBlack),
		unmatched:  newStyle(on, color.FgRed, color.Bold),
		dropped:    newStyle(on, color.BgRed, color.FgWhite, color.Bold),
		rejected:   newStyle(on, color.BgRed, color.FgWhite),
		injected:   newStyle(on, color.BgCyan, color.FgBlack),
		delayed:    newStyle(on, color.BgYellow, color.FgBlack),
		rules:      newStyle(on, color.FgHiBlack),
		minus:      newStyle(on, color.FgRed),
		plus:       newStyle(on, color.FgGreen),
		tagDefault: newStyle(on, color.ReverseVideo),
		tags:       map[string]style{},
	}
	bg := map[string]color.Attribute{
		"red": color.BgRed, "green": color.BgGreen, "yellow": color.BgYellow,
		"blue": color.BgBlue, "magenta": color.BgMagenta, "cyan": color.BgCyan,
		"white": color.BgWhite, "black": color.BgBlack, "gray": color.BgHiBlack,
		"grey": color.BgHiBlack,
	}
	for name, a := range bg {
		fg := color.FgBlack
		if name == "blue" || name == "black" || name == "red" || name == "magenta" || name == "gray" || name == "grey" {
			fg = color.FgWhite
		}
		p.tags[name] = newStyle(on, a, fg)
	}
	return p
}

func (p *palette) tag(colorName string) style {
	if s, ok := p.tags[strings.ToLower(colorName)]; ok {
		return s
	}
	return p.tagDefault
}
