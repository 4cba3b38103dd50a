package logs

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// erlBinary decodes an Erlang binary as io_lib's ~p prints it, possibly over several
// lines: <<"text with \"escapes\"\n">>, adjacent strings ("abc" "def", how a long binary
// is folded), <<"text"/utf8>>, and <<60,109,101,...>> for bytes that are not printable.
// feed takes one line at a time until the closing >>.
type erlBinary struct {
	buf     []byte
	started bool // << was read
	num     int  // the integer being read
	inNum   bool // digits of an integer are being read
}

// maxBinary bounds a decoded binary: ejabberd logs at most one read or one element.
const maxBinary = 8 << 20

var errBinary = errors.New("not an Erlang binary")

func (b *erlBinary) reset() { b.buf, b.started, b.inNum, b.num = b.buf[:0], false, false, 0 }

func (b *erlBinary) bytes() []byte { return b.buf }

// feed reads a line of the binary. done is true once >> was read.
func (b *erlBinary) feed(line []byte) (done bool, err error) {
	i := 0
	if !b.started {
		for i < len(line) && line[i] == ' ' {
			i++
		}
		if i+2 > len(line) || line[i] != '<' || line[i+1] != '<' {
			return false, fmt.Errorf("%w: no << at the start", errBinary)
		}
		i += 2
		b.started = true
	}
	for i < len(line) {
		if len(b.buf) > maxBinary {
			return false, fmt.Errorf("%w: longer than %d bytes", errBinary, maxBinary)
		}
		switch c := line[i]; {
		case c == '"':
			b.endNum()
			n, err := b.str(line[i+1:])
			if err != nil {
				return false, err
			}
			i += 1 + n
		case c >= '0' && c <= '9':
			b.num = b.num*10 + int(c-'0')
			if b.num > 255 {
				return false, fmt.Errorf("%w: byte value over 255", errBinary)
			}
			b.inNum = true
			i++
		case c == ',' || c == ' ' || c == '\t':
			b.endNum()
			i++
		case c == '>' && i+1 < len(line) && line[i+1] == '>':
			b.endNum()
			return true, nil
		case c == '.' && i+2 < len(line) && line[i+1] == '.' && line[i+2] == '.':
			return false, fmt.Errorf("%w: the log shortened it (...)", errBinary)
		default:
			return false, fmt.Errorf("%w: unexpected %q", errBinary, c)
		}
	}
	b.endNum()
	return false, nil
}

// str reads a string up to its closing quote (and a /utf8 after it), appending its bytes.
// It returns how much of s it read.
func (b *erlBinary) str(s []byte) (int, error) {
	for i := 0; i < len(s); {
		c := s[i]
		switch c {
		case '"':
			i++
			// A string marked /utf8 has its characters written as they are (UTF-8).
			if i+5 <= len(s) && string(s[i:i+5]) == "/utf8" {
				i += 5
			}
			return i, nil
		case '\\':
			v, n, err := erlEscape(s[i+1:])
			if err != nil {
				return 0, err
			}
			if v > 255 {
				b.buf = utf8.AppendRune(b.buf, rune(v))
			} else {
				b.buf = append(b.buf, byte(v))
			}
			i += 1 + n
		default:
			b.buf = append(b.buf, c)
			i++
		}
	}
	return 0, fmt.Errorf("%w: a string does not end on its line", errBinary)
}

func (b *erlBinary) endNum() {
	if b.inNum {
		b.buf = append(b.buf, byte(b.num))
		b.num, b.inNum = 0, false
	}
}

// erlEscape decodes the escape sequence at the start of s (after the backslash): its
// value and its length.
func erlEscape(s []byte) (v, n int, err error) {
	if len(s) == 0 {
		return 0, 0, fmt.Errorf("%w: a string ends with a backslash", errBinary)
	}
	switch c := s[0]; {
	case c >= '0' && c <= '7':
		for n < 3 && n < len(s) && s[n] >= '0' && s[n] <= '7' {
			v = v*8 + int(s[n]-'0')
			n++
		}
		return v, n, nil
	case c == 'x':
		if len(s) >= 2 && s[1] == '{' {
			end := -1
			for k := 2; k < len(s) && k < 12; k++ {
				if s[k] == '}' {
					end = k
					break
				}
			}
			if end < 0 {
				return 0, 0, fmt.Errorf("%w: bad \\x{...} escape", errBinary)
			}
			v, ok := hexValue(s[2:end])
			if !ok {
				return 0, 0, fmt.Errorf("%w: bad \\x{...} escape", errBinary)
			}
			return v, end + 1, nil
		}
		if len(s) < 3 {
			return 0, 0, fmt.Errorf("%w: bad \\x escape", errBinary)
		}
		v, ok := hexValue(s[1:3])
		if !ok {
			return 0, 0, fmt.Errorf("%w: bad \\x escape", errBinary)
		}
		return v, 3, nil
	case c == '^':
		if len(s) < 2 {
			return 0, 0, fmt.Errorf("%w: bad \\^ escape", errBinary)
		}
		return int(s[1] & 31), 2, nil
	default:
		if v, known := simpleEscapes[c]; known {
			return v, 1, nil
		}
		return int(c), 1, nil // Erlang: any other character stands for itself
	}
}

var simpleEscapes = map[byte]int{
	'b': '\b', 'd': 127, 'e': 27, 'f': '\f', 'n': '\n', 'r': '\r', 's': ' ', 't': '\t', 'v': '\v',
}

func hexValue(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 8 {
		return 0, false
	}
	v := 0
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			v = v*16 + int(c-'0')
		case c >= 'a' && c <= 'f':
			v = v*16 + int(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v*16 + int(c-'A'+10)
		default:
			return 0, false
		}
	}
	return v, v <= utf8.MaxRune
}
