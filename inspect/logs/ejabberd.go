package logs

import (
	"bytes"
	"errors"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// ejabberdParser reads ejabberd's log at loglevel debug (ejabberd 20 and later; the
// file and the console differ only in the process before the socket):
//
//	2026-11-28 02:06:55.584443+00:00 [notice] <0.488.0> (tcp|<0.488.0>) Received XML on stream = <<"<stream:stream ...>">>
//	2026-11-28 02:06:55.716013+00:00 [notice] <0.488.0> (tcp|<0.488.0>) Send XML on stream = <<"<?xml version='1.0'?>...">>
//
// The socket in parentheses names the session (its process id; it stays when the socket
// becomes TLS). "Received" is the raw bytes of one read from the client (c2s; a read may
// end inside a stanza), "Send" one element written to it (s2c). The bytes are an Erlang
// binary: a string with escapes, or a list of byte values where they are not printable
// Latin-1, possibly over several indented lines. "Closing c2s session" ends a session.
type ejabberdParser struct {
	times timeCache
	erl   erlBinary
	open  bool  // a binary goes on in the next lines
	e     entry // the entry whose binary is being read
}

func (p *ejabberdParser) name() string { return "ejabberd" }

var (
	ejRecv    = []byte("Received XML on stream = ")
	ejSend    = []byte("Send XML on stream = ")
	ejClosing = []byte("Closing c2s session")
)

func (p *ejabberdParser) parse(line []byte, no int, lastMid bool, e *entry) entryKind {
	if p.open {
		if !ejabberdRecordStart(line) {
			return p.more(line, e)
		}
		p.open = false
		*e = p.e
		e.err = errors.New("the Erlang binary does not end (no >>) before the next log record")
		e.again = true // the record on this line is read next
		return lineBad
	}
	var dir inspect.Direction
	i := bytes.Index(line, ejRecv)
	if i >= 0 {
		dir = inspect.ClientToServer
		i += len(ejRecv)
	} else if i = bytes.Index(line, ejSend); i >= 0 {
		dir = inspect.ServerToClient
		i += len(ejSend)
	} else {
		if bytes.Contains(line, ejClosing) {
			if key := ejabberdSession(line); key != "" {
				e.session, e.time = key, p.time(line)
				msg := line[bytes.Index(line, ejClosing):]
				e.note = "ejabberd: " + string(msg)
				return lineClose
			}
		}
		return lineOther
	}
	*e = entry{session: ejabberdSession(line[:i]), dir: dir, time: p.time(line), line: no, whole: dir == inspect.ServerToClient}
	p.erl.reset()
	done, err := p.erl.feed(line[i:])
	switch {
	case err != nil:
		e.err = err
		return lineBad
	case !done:
		p.open, p.e = true, *e
		return lineOther
	}
	e.data = p.erl.bytes()
	return lineXML
}

// more reads a line that goes on with an open binary.
func (p *ejabberdParser) more(line []byte, e *entry) entryKind {
	done, err := p.erl.feed(line)
	if err != nil {
		p.open = false
		*e = p.e
		e.err = err
		return lineBad
	}
	if !done {
		return lineOther
	}
	p.open = false
	*e = p.e
	e.data = p.erl.bytes()
	return lineXML
}

func (p *ejabberdParser) end(e *entry) entryKind {
	if !p.open {
		return lineOther
	}
	p.open = false
	*e = p.e
	e.err = errors.New("the log ends inside an Erlang binary")
	return lineBad
}

func (p *ejabberdParser) time(line []byte) time.Time {
	t, _, ok := p.times.parse(line)
	if !ok {
		return time.Time{}
	}
	return t
}

// ejabberdRecordStart reports whether line starts a log record (with its timestamp).
func ejabberdRecordStart(line []byte) bool {
	_, _, ok := parseTime(line)
	return ok
}

// ejabberdSession finds the session of a record: the process id in the socket's
// parentheses, "(tls|<0.488.0>)", else the first process id on the line.
func ejabberdSession(b []byte) string {
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte("|<"))
		if j < 0 {
			break
		}
		j += i + 1
		if k := bytes.IndexByte(b[j:], '>'); k > 0 && j+k+1 < len(b) && b[j+k+1] == ')' {
			return string(b[j : j+k+1])
		}
		i = j
	}
	if j := bytes.Index(b, []byte("<0.")); j >= 0 {
		if k := bytes.IndexByte(b[j:], '>'); k > 0 {
			return string(b[j : j+k+1])
		}
	}
	return ""
}
