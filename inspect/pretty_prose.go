package inspect

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"
)

// minColumns is the narrowest terminal the printer wraps for; below it, lines run on.
const minColumns = 40

// legend is the line a person reads first (PrettyOptions.Legend).
const legend = "How to read this: #N is the record's number (the same in the JSON log and the web view), " +
	"then the time, the connection (#1, #2, ... each in a colour of its own), and the direction: " +
	"C->S from the client to the server, S->C from the server to the client."

// prose appends text as lines of prose: the first starts with first, the others with cont,
// each wrapped at Columns (when set) and painted in st, each ending with a newline.
func (p *Pretty) prose(b []byte, first, cont string, st style, text string) []byte {
	b = append(b, first...)
	b = p.proseAt(b, len(first), cont, st, text)
	return append(b, '\n')
}

// proseAt appends text on the current line, which already holds col columns, wrapping at
// Columns onto lines that start with cont. It does not end the last line. Each line is
// painted on its own, so that a colour never runs into the next line's indentation.
func (p *Pretty) proseAt(b []byte, col int, cont string, st style, text string) []byte {
	width := p.opt.Columns
	if width <= 0 {
		return st.paint(b, text)
	}
	for i, para := range strings.Split(text, "\n") {
		if i > 0 {
			b = append(b, '\n')
			b = append(b, cont...)
			col = len(cont)
		}
		b = p.wrap(b, col, width, cont, st, para)
	}
	return b
}

// wrap appends one paragraph (no newlines) from column col, breaking between words at
// width. A word longer than a whole line (a URL, base64) is not broken: it runs on.
func (p *Pretty) wrap(b []byte, col, width int, cont string, st style, para string) []byte {
	line := 0 // start of the current line's text in para
	last := 0 // end of the last word that fits
	n := col  // columns used on the current line
	emit := func(end int) {
		b = st.paint(b, para[line:end])
	}
	for i := 0; i < len(para); {
		// The next word: spaces, then non-spaces.
		j := i
		for j < len(para) && para[j] == ' ' {
			j++
		}
		k := j
		for k < len(para) && para[k] != ' ' {
			k++
		}
		w := utf8.RuneCountInString(para[i:k])
		if n+w > width && last > line {
			emit(last)
			b = append(b, '\n')
			b = append(b, cont...)
			line = j // the spaces at the break are dropped
			n = len(cont) + utf8.RuneCountInString(para[j:k])
		} else {
			n += w
		}
		last, i = k, k
	}
	if line < len(para) {
		emit(len(para))
	}
	return b
}

// lineWidth returns how many columns the last line of b takes on a terminal: the runes
// after the last newline, colour sequences left out.
func lineWidth(b []byte) int {
	if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	n := 0
	for i := 0; i < len(b); {
		if b[i] == 0x1b {
			// CSI ... final byte in @ to ~
			i++
			if i < len(b) && b[i] == '[' {
				i++
				for i < len(b) && !(b[i] >= '@' && b[i] <= '~') {
					i++
				}
				i++
			}
			continue
		}
		_, size := utf8.DecodeRune(b[i:])
		i += size
		n++
	}
	return n
}

// explain returns the explanation line of r. A stream header is explained in full the first
// time one of its kind (direction, version) is shown; later ones, on other connections or
// after a restart, get the short form that points back to the full one, so that a class
// with thirty connections does not read the same paragraph sixty times.
func (p *Pretty) explain(r *Record) string {
	if r.Kind != KindStreamOpen {
		return Explain(r)
	}
	h := r.Header
	if h == nil {
		h = headerFromRaw(r.Raw)
	}
	k := headerKind{dir: r.Dir, legacy: h.Legacy(), server: h.ContentNS == NSServer}
	if at, ok := p.explained[k]; ok {
		s := explainHeaderBrief(r, h)
		if at != 0 {
			s += " (explained at #" + strconv.FormatUint(at, 10) + ")"
		}
		return s
	}
	if p.explained == nil {
		p.explained = map[headerKind]uint64{}
	}
	p.explained[k] = r.Seq
	return Explain(r)
}
