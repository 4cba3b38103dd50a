package logs

import (
	"bytes"
	"strconv"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// slixmppParser reads the debug log of slixmpp (Python's logging module, any format):
//
//	2026-11-28 02:04:27,620 DEBUG    SEND: <stream:stream to='localhost' ...>
//	2026-11-28 02:04:27,629 DEBUG    RECV: <stream:features xmlns="...">...</stream:features>
//
// SEND is what the client wrote (c2s), RECV what it parsed (s2c; slixmpp logs it
// serialised again, so quoting and attribute order are slixmpp's). A stanza with a line
// break goes on in lines without the log's prefix. "Event triggered: connected" and
// "... disconnected" start and end a connection. slixmpp does not say which client a line
// belongs to: a log of one process with several clients is read as one connection.
type slixmppParser struct {
	times  timeCache
	clock  clock
	key    string
	n      int
	shape  []byte // the shape of the prefix of XML lines, once known (see recordStart)
	buf    []byte
	clNS   string // default namespace of the client's last header
	warned bool
}

func (p *slixmppParser) name() string { return "slixmpp" }

var (
	slixSend         = []byte("SEND: ")
	slixRecv         = []byte("RECV: ")
	slixConnected    = []byte("Event triggered: connected")
	slixDisconnected = []byte("Event triggered: disconnected")
)

func (p *slixmppParser) parse(line []byte, no int, lastMid bool, e *entry) entryKind {
	if lastMid && !p.recordStart(line) {
		p.buf = append(append(p.buf[:0], '\n'), line...)
		e.data = p.buf
		return lineMore
	}
	i, dir := markerAt(line)
	if i < 0 {
		switch {
		case bytes.Contains(line, slixConnected):
			p.n++
			p.key = strconv.Itoa(p.n)
			e.session, e.time, e.note = p.key, p.time(line), "slixmpp connection "+p.key
			return lineOpen
		case bytes.Contains(line, slixDisconnected) && p.key != "":
			e.session, e.time, e.note = p.key, p.time(line), "slixmpp: disconnected"
			return lineClose
		}
		return lineOther
	}
	data := line[i+len(slixSend):]
	if len(bytes.TrimLeft(data, " \t")) > 0 && data[0] != '<' {
		return lineOther // a message that mentions SEND: but holds no XML
	}
	if p.shape == nil {
		p.shape = shapeOf(line[:i], 3)
	}
	e.session, e.dir, e.time, e.whole = p.key, dir, p.time(line), true
	e.data = data
	if dir == inspect.ClientToServer && startsWithHeader(data) {
		if ns, ok := attrValue(data, "xmlns"); ok {
			p.clNS = ns
		}
	}
	if dir == inspect.ServerToClient && startsWithHeader(data) {
		e.data = p.completeHeader(data, e)
	}
	return lineXML
}

// markerAt finds SEND: or RECV: in a line.
func markerAt(line []byte) (int, inspect.Direction) {
	if i := bytes.Index(line, slixSend); i >= 0 {
		return i, inspect.ClientToServer
	}
	if i := bytes.Index(line, slixRecv); i >= 0 {
		return i, inspect.ServerToClient
	}
	return -1, inspect.DirNone
}

// completeHeader adds the namespace declarations slixmpp leaves out when it logs the
// server's stream header, so that the header and the stanzas after it can be read.
func (p *slixmppParser) completeHeader(h []byte, e *entry) []byte {
	missStream := !bytes.Contains(h, []byte("xmlns:stream="))
	_, hasDefault := attrValue(h, "xmlns")
	if !missStream && hasDefault {
		return h
	}
	i := bytes.Index(h, []byte("<stream:stream"))
	if i < 0 {
		return h
	}
	i += len("<stream:stream")
	p.buf = append(p.buf[:0], h[:i]...)
	if missStream {
		p.buf = append(p.buf, " xmlns:stream='"+inspect.NSStreams+"'"...)
	}
	if !hasDefault {
		ns := p.clNS
		if ns == "" {
			ns = inspect.NSClient
		}
		p.buf = append(p.buf, " xmlns='"+inspect.EscapeAttr(ns)+"'"...)
	}
	p.buf = append(p.buf, h[i:]...)
	if !p.warned {
		p.warned = true
		e.note = "slixmpp logs the server's stream header without its namespace declarations; stanzascope adds them to read the stream"
	}
	return p.buf
}

func (p *slixmppParser) time(line []byte) time.Time {
	b := bytes.TrimLeft(line, "[")
	t, _, ok := p.times.parse(b)
	if !ok {
		return time.Time{}
	}
	return p.clock.at(t, t.Year() == 0)
}

// recordStart reports whether line starts a new log record rather than going on with the
// last one: its prefix has the shape of the prefix of the XML lines.
func (p *slixmppParser) recordStart(line []byte) bool {
	if p.shape == nil {
		return false
	}
	if len(p.shape) == 0 {
		i, _ := markerAt(line)
		return i == 0
	}
	return bytes.Equal(shapeOf(line, 3), p.shape)
}

func (p *slixmppParser) end(*entry) entryKind { return lineOther }

// shapeOf describes the start of a log line by its first n runs of character classes:
// digits (9), upper-case letters (A), lower-case letters (a), and every other byte as
// itself, spaces collapsed. "2026-11-28 02:04" and "2025-01-02 13:00" have the same
// shape; "DEBUG    SEND" and "INFO     JID" too; "and a new line" does not.
func shapeOf(b []byte, n int) []byte {
	out := make([]byte, 0, 2*n)
	var last byte
	for _, c := range b {
		var k byte
		switch {
		case c >= '0' && c <= '9':
			k = '9'
		case c >= 'A' && c <= 'Z':
			k = 'A'
		case c >= 'a' && c <= 'z':
			k = 'a'
		case c == ' ' || c == '\t':
			k = ' '
		default:
			k = c
		}
		if k == last && (k == '9' || k == 'A' || k == 'a' || k == ' ') {
			continue
		}
		if len(out) == n {
			break
		}
		out = append(out, k)
		last = k
	}
	return out
}

// attrValue returns the value of attribute name in the first start tag of b.
func attrValue(b []byte, name string) (string, bool) {
	end := bytes.IndexByte(b, '>')
	if end < 0 {
		end = len(b)
	}
	tag := b[:end]
	for i := 0; ; {
		j := bytes.Index(tag[i:], []byte(name))
		if j < 0 {
			return "", false
		}
		j += i
		k := j + len(name)
		if j > 0 && (tag[j-1] == ' ' || tag[j-1] == '\t' || tag[j-1] == '\n') {
			for k < len(tag) && tag[k] == ' ' {
				k++
			}
			if k+1 < len(tag) && tag[k] == '=' {
				k++
				for k < len(tag) && tag[k] == ' ' {
					k++
				}
				if k < len(tag) && (tag[k] == '\'' || tag[k] == '"') {
					q := tag[k]
					if e := bytes.IndexByte(tag[k+1:], q); e >= 0 {
						return string(tag[k+1 : k+1+e]), true
					}
				}
			}
		}
		i = j + len(name)
	}
}
