package inspect

import (
	"bytes"
	"encoding/json"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// appendJSON appends jr as one line of JSON, as encoding/json would with SetEscapeHTML(false)
// (so <, > and & stay readable in the xml field), without reflection: the JSON printer is
// on the proxy's logging path. Kind is always present, so every key after it carries its
// comma; before it, a key takes one unless it is the first of the object (appendKey).
func (jr *jsonRecord) appendJSON(b []byte) []byte {
	b = append(b, '{')
	open := len(b) // a key that starts here is the object's first
	if jr.Time != "" {
		b = append(b, `"time":`...)
		b = appendJSONString(b, jr.Time)
	} else if !jr.at.IsZero() {
		b = append(b, `"time":"`...)
		b = jr.appendTime(b) // no byte of it needs escaping
		b = append(b, '"')
	}
	if jr.Conn != 0 {
		b = appendKey(b, open, `,"conn":`)
		b = appendUint(b, jr.Conn)
	}
	if jr.Node != "" {
		b = appendKey(b, open, `,"node":`)
		b = appendJSONString(b, jr.Node)
	}
	if jr.dirField != "" {
		b = appendKey(b, open, jr.dirField)
	} else if jr.Dir != "" {
		b = appendKey(b, open, `,"dir":`)
		b = appendJSONString(b, jr.Dir)
	}
	if jr.kindField != "" {
		b = appendKey(b, open, jr.kindField)
	} else {
		b = appendKey(b, open, `,"kind":`)
		b = appendJSONString(b, jr.Kind)
	}
	if jr.Name != "" {
		b = append(b, `,"name":`...)
		b = appendJSONString(b, jr.Name)
	}
	if jr.NS != "" {
		b = append(b, `,"ns":`...)
		b = appendJSONString(b, jr.NS)
	}
	if len(jr.Type) > 0 {
		b = append(b, `,"type":`...)
		b = appendJSONString(b, jr.Type)
	}
	if len(jr.ID) > 0 {
		b = append(b, `,"id":`...)
		b = appendJSONString(b, jr.ID)
	}
	if len(jr.From) > 0 {
		b = append(b, `,"from":`...)
		b = appendJSONString(b, jr.From)
	}
	if len(jr.To) > 0 {
		b = append(b, `,"to":`...)
		b = appendJSONString(b, jr.To)
	}
	b = append(b, `,"size":`...)
	if jr.Size >= 0 {
		b = appendUint(b, uint64(jr.Size))
	} else {
		b = strconv.AppendInt(b, int64(jr.Size), 10) // only from a line read back
	}
	if len(jr.XML) > 0 {
		b = append(b, `,"xml":`...)
		b = appendJSONString(b, jr.XML)
	}
	if jr.Note != "" || jr.Error != "" || jr.Condition != "" || len(jr.Original) > 0 || jr.Verdict != "" ||
		len(jr.Tags) > 0 || len(jr.Rules) > 0 || jr.RTTms != 0 || jr.Unmatched {
		b = jr.appendRare(b) // none of them on a record of live traffic that passed untouched
	}
	if jr.Client != "" {
		b = append(b, `,"client":`...)
		b = appendJSONString(b, jr.Client)
	}
	if jr.Server != "" {
		b = append(b, `,"server":`...)
		b = appendJSONString(b, jr.Server)
	}
	if jr.originField != "" {
		b = append(b, jr.originField...)
	} else if jr.Origin != "" {
		b = append(b, `,"origin":`...)
		b = appendJSONString(b, jr.Origin)
	}
	if jr.Transport != "" {
		b = append(b, `,"transport":`...)
		b = appendJSONString(b, jr.Transport)
	}
	if jr.Seq != 0 {
		b = append(b, `,"seq":`...)
		b = appendUint(b, jr.Seq)
	}
	if len(jr.Violations) > 0 {
		b = append(b, `,"violations":`...)
		b = appendViolations(b, jr.Violations)
	}
	if jr.Milestone != nil {
		b = append(b, `,"milestone":`...)
		b = jr.Milestone.appendJSON(b)
	}
	return append(b, "}\n"...)
}

// appendUint appends v in decimal, as strconv.AppendUint does, the numbers below 10000
// (a connection's, a stanza's size) two digits at a time from a table.
func appendUint(b []byte, v uint64) []byte {
	switch {
	case v < 10:
		return append(b, byte('0'+v))
	case v < 100:
		return append(b, digits2[2*v], digits2[2*v+1])
	case v < 1000:
		p := v % 100
		return append(b, byte('0'+v/100), digits2[2*p], digits2[2*p+1])
	case v < 10000:
		q, p := v/100, v%100
		return append(b, digits2[2*q], digits2[2*q+1], digits2[2*p], digits2[2*p+1])
	}
	return strconv.AppendUint(b, v, 10)
}

// appendKey appends key, a key with its leading comma and colon, without the comma when
// it is the first of the object: when nothing was written since open.
func appendKey(b []byte, open int, key string) []byte {
	if len(b) == open {
		key = key[1:]
	}
	return append(b, key...)
}

// appendRare appends the fields between xml and client, in their order: notes, errors,
// rules' work and replies' round trips.
func (jr *jsonRecord) appendRare(b []byte) []byte {
	if jr.Note != "" {
		b = append(b, `,"note":`...)
		b = appendJSONString(b, jr.Note)
	}
	if jr.Error != "" {
		b = append(b, `,"error":`...)
		b = appendJSONString(b, jr.Error)
	}
	if jr.Condition != "" {
		b = append(b, `,"condition":`...)
		b = appendJSONString(b, jr.Condition)
	}
	if len(jr.Original) > 0 {
		b = append(b, `,"original":`...)
		b = appendJSONString(b, jr.Original)
	}
	if jr.Verdict != "" {
		b = append(b, `,"verdict":`...)
		b = appendJSONString(b, jr.Verdict)
	}
	if len(jr.Tags) > 0 {
		b = append(b, `,"tags":[`...)
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
		b = append(b, `,"rules":[`...)
		for i, r := range jr.Rules {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, r)
		}
		b = append(b, ']')
	}
	if jr.RTTms != 0 {
		b = append(b, `,"rtt_ms":`...)
		b = AppendJSONFloat(b, jr.RTTms)
	}
	if jr.Unmatched {
		b = append(b, `,"unmatched":true`...)
	}
	return b
}

// appendTime appends jr.at as appendTimeUTC does, the date and time of day from the last
// line's when it is in the same second (a log's lines come many per second).
func (jr *jsonRecord) appendTime(b []byte) []byte {
	sec := jr.at.Unix()
	if sec != jr.clock.sec || jr.clock.date[0] == 0 {
		if !formatSecond(&jr.clock.date, sec) {
			return jr.at.UTC().AppendFormat(b, time.RFC3339Nano)
		}
		jr.clock.sec = sec
	}
	n := len(b)
	b = slices.Grow(b, len(jr.clock.date)+11)[:n+len(jr.clock.date)]
	*(*[19]byte)(b[n:]) = jr.clock.date // stores of a known size, not a call to memmove
	return appendFraction(b, jr.at.Nanosecond())
}

// lineClock is the second of the last time a jsonRecord wrote, formatted.
type lineClock struct {
	sec  int64
	date [19]byte // "2006-01-02T15:04:05" of sec in UTC; zero before the first
}

// appendTimeUTC appends t in UTC as t.UTC().AppendFormat(b, time.RFC3339Nano) does
// (the fraction without its trailing zeros, none when zero), from its Unix seconds in one
// pass instead of reading the layout again for each record: every line of the JSON log
// has it. Times before 0000-03-01 or after 9999 take AppendFormat.
func appendTimeUTC(b []byte, t time.Time) []byte {
	var d [19]byte
	if !formatSecond(&d, t.Unix()) {
		return t.UTC().AppendFormat(b, time.RFC3339Nano)
	}
	b = append(b, d[:]...)
	return appendFraction(b, t.Nanosecond())
}

// formatSecond sets d to sec, seconds since 1970-01-01 UTC, as "2006-01-02T15:04:05"
// (RFC 3339 in UTC, without the fraction and the Z). It reports false, d unchanged, for
// days before 0000-03-01 or after 9999.
func formatSecond(d *[19]byte, sec int64) bool {
	days, rem := sec/86400, sec%86400
	if rem < 0 {
		rem += 86400
		days--
	}
	if days < minTimeDays || days >= maxTimeDays {
		return false
	}
	// The proleptic Gregorian date of days since 1970-01-01, counted in eras of 400 years
	// from 0000-03-01 so that the leap day is the last of its year (H. Hinnant's
	// civil_from_days).
	z := days + 719468
	era := z / 146097 // z >= 0 in the range above
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	day := doy - (153*mp+2)/5 + 1
	month := mp + 3
	year := yoe + era*400
	if month > 12 {
		month -= 12
		year++
	}
	y2 := year / 100
	d[0], d[1] = digits2[2*y2], digits2[2*y2+1]
	y2 = year % 100
	d[2], d[3] = digits2[2*y2], digits2[2*y2+1]
	d[4] = '-'
	d[5], d[6] = digits2[2*month], digits2[2*month+1]
	d[7] = '-'
	d[8], d[9] = digits2[2*day], digits2[2*day+1]
	d[10] = 'T'
	h, m, s := rem/3600, rem/60%60, rem%60
	d[11], d[12] = digits2[2*h], digits2[2*h+1]
	d[13] = ':'
	d[14], d[15] = digits2[2*m], digits2[2*m+1]
	d[16] = ':'
	d[17], d[18] = digits2[2*s], digits2[2*s+1]
	return true
}

// appendFraction appends ns (0 <= ns < 1e9) as RFC3339Nano's fraction of a second, and
// the Z: nothing of it when ns is 0, else a point and its digits without trailing zeros.
func appendFraction(b []byte, ns int) []byte {
	if ns == 0 {
		return append(b, 'Z')
	}
	n := len(b)
	b = slices.Grow(b, 11)[:n+11]
	d := (*[11]byte)(b[n:])
	d[0] = '.'
	hi, lo := ns/10000, ns%10000 // digits 1-5 and 6-9, two chains instead of one
	d[1] = byte('0' + hi/10000)
	p := hi % 10000
	d[2], d[3] = digits2[2*(p/100)], digits2[2*(p/100)+1]
	d[4], d[5] = digits2[2*(p%100)], digits2[2*(p%100)+1]
	d[6], d[7] = digits2[2*(lo/100)], digits2[2*(lo/100)+1]
	d[8], d[9] = digits2[2*(lo%100)], digits2[2*(lo%100)+1]
	k := 10
	for d[k-1] == '0' {
		k--
	}
	d[k] = 'Z'
	return b[:n+k+1]
}

// minTimeDays and maxTimeDays are the days since 1970-01-01 of 0000-03-01 (the first
// day of the first era, so that the era's division needs no floor) and of 10000-01-01:
// appendTimeUTC writes the days between itself.
const (
	minTimeDays = -719468
	maxTimeDays = 2932897
)

// digits2 holds 00 to 99, two bytes each.
const digits2 = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

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

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as a JSON string, as encoding/json writes it: invalid UTF-8
// becomes U+FFFD, and control characters, U+2028 and U+2029 are escaped; with html also
// <, > and & (encoding/json's default, so that no string can close a script element; the
// web view's summaries). It is stanzascope's one JSON string writer: the JSON log, the
// milestones and the web view use it.
func AppendJSONString(b []byte, s string, html bool) []byte {
	return appendQuoted(b, s, html)
}

// appendJSONString appends s quoted as encoding/json does without HTML escaping. It takes
// bytes too, so a stanza's bytes are escaped straight into the line without a copy to a
// string first.
func appendJSONString[S ~string | ~[]byte](b []byte, s S) []byte {
	return appendQuoted(b, s, false)
}

// jsonStop and htmlStop are 1 for the bytes a JSON string does not hold as they are,
// without and with HTML escaping: the ASCII bytes to escape, and every byte >= 0x80 (the
// start or continuation of a character checked by decoding it). appendShortQuoted reads
// them for each byte of a short string, plainRun for the last bytes of a long one.
var jsonStop, htmlStop [256]uint8

func init() {
	for c := 0; c < 256; c++ {
		safe := c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\'
		jsonStop[c] = b2u(!safe)
		htmlStop[c] = b2u(!safe || c == '<' || c == '>' || c == '&')
	}
}

// appendQuoted appends s as a JSON string: the bytes that plainRun passes as they are,
// the others escaped or, from 0x80 on, decoded.
func appendQuoted[S ~string | ~[]byte](b []byte, s S, html bool) []byte {
	if len(s) <= maxShortQuoted {
		stop := &jsonStop
		if html {
			stop = &htmlStop
		}
		if line, ok := appendShortQuoted(b, s, stop); ok {
			return line
		}
	}
	b = append(b, '"')
	start := 0
	for i := 0; ; {
		i = plainRun(s, i, html)
		if i == len(s) {
			break
		}
		c := s[i]
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

// maxShortQuoted is the longest string appendShortQuoted takes: most fields of a line but
// the xml (a kind, a name, a namespace, an id, a JID) are shorter.
const maxShortQuoted = 48

// appendShortQuoted appends s quoted when none of its bytes is to escape or decode (stop
// marks those), checking and copying each byte in one pass instead of a search and a
// copy; when one is, ok is false and line holds b's bytes only (appendQuoted starts over).
func appendShortQuoted[S ~string | ~[]byte](b []byte, s S, stop *[256]uint8) (line []byte, ok bool) {
	n := len(b)
	if cap(b)-n < len(s)+2 {
		b = slices.Grow(b, len(s)+2)
	}
	d := b[n : n+len(s)+2]
	for k := 0; k < len(s); k++ {
		c := s[k]
		if stop[c] != 0 {
			return b[:n], false
		}
		d[k+1] = c
	}
	d[0], d[len(s)+1] = '"', '"'
	return b[:n+len(s)+2], true
}

// Masks for plainRun's tests of 8 bytes at once: every byte 0x01, every byte 0x80.
const (
	lsb8 = 0x0101010101010101
	msb8 = 0x8080808080808080
)

// plainRun returns the index of the first byte from i on that a JSON string does not hold
// as it is (jsonStop, htmlStop with html), or len(s): the run before it is copied as it
// is, and it is most of a stanza. It tests 16 and then 8 bytes at a time (stopMask), the
// last few with the table.
func plainRun[S ~string | ~[]byte](s S, i int, html bool) int {
	for ; i+16 <= len(s); i += 16 {
		m0, m1 := stopMask(load64(s, i), html), stopMask(load64(s, i+8), html)
		if m0|m1 != 0 {
			if m0 != 0 {
				return i + bits.TrailingZeros64(m0)>>3
			}
			return i + 8 + bits.TrailingZeros64(m1)>>3
		}
	}
	if i+8 <= len(s) {
		if m := stopMask(load64(s, i), html); m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
		i += 8
	}
	stop := &jsonStop
	if html {
		stop = &htmlStop
	}
	for i < len(s) && stop[s[i]] == 0 {
		i++
	}
	return i
}

// stopMask returns, for 8 bytes of a string as a little-endian number, a mask with the
// high bit of each byte set when the byte is one to stop at, and maybe some after it (not
// before): in x | x-0x20.. | (x^'"'..)-1.. | (x^'\\'..)-1.. a byte's high bit is set when
// the byte is >= 0x80, when subtracting 0x20 from it borrows (a control byte), or when it
// equals '"' or '\\' (xor makes it zero, and subtracting 1 borrows); with html also for
// <, > and &. A borrow sets bits of the bytes after it too, but only after a byte that is
// itself to stop at, so the lowest bit set is the first such byte, exactly.
func stopMask(x uint64, html bool) uint64 {
	m := x | (x - 0x20*lsb8) | ((x ^ '"'*lsb8) - lsb8) | ((x ^ '\\'*lsb8) - lsb8)
	if html {
		m |= ((x ^ '<'*lsb8) - lsb8) | ((x ^ '>'*lsb8) - lsb8) | ((x ^ '&'*lsb8) - lsb8)
	}
	return m & msb8
}

// load64 returns the 8 bytes of s from i as a little-endian number (one load: the
// compiler merges the bytes' loads, as for binary.LittleEndian).
func load64[S ~string | ~[]byte](s S, i int) uint64 {
	s = s[i : i+8]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
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
