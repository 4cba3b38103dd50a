package web

import (
	"strconv"
	"unicode/utf8"
)

// appendJSON appends s as one JSON object, the fields in summary's order with the same
// names and omissions as encoding/json would write them. Write runs it for every record;
// without reflection it costs a fraction of json.Marshal.
func (s *summary) appendJSON(b []byte) []byte {
	b = append(b, `{"i":`...)
	b = strconv.AppendUint(b, s.I, 10)
	num := func(name string, v uint64) {
		if v != 0 {
			b = append(b, ',', '"')
			b = append(b, name...)
			b = append(b, '"', ':')
			b = strconv.AppendUint(b, v, 10)
		}
	}
	str := func(name, v string, always bool) {
		if v != "" || always {
			b = append(b, ',', '"')
			b = append(b, name...)
			b = append(b, '"', ':')
			b = appendString(b, v)
		}
	}
	num("seq", s.Seq)
	str("time", s.Time, false)
	num("conn", s.Conn)
	str("dir", s.Dir, false)
	str("kind", s.Kind, true)
	str("name", s.Name, false)
	str("type", s.Type, false)
	str("id", s.ID, false)
	str("from", s.From, false)
	str("to", s.To, false)
	str("label", s.Label, true)
	str("src", s.Src, true)
	str("dst", s.Dst, false)
	str("origin", s.Origin, false)
	str("verdict", s.Verdict, false)
	if s.RTTms != 0 {
		b = append(b, `,"rtt_ms":`...)
		b = strconv.AppendFloat(b, s.RTTms, 'f', -1, 64)
	}
	num("req", s.Req)
	if s.Unmatched {
		b = append(b, `,"unmatched":true`...)
	}
	str("bound", s.Bound, false)
	str("client", s.Client, false)
	if len(s.Tags) > 0 {
		b = append(b, `,"tags":[`...)
		for i, t := range s.Tags {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"label":`...)
			b = appendString(b, t.Label)
			if t.Color != "" {
				b = append(b, `,"color":`...)
				b = appendString(b, t.Color)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"size":`...)
	b = strconv.AppendInt(b, int64(s.Size), 10)
	return append(b, '}')
}

const hex = "0123456789abcdef"

// appendString appends v as a JSON string. Control characters are escaped (so an event's
// data is one line), as are <, > and & (as encoding/json does, so no summary can close a
// script element), U+2028 and U+2029; invalid UTF-8 becomes U+FFFD.
func appendString(b []byte, v string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(v); {
		c := v[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, v[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(v[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, v[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, v[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, v[start:]...)
	return append(b, '"')
}
