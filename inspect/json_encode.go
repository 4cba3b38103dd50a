package inspect

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// appendJSON appends jr as one line of JSON, as encoding/json would with SetEscapeHTML(false)
// (so <, > and & stay readable in the xml field), without reflection: the JSON printer is
// on the proxy's logging path.
func (jr *jsonRecord) appendJSON(b []byte) []byte {
	b = append(b, '{')
	first := true
	str := func(name, v string, omitEmpty bool) {
		if omitEmpty && v == "" {
			return
		}
		b = jsonKey(b, name, &first)
		b = appendJSONString(b, v)
	}
	if jr.Time != "" {
		str("time", jr.Time, true)
	} else if !jr.at.IsZero() {
		b = jsonKey(b, "time", &first)
		b = append(b, '"')
		b = appendTimeUTC(b, jr.at) // no byte of it needs escaping
		b = append(b, '"')
	}
	if jr.Conn != 0 {
		b = jsonKey(b, "conn", &first)
		b = strconv.AppendUint(b, jr.Conn, 10)
	}
	str("node", jr.Node, true)
	str("dir", jr.Dir, true)
	str("kind", jr.Kind, false)
	str("name", jr.Name, true)
	str("ns", jr.NS, true)
	text := func(name string, v jsonText) {
		if len(v) > 0 {
			b = jsonKey(b, name, &first)
			b = appendJSONString(b, v)
		}
	}
	text("type", jr.Type)
	text("id", jr.ID)
	text("from", jr.From)
	text("to", jr.To)
	b = jsonKey(b, "size", &first)
	b = strconv.AppendInt(b, int64(jr.Size), 10)
	if len(jr.XML) > 0 {
		b = jsonKey(b, "xml", &first)
		b = appendJSONString(b, jr.XML)
	}
	str("note", jr.Note, true)
	str("error", jr.Error, true)
	str("condition", jr.Condition, true)
	if len(jr.Original) > 0 {
		b = jsonKey(b, "original", &first)
		b = appendJSONString(b, jr.Original)
	}
	str("verdict", jr.Verdict, true)
	if len(jr.Tags) > 0 {
		b = jsonKey(b, "tags", &first)
		b = append(b, '[')
		for i, t := range jr.Tags {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"label":`...)
			b = appendJSONString(b, t.Label)
			if t.Color != "" {
				b = append(b, `,"color":`...)
				b = appendJSONString(b, t.Color)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if len(jr.Rules) > 0 {
		b = jsonKey(b, "rules", &first)
		b = append(b, '[')
		for i, r := range jr.Rules {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, r)
		}
		b = append(b, ']')
	}
	if jr.RTTms != 0 {
		b = jsonKey(b, "rtt_ms", &first)
		b = AppendJSONFloat(b, jr.RTTms)
	}
	if jr.Unmatched {
		b = jsonKey(b, "unmatched", &first)
		b = append(b, "true"...)
	}
	str("client", jr.Client, true)
	str("server", jr.Server, true)
	str("origin", jr.Origin, true)
	str("transport", jr.Transport, true)
	if jr.Seq != 0 {
		b = jsonKey(b, "seq", &first)
		b = strconv.AppendUint(b, jr.Seq, 10)
	}
	if len(jr.Violations) > 0 {
		b = jsonKey(b, "violations", &first)
		b = appendViolations(b, jr.Violations)
	}
	if jr.Milestone != nil {
		b = jsonKey(b, "milestone", &first)
		b = jr.Milestone.appendJSON(b)
	}
	return append(b, "}\n"...)
}

// appendTimeUTC appends t in UTC as t.UTC().AppendFormat(b, time.RFC3339Nano) does
// (the fraction without its trailing zeros, none when zero), without reading the layout
// again for each record: every line of the JSON log has it. Years outside 0-9999 take
// AppendFormat.
func appendTimeUTC(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, time.RFC3339Nano)
	}
	hour, min, sec := t.Clock()
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, min, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	if ns := t.Nanosecond(); ns != 0 {
		n := 9
		for ns%10 == 0 {
			ns /= 10
			n--
		}
		b = append(b, '.')
		b = appendDigits(b, ns, n)
	}
	return append(b, 'Z')
}

// appendDigits appends v (0 <= v < 10^n) in exactly n decimal digits.
func appendDigits(b []byte, v, n int) []byte {
	end := len(b) + n
	b = append(b, "000000000"[:n]...)
	for i := end - 1; v > 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
	return b
}

// appendViolations appends vs as a JSON array, with the field names of Violation's tags.
func appendViolations(b []byte, vs []Violation) []byte {
	b = append(b, '[')
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"condition":`...)
		b = appendJSONString(b, v.Condition)
		b = append(b, `,"text":`...)
		b = appendJSONString(b, v.Text)
		if v.Section != "" {
			b = append(b, `,"section":`...)
			b = appendJSONString(b, v.Section)
		}
		b = append(b, `,"offset":`...)
		b = strconv.AppendInt(b, v.Offset, 10)
		b = append(b, `,"line":`...)
		b = strconv.AppendInt(b, int64(v.Line), 10)
		b = append(b, `,"col":`...)
		b = strconv.AppendInt(b, int64(v.Col), 10)
		b = append(b, '}')
	}
	return append(b, ']')
}

func jsonKey(b []byte, name string, first *bool) []byte {
	if !*first {
		b = append(b, ',')
	}
	*first = false
	b = append(b, '"')
	b = append(b, name...)
	return append(b, `":`...)
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string, as encoding/json writes it: invalid UTF-8
// becomes U+FFFD, and control characters, U+2028 and U+2029 are escaped; with html also
// <, > and & (encoding/json's default, so that no string can close a script element; the
// web view's summaries). It is stanzascope's one JSON string writer: the JSON log, the
// milestones and the web view use it.
func AppendJSONString(b []byte, s string, html bool) []byte {
	if html {
		return appendQuoted(b, s, &htmlStop)
	}
	return appendQuoted(b, s, &jsonStop)
}

// appendJSONString appends s quoted as encoding/json does without HTML escaping. It takes
// bytes too, so a stanza's bytes are escaped straight into the line without a copy to a
// string first.
func appendJSONString[S ~string | ~[]byte](b []byte, s S) []byte {
	return appendQuoted(b, s, &jsonStop)
}

// jsonStop and htmlStop are 1 for the bytes a JSON string does not hold as they are,
// without and with HTML escaping: the ASCII bytes to escape, and every byte >= 0x80 (the
// start or continuation of a character checked by decoding it). They are bytes rather
// than bools so that appendQuoted tests four bytes with one branch.
var jsonStop, htmlStop [256]uint8

func init() {
	for c := 0; c < 256; c++ {
		safe := c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\'
		jsonStop[c] = b2u(!safe)
		htmlStop[c] = b2u(!safe || c == '<' || c == '>' || c == '&')
	}
}

// appendQuoted appends s as a JSON string, the bytes that stop marks 0 as they are.
func appendQuoted[S ~string | ~[]byte](b []byte, s S, stop *[256]uint8) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		for i+4 <= len(s) && stop[s[i]]|stop[s[i+1]]|stop[s[i+2]]|stop[s[i+3]] == 0 {
			i += 4 // a run of bytes that stay as they are, most of a stanza
		}
		if i == len(s) {
			break
		}
		c := s[i]
		if stop[c] == 0 {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := decodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// AppendJSONFloat appends f as encoding/json writes a float64 (the JSON log's and the web
// view's round trips).
func AppendJSONFloat(b []byte, f float64) []byte {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return append(b, '0') // cannot happen for a duration; keep the line valid JSON
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// decodeRune is utf8.DecodeRune for a string or bytes.
func decodeRune[S ~string | ~[]byte](s S) (rune, int) {
	if len(s) >= 4 {
		return utf8.DecodeRuneInString(string(s[:4]))
	}
	return utf8.DecodeRuneInString(string(s))
}

// jsonText is the bytes of a stanza in a JSON record: a string in JSON (not base64, as
// encoding/json would write a []byte), held as bytes so the printer copies nothing.
type jsonText []byte

// MarshalJSON writes t as a JSON string, as encoding/json writes a string with HTML
// escaping off.
func (t jsonText) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(string(t)); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// UnmarshalJSON reads a JSON string into t.
func (t *jsonText) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	*t = jsonText(s)
	return nil
}
