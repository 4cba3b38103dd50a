package web

import (
	"strconv"

	"github.com/stanzascope/stanzascope/inspect"
)

// appendString appends v as a JSON string with HTML escaping, as encoding/json writes it
// (no summary can close a script element), by inspect's one JSON string writer.
func appendString(b []byte, v string) []byte { return inspect.AppendJSONString(b, v, true) }

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
		b = inspect.AppendJSONFloat(b, s.RTTms)
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
