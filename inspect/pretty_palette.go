package inspect

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/fatih/color"
)

// Theme is the background the pretty printer's colours are chosen for.
type Theme uint8

// Themes. Both are high-contrast, for a projector as well as a screen: no dim or italic
// text, no dark blue on black, no yellow on white.
const (
	ThemeDark  Theme = iota // light text on a dark background (the default)
	ThemeLight              // dark text on a light background
)

// ParseTheme returns the theme called name ("dark" or "light").
func ParseTheme(name string) (Theme, error) {
	switch name {
	case "dark":
		return ThemeDark, nil
	case "light":
		return ThemeLight, nil
	}
	return ThemeDark, fmt.Errorf("theme must be dark or light, not %q", name)
}

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

// paint appends text in the style, with the characters that could take over a terminal
// escaped (see appendSafe).
func (s style) paint(dst []byte, text string) []byte {
	dst = append(dst, s.pre...)
	dst = appendSafe(dst, text)
	return append(dst, s.post...)
}

// paintBytes is paint for bytes.
func (s style) paintBytes(dst []byte, text []byte) []byte {
	dst = append(dst, s.pre...)
	start := len(dst)
	dst = append(dst, text...)
	dst = sanitizeTail(dst, start)
	return append(dst, s.post...)
}

// appendSafe appends s for a terminal: the characters that a terminal would obey rather
// than show are written as escapes instead, so that the bytes of a stanza (or a note
// quoting them) cannot move the cursor, clear the screen, retitle the window or reorder
// the line: C0 controls but tab and newline, DEL, C1 controls (U+0080 to U+009F, which
// some terminals read as ESC sequences: U+009B is CSI), the bidirectional formatting
// characters (U+061C, U+200E, U+200F, U+202A to U+202E, U+2066 to U+2069), and bytes
// that are not UTF-8. They show as \u009b, \u202e, \x1b or \xff.
func appendSafe(dst []byte, s string) []byte {
	i := 0
	for i < len(s) {
		c := s[i]
		if c >= 0x20 && c < 0x7f || c == '\n' || c == '\t' {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[:i]...)
			dst = appendByteEscape(dst, c)
			s, i = s[i+1:], 0
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, s[:i]...)
			dst = appendByteEscape(dst, c)
			s, i = s[i+1:], 0
			continue
		}
		if unsafeRune(r) {
			dst = append(dst, s[:i]...)
			dst = append(dst, `\u`...)
			dst = append(dst, hexDigits[r>>12&15], hexDigits[r>>8&15], hexDigits[r>>4&15], hexDigits[r&15])
			s, i = s[i+n:], 0
			continue
		}
		i += n
	}
	return append(dst, s...)
}

func appendByteEscape(dst []byte, c byte) []byte {
	return append(dst, '\\', 'x', hexDigits[c>>4], hexDigits[c&15])
}

// unsafeRune reports whether a terminal would act on r instead of showing it.
func unsafeRune(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// sanitizeTail escapes dst[start:] in place (with appendSafe) when it holds anything to
// escape; the usual case costs one scan and no copy.
func sanitizeTail(dst []byte, start int) []byte {
	tail := dst[start:]
	if !needsEscape(tail) {
		return dst
	}
	safe := appendSafe(nil, string(tail))
	return append(dst[:start], safe...)
}

// needsEscape reports whether appendSafe would change b.
func needsEscape(b []byte) bool {
	for i := 0; i < len(b); {
		c := b[i]
		if c >= 0x20 && c < 0x7f || c == '\n' || c == '\t' {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			return true
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 || unsafeRune(r) {
			return true
		}
		i += n
	}
	return false
}

// palette holds the colours of the pretty printer. With colour off every style is empty.
type palette struct {
	seq, time, c2s, s2c, none, kind style
	elem, attr, value, text, punct  style
	open, closed, note, gap, err    style
	explain, rtt, unmatched         style
	dropped, rejected, injected     style
	delayed, rules, minus, plus     style
	tags                            map[string]style
	tagDefault                      style
	conns                           []style // one per connection, in turn (see conn)
}

func newPalette(on bool, theme Theme) *palette {
	// Foreground colours that read well on the theme's background. On a dark background
	// the bright variants; on a light one the normal ones, bold where thin strokes fade.
	var fg struct{ base, green, magenta, cyan, yellow, blue, red color.Attribute }
	if theme == ThemeLight {
		fg.base, fg.green, fg.magenta, fg.cyan, fg.yellow, fg.blue, fg.red = color.FgBlack, color.FgGreen, color.FgMagenta, color.FgCyan, color.FgYellow, color.FgBlue, color.FgRed
	} else {
		fg.base, fg.green, fg.magenta, fg.cyan, fg.yellow, fg.blue, fg.red = color.FgHiWhite, color.FgHiGreen, color.FgHiMagenta, color.FgHiCyan, color.FgHiYellow, color.FgHiBlue, color.FgHiRed
	}
	p := &palette{
		seq:        newStyle(on, fg.base, color.Bold),
		time:       newStyle(on, fg.base),
		c2s:        newStyle(on, fg.green, color.Bold),
		s2c:        newStyle(on, fg.magenta, color.Bold),
		none:       newStyle(on, fg.base),
		kind:       newStyle(on, fg.base, color.Bold),
		elem:       newStyle(on, fg.cyan, color.Bold),
		attr:       newStyle(on, fg.base),
		value:      newStyle(on, fg.green),
		text:       newStyle(on, fg.base, color.Bold),
		punct:      newStyle(on, fg.cyan),
		open:       newStyle(on, fg.blue, color.Bold),
		closed:     newStyle(on, fg.blue, color.Bold),
		note:       newStyle(on, fg.yellow, color.Bold),
		gap:        newStyle(on, fg.red, color.Bold),
		err:        newStyle(on, fg.red, color.Bold),
		explain:    newStyle(on, fg.base),
		rtt:        newStyle(on, fg.base),
		unmatched:  newStyle(on, fg.red, color.Bold),
		dropped:    newStyle(on, color.BgRed, color.FgHiWhite, color.Bold),
		rejected:   newStyle(on, color.BgRed, color.FgHiWhite, color.Bold),
		injected:   newStyle(on, color.BgCyan, color.FgBlack, color.Bold),
		delayed:    newStyle(on, color.BgYellow, color.FgBlack, color.Bold),
		rules:      newStyle(on, fg.base),
		minus:      newStyle(on, fg.red, color.Bold),
		plus:       newStyle(on, fg.green, color.Bold),
		tagDefault: newStyle(on, color.ReverseVideo),
		tags:       map[string]style{},
	}
	if theme == ThemeLight {
		// Yellow on white is unreadable: notes in blue, text in black.
		p.note = newStyle(on, color.FgBlue, color.Bold)
		p.delayed = newStyle(on, color.BgYellow, color.FgBlack, color.Bold)
	}
	// Connections: a coloured block, readable on either background, six in turn.
	for _, c := range [][2]color.Attribute{
		{color.BgBlue, color.FgHiWhite}, {color.BgYellow, color.FgBlack}, {color.BgMagenta, color.FgHiWhite},
		{color.BgCyan, color.FgBlack}, {color.BgGreen, color.FgBlack}, {color.BgWhite, color.FgBlack},
	} {
		p.conns = append(p.conns, newStyle(on, c[0], c[1], color.Bold))
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

// conn returns the colour of connection id: neighbours differ, and the colours come round
// again after six connections.
func (p *palette) conn(id uint64) style {
	if id == 0 {
		return p.none
	}
	return p.conns[(id-1)%uint64(len(p.conns))]
}

func (p *palette) tag(colorName string) style {
	if s, ok := p.tags[strings.ToLower(colorName)]; ok {
		return s
	}
	return p.tagDefault
}
