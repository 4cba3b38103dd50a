package logs

import (
	"bytes"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// smackParser reads what Smack's debuggers print, and the Java clients that copied them:
//
//	02:04:27 SENT (0): <stream:stream xmlns='jabber:client' to='example.org' ...>
//	02:04:27 RECV (0): <?xml version='1.0'?><stream:stream ...><stream:features>...
//
// SENT is a write of the client (c2s), RECV a read (s2c): raw bytes, so a read may end
// inside a stanza and go on in the next RECV line. The number is Smack's connection
// counter: each becomes a connection. The time of day comes from the console debugger's
// prefix, or from the line before when java.util.logging wrote it there ("Nov 28, 2026
// 2:04:27 AM org.jivesoftware.smack.debugger.JulDebugger log"). Older Smack printed
// "RCV  (n): "; it is read too. A chunk with a line break goes on in lines without a
// marker.
type smackParser struct {
	times   timeCache
	clock   clock
	julTime time.Time // time of the last java.util.logging header line
	shape   []byte
	buf     []byte
}

func (p *smackParser) name() string { return "Smack" }

func (p *smackParser) parse(line []byte, no int, lastMid bool, e *entry) entryKind {
	i, n, dir, key := smackMarker(line)
	if i < 0 {
		if t, ok := julHeader(line); ok {
			p.julTime = t
			return lineOther
		}
		if lastMid && !p.recordStart(line) {
			p.buf = append(append(p.buf[:0], '\n'), line...)
			e.data = p.buf
			return lineMore
		}
		return lineOther
	}
	if p.shape == nil {
		p.shape = shapeOf(line[:i], 3)
	}
	t, _, ok := p.times.parse(line)
	switch {
	case ok:
		t = p.clock.at(t, t.Year() == 0)
	case !p.julTime.IsZero():
		t = p.julTime
	}
	e.session, e.dir, e.time, e.data = string(key), dir, t, line[i+n:]
	return lineXML
}

// smackMarker finds "SENT (n): ", "RECV (n): " or "RCV  (n): " in line: where it starts,
// its length, the direction and n.
func smackMarker(line []byte) (i, n int, dir inspect.Direction, key []byte) {
	for _, m := range []struct {
		word string
		dir  inspect.Direction
	}{{"SENT (", inspect.ClientToServer}, {"RECV (", inspect.ServerToClient}, {"RCV  (", inspect.ServerToClient}} {
		for from := 0; ; {
			j := bytes.Index(line[from:], []byte(m.word))
			if j < 0 {
				break
			}
			j += from
			rest := line[j+len(m.word):]
			k := bytes.Index(rest, []byte("): "))
			if k > 0 && k <= 20 && !bytes.ContainsAny(rest[:k], " ()") {
				return j, len(m.word) + k + 3, m.dir, rest[:k]
			}
			from = j + 1
		}
	}
	return -1, 0, inspect.DirNone, nil
}

// recordStart reports whether line starts a new log record: its prefix has the shape of
// the prefix of the marker lines.
func (p *smackParser) recordStart(line []byte) bool {
	if p.shape == nil {
		return false
	}
	if len(p.shape) == 0 {
		return false // records start with their marker, and this line has none
	}
	return bytes.Equal(shapeOf(line, 3), p.shape)
}

// julHeader reads the first line java.util.logging's SimpleFormatter writes:
// "Nov 28, 2026 2:04:27 AM org.jivesoftware.smack.debugger.JulDebugger log".
func julHeader(line []byte) (time.Time, bool) {
	if len(line) < 20 || !isMonth(line[:3]) || line[3] != ' ' {
		return time.Time{}, false
	}
	parts := bytes.SplitN(line, []byte(" "), 6)
	if len(parts) < 6 {
		return time.Time{}, false
	}
	t, err := time.Parse("Jan 2, 2006 3:04:05 PM", string(bytes.Join(parts[:5], []byte(" "))))
	if err != nil {
		return time.Time{}, false
	}
	return t, true
}

func (p *smackParser) end(*entry) entryKind { return lineOther }
