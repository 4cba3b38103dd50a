package logs

import (
	"bytes"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// prosodyParser reads Prosody's log at level debug with mod_stanza_debug loaded (it comes
// with Prosody 0.12: add "stanza_debug" to modules_enabled):
//
//	Nov 28 02:04:24 c2s562933aaf160	debug	RECV: <auth xml:lang='en' mechanism='SCRAM-SHA-1' ...>...</auth>
//	Nov 28 02:04:24 c2s562933aaf160	debug	SEND: <challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>...</challenge>
//
// The second field names the session: each becomes a connection. For client (c2s) and
// incoming server (s2sin) sessions RECV is c2s and SEND s2c; for outgoing server sessions
// (s2sout) the other way round. Prosody logs stanzas, not stream headers or their close,
// and writes them serialised again (its quoting and attribute order, xml:lang added). A
// line break inside a stanza goes on in a line that starts with a tab. "Client
// connected" and "Client disconnected" start and end a client session.
type prosodyParser struct {
	times    timeCache
	clock    clock
	buf      []byte
	topTags  bool // "Sending[c2s]: <top tag>" lines were seen
	stanzas  bool // SEND:/RECV: lines were seen
	reported bool
}

func (p *prosodyParser) name() string { return "Prosody" }

var (
	prosodySend   = []byte("SEND: ")
	prosodyRecv   = []byte("RECV: ")
	prosodyTopTag = []byte("Sending[")
)

// Namespace contexts of sessions whose headers are not in the log.
var (
	serverContext    = &inspect.Header{Prefix: "stream", ContentNS: inspect.NSServer, NS: map[string]string{"stream": inspect.NSStreams}}
	componentContext = &inspect.Header{Prefix: "stream", ContentNS: "jabber:component:accept", NS: map[string]string{"stream": inspect.NSStreams}}
)

func (p *prosodyParser) parse(line []byte, no int, lastMid bool, e *entry) entryKind {
	if len(line) > 0 && line[0] == '\t' {
		if !lastMid {
			return lineOther
		}
		p.buf = append(append(p.buf[:0], '\n'), line[1:]...)
		e.data = p.buf
		return lineMore
	}
	t, source, msg, ok := p.fields(line)
	if !ok {
		return lineOther
	}
	var dir inspect.Direction
	switch {
	case bytes.HasPrefix(msg, prosodyRecv):
		dir = inspect.ClientToServer
	case bytes.HasPrefix(msg, prosodySend):
		dir = inspect.ServerToClient
	case bytes.HasPrefix(msg, prosodyTopTag):
		p.topTags = true
		return lineOther
	case bytes.Equal(msg, []byte("Client connected")):
		e.session, e.time, e.note = string(source), t, "Prosody session "+string(source)+": client connected"
		return lineOpen
	case bytes.HasPrefix(msg, []byte("Client disconnected")):
		e.session, e.time, e.note = string(source), t, "Prosody: "+string(msg)
		return lineClose
	default:
		return lineOther
	}
	data := msg[len(prosodySend):]
	if len(data) == 0 || data[0] != '<' {
		return lineOther
	}
	p.stanzas = true
	switch {
	case bytes.HasPrefix(source, []byte("s2sout")):
		dir = dir.Reverse()
		e.ctx = serverContext
	case bytes.HasPrefix(source, []byte("s2s")):
		e.ctx = serverContext
	case bytes.HasPrefix(source, []byte("comp")):
		e.ctx = componentContext
	}
	e.session, e.dir, e.time, e.data, e.whole = string(source), dir, t, data, true
	return lineXML
}

// fields splits a line of Prosody's log: an optional timestamp, the source, the level
// and the message, separated by tabs (a file) or by padding (the console's source
// column).
func (p *prosodyParser) fields(line []byte) (t time.Time, source, msg []byte, ok bool) {
	first, rest, found := bytes.Cut(line, []byte("\t"))
	if !found {
		return t, nil, nil, false
	}
	if ts, n, tok := p.times.parse(first); tok && n < len(first) && first[n] == ' ' {
		t = p.clock.at(ts, ts.Year() == 0)
		first = first[n+1:]
	}
	level, msg, found := bytes.Cut(rest, []byte("\t"))
	if !found || !isLevel(level) {
		// The console pads the source to a column and puts the level after it.
		k := bytes.LastIndexByte(first, ' ')
		if k < 0 || !isLevel(first[k+1:]) {
			return t, nil, nil, false
		}
		msg = rest
		first = bytes.TrimRight(first[:k], " ")
	}
	return t, first, msg, len(first) > 0
}

func isLevel(b []byte) bool {
	switch string(b) {
	case "debug", "info", "warn", "error":
		return true
	}
	return false
}

// end says when a log held only Prosody's own top-tag lines: they do not carry whole
// stanzas, mod_stanza_debug does.
func (p *prosodyParser) end(e *entry) entryKind {
	if p.topTags && !p.stanzas && !p.reported {
		p.reported = true
		e.note = "this Prosody log holds only the start tags of stanzas (Sending[...], Received[...]); " +
			"load mod_stanza_debug (add \"stanza_debug\" to modules_enabled, log level debug) to log whole stanzas"
		return lineNote
	}
	return lineOther
}
