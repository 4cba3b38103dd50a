package logs

import (
	"bytes"
	"time"
)

// Log times. A time without a zone is taken as UTC, so that stanzascope shows the time of
// day the log shows. Parts a log does not write stay zero: Prosody writes no year (records
// get year 0), Smack's console writes only the time of day (records get 1 January of year
// 0, and a day is added each time the clock goes back by more than 12 hours).

// parseTime reads a timestamp at the start of b. It knows the forms of the logs read
// here: "2006-01-02 15:04:05,000" (Python), "2006-01-02 15:04:05.000000+00:00"
// (ejabberd), RFC 3339 with a T, "Jan 02 15:04:05" (Prosody) and "15:04:05" or
// "15:04:05.000" (Smack's console). n is the length of the timestamp.
func parseTime(b []byte) (t time.Time, n int, ok bool) {
	switch {
	case len(b) >= 19 && isDigits(b[0:4]) && b[4] == '-' && isDigits(b[5:7]) && b[7] == '-' && isDigits(b[8:10]) &&
		(b[10] == ' ' || b[10] == 'T'):
		y, mo, d := atoi(b[0:4]), atoi(b[5:7]), atoi(b[8:10])
		h, mi, s, frac, k, ok := clockAt(b[11:])
		if !ok {
			return time.Time{}, 0, false
		}
		n = 11 + k
		loc, zl := zoneAt(b[n:])
		n += zl
		return time.Date(y, time.Month(mo), d, h, mi, s, frac, loc), n, validDate(mo, d)
	case len(b) >= 15 && isMonth(b[0:3]) && b[3] == ' ' && (isDigit(b[4]) || b[4] == ' ') && isDigit(b[5]) && b[6] == ' ':
		mo := monthOf(b[0:3])
		d := int(b[5] - '0')
		if b[4] != ' ' {
			d += 10 * int(b[4]-'0')
		}
		h, mi, s, frac, k, ok := clockAt(b[7:])
		if !ok {
			return time.Time{}, 0, false
		}
		return time.Date(0, time.Month(mo), d, h, mi, s, frac, time.UTC), 7 + k, validDate(mo, d)
	case len(b) >= 8 && isDigit(b[0]) && isDigit(b[1]) && b[2] == ':':
		h, mi, s, frac, k, ok := clockAt(b)
		if !ok {
			return time.Time{}, 0, false
		}
		return time.Date(0, time.January, 1, h, mi, s, frac, time.UTC), k, true
	}
	return time.Time{}, 0, false
}

// clockAt reads "15:04:05" with an optional fraction after '.' or ','.
func clockAt(b []byte) (h, m, s, nsec, n int, ok bool) {
	if len(b) < 8 || !isDigits(b[0:2]) || b[2] != ':' || !isDigits(b[3:5]) || b[5] != ':' || !isDigits(b[6:8]) {
		return 0, 0, 0, 0, 0, false
	}
	h, m, s = atoi(b[0:2]), atoi(b[3:5]), atoi(b[6:8])
	if h > 23 || m > 59 || s > 60 {
		return 0, 0, 0, 0, 0, false
	}
	n = 8
	if n+1 < len(b) && (b[n] == '.' || b[n] == ',') && isDigit(b[n+1]) {
		n++
		scale := 100000000
		for ; n < len(b) && isDigit(b[n]); n++ {
			nsec += int(b[n]-'0') * scale
			scale /= 10
		}
	}
	return h, m, s, nsec, n, true
}

// zoneAt reads "Z", "+01:00" or "+0100" at the start of b; without one the time is UTC.
func zoneAt(b []byte) (*time.Location, int) {
	if len(b) >= 1 && b[0] == 'Z' {
		return time.UTC, 1
	}
	if len(b) < 5 || (b[0] != '+' && b[0] != '-') || !isDigits(b[1:3]) {
		return time.UTC, 0
	}
	n, mins := 3, 0
	switch {
	case len(b) >= 6 && b[3] == ':' && isDigits(b[4:6]):
		mins, n = atoi(b[4:6]), 6
	case isDigits(b[3:5]):
		mins, n = atoi(b[3:5]), 5
	default:
		return time.UTC, 0
	}
	off := atoi(b[1:3])*3600 + mins*60
	if b[0] == '-' {
		off = -off
	}
	if off == 0 {
		return time.UTC, n
	}
	return time.FixedZone("", off), n
}

func validDate(mo, d int) bool { return mo >= 1 && mo <= 12 && d >= 1 && d <= 31 }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isDigits(b []byte) bool {
	for _, c := range b {
		if !isDigit(c) {
			return false
		}
	}
	return len(b) > 0
}

func atoi(b []byte) int {
	n := 0
	for _, c := range b {
		n = n*10 + int(c-'0')
	}
	return n
}

var months = []byte("JanFebMarAprMayJunJulAugSepOctNovDec")

func monthOf(b []byte) int {
	for i := 0; i+3 <= len(months); i += 3 {
		if bytes.Equal(months[i:i+3], b) {
			return i/3 + 1
		}
	}
	return 0
}

func isMonth(b []byte) bool { return monthOf(b) != 0 }

// clock turns the times of a log that leaves out the date into times that do not go
// back: a jump back of more than 12 hours is midnight passing.
type clock struct {
	last time.Time
	days int
}

// at returns t, moved on by the days that passed.
func (c *clock) at(t time.Time, dateless bool) time.Time {
	if !dateless || t.IsZero() {
		return t
	}
	t = t.AddDate(0, 0, c.days)
	if !c.last.IsZero() && c.last.Sub(t) > 12*time.Hour {
		c.days++
		t = t.AddDate(0, 0, 1)
	}
	c.last = t
	return t
}

// timeCache parses the timestamp at the start of lines, reusing the last result when the
// line starts with the same bytes (logs write many lines in the same second).
type timeCache struct {
	raw []byte
	t   time.Time
	n   int
	ok  bool
}

func (c *timeCache) parse(b []byte) (time.Time, int, bool) {
	if c.n > 0 && len(b) >= c.n && bytes.Equal(b[:c.n], c.raw) && (len(b) == c.n || !isDigit(b[c.n])) {
		return c.t, c.n, c.ok
	}
	t, n, ok := parseTime(b)
	if ok {
		c.raw = append(c.raw[:0], b[:n]...)
		c.t, c.n, c.ok = t, n, ok
	}
	return t, n, ok
}
