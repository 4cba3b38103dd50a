// Package logs reads the debug logs of real XMPP software as stanzascope records: the
// SEND:/RECV: lines of slixmpp, Prosody's debug log with mod_stanza_debug, ejabberd's
// debug log, and the SENT (n):/RECV (n): lines of Smack and other Java clients.
//
// Each session and direction of a log runs through inspect's Reader, as a live
// connection does, so framing, restarts and limits behave the same. Direction markers
// map to c2s and s2c, the software's session names to connection numbers, and log times
// to record times. A damaged line becomes a KindError record that names its line, and
// reading goes on with the next line. Memory stays flat whatever the size of the log: one
// line, and one element per session being read.
//
// Detect tells these formats, stanzascope's own JSON log, raw XML and captures apart
// from the first bytes of an input.
package logs

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// Format is a kind of input `stanzascope inspect` reads.
type Format uint8

// Formats. Unknown is what Detect returns when it cannot tell.
const (
	Unknown  Format = iota
	JSON            // stanzascope's JSON log (inspect.ReadJSONLog)
	XML             // a raw XML stream of one direction (inspect.ReadStream)
	Pcap            // a pcap or pcapng capture (inspect/capture)
	Slixmpp         // slixmpp's debug log: SEND: and RECV: lines
	Prosody         // Prosody's debug log with mod_stanza_debug
	Ejabberd        // ejabberd's debug log: "Received XML on stream", "Send XML on stream"
	Smack           // Smack's debugger: SENT (n): and RECV (n): lines
)

var formatNames = [...]string{
	Unknown: "", JSON: "json", XML: "xml", Pcap: "pcap",
	Slixmpp: "slixmpp", Prosody: "prosody", Ejabberd: "ejabberd", Smack: "smack",
}

// String returns the name --input-format takes ("json", "slixmpp", ...).
func (f Format) String() string {
	if int(f) < len(formatNames) {
		return formatNames[f]
	}
	return fmt.Sprintf("format(%d)", uint8(f))
}

// ParseFormat is the inverse of Format.String; "pcapng" is Pcap.
func ParseFormat(s string) (Format, bool) {
	if s == "pcapng" {
		return Pcap, true
	}
	for f, n := range formatNames {
		if n != "" && n == s {
			return Format(f), true
		}
	}
	return Unknown, false
}

// Names lists the names of all formats, for usage messages.
func Names() []string {
	var out []string
	for _, n := range formatNames {
		if n != "" {
			out = append(out, n)
		}
	}
	return out
}

// IsLog reports whether f is read by Read (a debug log of other software).
func (f Format) IsLog() bool { return f >= Slixmpp && f <= Smack }

// Options configure Read. Zero values are the defaults.
type Options struct {
	Limits inspect.Limits // per element, as for a live connection
	// MaxSessions bounds the sessions read at once. When a log opens more without closing
	// any, the one least recently written to is ended (with a note); its next line starts
	// a new connection. Default 4096.
	MaxSessions int
	// MaxLine is the longest line read; a longer one is reported and skipped. Default:
	// four times Limits.MaxStanza plus 64 KiB (a log may escape every byte of an element).
	MaxLine int
}

func (o Options) withDefaults() Options {
	if o.Limits.MaxStanza <= 0 {
		o.Limits.MaxStanza = inspect.DefaultLimits.MaxStanza
	}
	if o.MaxSessions <= 0 {
		o.MaxSessions = 4096
	}
	if o.MaxLine <= 0 {
		o.MaxLine = 4*o.Limits.MaxStanza + 64<<10
	}
	return o
}

// DamagedError is what Read returns when some lines could not be read. Each of them was
// reported as a KindError record when it was met.
type DamagedError struct {
	Lines int // damaged lines
	First int // the first of them
}

func (e *DamagedError) Error() string {
	if e.Lines == 1 {
		return fmt.Sprintf("line %d of the log is damaged (see the error record)", e.First)
	}
	return fmt.Sprintf("%d lines of the log are damaged, the first is line %d (see the error records)", e.Lines, e.First)
}

// Read reads a log of format f (Slixmpp, Prosody, Ejabberd or Smack) from r and writes
// its records to sink: for each session a KindConnOpen record, then the stream events
// of both directions in the order of the log, and a KindConnClose record where the log
// says the session ended. Lines that carry no XML are skipped.
//
// It returns nil at the end of the log, a *DamagedError when lines were damaged (after
// reading everything else), or the first error of r or sink.
func Read(r io.Reader, f Format, sink inspect.Sink, opt Options) error {
	p := newParser(f)
	if p == nil {
		return fmt.Errorf("logs: %v is not a log format Read knows", f)
	}
	d := newDemux(sink, p, opt.withDefaults())
	err := d.run(r)
	if cerr := d.closeAll(); err == nil {
		err = cerr
	}
	if err == nil && d.damaged > 0 {
		err = &DamagedError{Lines: d.damaged, First: d.firstDamaged}
	}
	return err
}

// entryKind says what a line holds.
type entryKind uint8

const (
	lineOther entryKind = iota // nothing for us: skipped
	lineXML                    // the start of an XML entry (e is filled)
	lineMore                   // more bytes of the last XML entry (e.data)
	lineOpen                   // a session starts (e.session, e.note)
	lineClose                  // a session ends (e.session, e.note)
	lineNote                   // a note about a session worth showing (e.session, e.note)
	lineBad                    // a line of the format that cannot be read (e.err)
)

// entry is what a parser found on a line.
type entry struct {
	session string // the software's name for the session ("" for single-session logs)
	dir     inspect.Direction
	data    []byte // the XML bytes, valid until the next line
	time    time.Time
	line    int    // line the entry starts on
	note    string // lineOpen, lineClose, lineNote; or a note to show before the XML
	err     error  // lineBad
	// whole says the entry holds whole elements: an element still open when the entry
	// ends is damage. Otherwise (raw reads) an element may go on in the next entry.
	whole bool
	ctx   *inspect.Header // namespace context for a session read without headers
	again bool            // lineBad: the line itself starts something new, parse it again
}

// parser reads the lines of one format.
type parser interface {
	// name is how notes call the software ("Prosody", ...).
	name() string
	// parse looks at one line, without its line ending. lastMid says the stream of the
	// last XML entry holds an element not yet ended, so the line may continue it. For a multi-line entry parse may
	// return lineOther until the entry is complete.
	parse(line []byte, no int, lastMid bool, e *entry) entryKind
	// end is called at the end of the log; it returns an entry the parser still held.
	end(e *entry) entryKind
}

func newParser(f Format) parser {
	switch f {
	case Slixmpp:
		return &slixmppParser{}
	case Prosody:
		return &prosodyParser{}
	case Ejabberd:
		return &ejabberdParser{}
	case Smack:
		return &smackParser{}
	}
	return nil
}

// session is one connection of the log.
type session struct {
	key     string
	conn    *inspect.ConnInfo
	streams [3]*stream // by direction
	// The open sessions form a list, most recently written to first, so that the one
	// MaxSessions pushes out is found at once.
	newer, older *session
	closed       bool // the log said it ended; what still comes for it is kept on it
}

// keepClosed is how many ended sessions the demux remembers, so that what a server logs
// right after it said a session ended (its </stream:stream>) stays on that connection.
const keepClosed = 64

// demux routes the entries of a log to their sessions' streams.
type demux struct {
	sink inspect.Sink
	p    parser
	opt  Options

	sessions map[string]*session // open and recently closed
	open     int                 // of them, open
	closed   []*session          // recently closed, oldest first
	nextID   uint64
	recent   *session // the open session written to last
	oldest   *session // the open session written to least recently

	last     *stream // the stream of the last XML entry
	lastLine int
	lastTime time.Time
	lastOpen bool // it holds whole elements, and one is still open

	damaged, firstDamaged int
	err                   error // the first sink error
}

func newDemux(sink inspect.Sink, p parser, opt Options) *demux {
	return &demux{sink: sink, p: p, opt: opt, sessions: map[string]*session{}}
}

// run reads lines until the end of r.
func (d *demux) run(r io.Reader) error {
	lr := newLineReader(r, d.opt.MaxLine)
	var e entry
	for d.err == nil {
		line, no, err := lr.next()
		if errors.Is(err, errLongLine) {
			d.bad(no, err)
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return fmt.Errorf("reading the log at line %d: %w", no, err)
		}
		for again := true; again; {
			e = entry{line: no}
			d.handle(d.p.parse(line, no, d.last != nil && d.last.mid(), &e), &e)
			again = e.again
		}
	}
	if d.err == nil {
		e = entry{}
		d.handle(d.p.end(&e), &e)
	}
	return d.err
}

func (d *demux) handle(k entryKind, e *entry) {
	switch k {
	case lineOther:
	case lineMore:
		if d.last != nil {
			d.last.push(e.data, d.lastLine, false)
			d.flush(d.last, d.lastTime)
		}
	case lineXML:
		d.endWhole()
		d.xml(e)
	case lineOpen:
		d.endWhole()
		if s := d.sessions[e.session]; s != nil && s.closed {
			d.forget(s)
		}
		d.session(e.session, e.time, e.note)
	case lineClose:
		d.endWhole()
		if s := d.sessions[e.session]; s != nil && !s.closed {
			d.endSession(s, e.time, e.note)
		}
	case lineNote:
		d.endWhole()
		var conn *inspect.ConnInfo
		if e.session != "" {
			conn = d.session(e.session, e.time, "").conn
		}
		d.write((&inspect.Record{Kind: inspect.KindNote, Time: e.time, Conn: conn}).WithNote(e.note))
	case lineBad:
		d.endWhole()
		d.bad(e.line, e.err)
	}
}

// endWhole checks the last entry when it held whole elements: one left open is damage.
func (d *demux) endWhole() {
	if d.lastOpen && d.last != nil && d.last.mid() {
		d.last.damaged(d.lastLine, errors.New("the element does not end where the log entry ends"))
		d.flush(d.last, d.lastTime)
	}
	d.lastOpen = false
}

// xml pushes an XML entry into its session's stream.
func (d *demux) xml(e *entry) {
	s := d.session(e.session, e.time, "")
	if e.note != "" {
		d.write((&inspect.Record{Kind: inspect.KindNote, Time: e.time, Conn: s.conn, Dir: e.dir}).WithNote(e.note))
	}
	st := s.streams[e.dir]
	if st == nil || st.dead {
		st = newStream(s.conn, e.dir, e.ctx, d.opt.Limits)
		s.streams[e.dir] = st
	}
	st.push(e.data, e.line, startsWithHeader(e.data))
	d.last, d.lastLine, d.lastTime, d.lastOpen = st, e.line, e.time, e.whole
	d.flush(st, e.time)
}

// session returns the session called key, starting it (with a KindConnOpen record) when
// it is new.
func (d *demux) session(key string, t time.Time, note string) *session {
	if s := d.sessions[key]; s != nil {
		if !s.closed {
			d.unlink(s)
			d.link(s)
		}
		return s
	}
	if d.open >= d.opt.MaxSessions && d.oldest != nil {
		old := d.oldest
		d.endSession(old, t, fmt.Sprintf("no longer followed: more than %d sessions are open at once in the log", d.opt.MaxSessions))
		d.forget(old)
	}
	d.nextID++
	s := &session{key: key, conn: &inspect.ConnInfo{ID: d.nextID}}
	d.sessions[key] = s
	d.open++
	d.link(s)
	if note == "" {
		note = d.p.name() + " session"
		if key != "" {
			note += " " + key
		}
	}
	d.write((&inspect.Record{Kind: inspect.KindConnOpen, Time: t, Conn: s.conn}).WithNote(note))
	return s
}

// link puts s first in the list of open sessions.
func (d *demux) link(s *session) {
	s.newer, s.older = nil, d.recent
	if d.recent != nil {
		d.recent.newer = s
	}
	d.recent = s
	if d.oldest == nil {
		d.oldest = s
	}
}

// unlink takes s out of the list of open sessions.
func (d *demux) unlink(s *session) {
	if s.newer != nil {
		s.newer.older = s.older
	} else {
		d.recent = s.older
	}
	if s.older != nil {
		s.older.newer = s.newer
	} else {
		d.oldest = s.newer
	}
	s.newer, s.older = nil, nil
}

// endSession closes a session's streams and writes its KindConnClose record. The session
// is remembered for a while: lines that still come for it stay on its connection.
func (d *demux) endSession(s *session, t time.Time, note string) {
	d.closeStreams(s, t)
	s.closed = true
	d.open--
	d.unlink(s)
	d.write((&inspect.Record{Kind: inspect.KindConnClose, Time: t, Conn: s.conn}).WithNote(note))
	d.closed = append(d.closed, s)
	if len(d.closed) > keepClosed {
		d.forget(d.closed[0])
	}
}

// forget drops an ended session: a new one may take its name.
func (d *demux) forget(s *session) {
	d.closeStreams(s, d.lastTime)
	if d.sessions[s.key] == s {
		delete(d.sessions, s.key)
	}
	if i := slices.Index(d.closed, s); i >= 0 {
		d.closed = slices.Delete(d.closed, i, i+1)
	}
}

func (d *demux) closeStreams(s *session, t time.Time) {
	for i, st := range s.streams {
		if st == nil {
			continue
		}
		st.close()
		d.flush(st, t)
		if d.last == st {
			d.last, d.lastOpen = nil, false
		}
		s.streams[i] = nil
	}
}

// closeAll ends the streams of the sessions still open at the end of the log, in the
// order they started. No KindConnClose is written: the log does not say they ended.
func (d *demux) closeAll() error {
	d.endWhole()
	open := make([]*session, 0, len(d.sessions))
	for _, s := range d.sessions {
		open = append(open, s)
	}
	slices.SortFunc(open, func(a, b *session) int { return cmp.Compare(a.conn.ID, b.conn.ID) })
	for _, s := range open {
		d.closeStreams(s, d.lastTime)
	}
	return d.err
}

// flush writes the records a push produced, at time t.
func (d *demux) flush(st *stream, t time.Time) {
	for i, rec := range st.out {
		if rec.Kind == inspect.KindError {
			if le, ok := rec.Err().(*LineError); ok {
				d.countDamage(le.Line)
			}
		}
		rec.Time = t
		d.write(rec)
		st.out[i] = nil
	}
	st.out = st.out[:0]
}

func (d *demux) countDamage(line int) {
	if d.damaged == 0 {
		d.firstDamaged = line
	}
	d.damaged++
}

// bad reports a line that cannot be read.
func (d *demux) bad(line int, err error) {
	d.countDamage(line)
	d.write((&inspect.Record{Kind: inspect.KindError}).WithErr(&LineError{Line: line, Err: err}))
}

func (d *demux) write(rec *inspect.Record) {
	if d.err != nil {
		return
	}
	if err := d.sink.Write(rec); err != nil {
		d.err = err
	}
}

// startsWithHeader reports whether b starts with a stream header, after whitespace and an
// optional XML declaration.
func startsWithHeader(b []byte) bool {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	b = bytes.TrimLeft(b, " \t\r\n")
	if bytes.HasPrefix(b, []byte("<?")) {
		end := bytes.Index(b, []byte("?>"))
		if end < 0 {
			return false
		}
		b = bytes.TrimLeft(b[end+2:], " \t\r\n")
	}
	if len(b) < 2 || b[0] != '<' {
		return false
	}
	i := 1
	for i < len(b) && !isNameEnd(b[i]) {
		i++
	}
	name := b[1:i]
	if j := bytes.IndexByte(name, ':'); j >= 0 {
		name = name[j+1:]
	}
	return string(name) == "stream" && i < len(b)
}

func isNameEnd(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', '>', '/':
		return true
	}
	return false
}

// newLineReaderSize is the buffer of the line reader: lines up to this long cost no copy.
const newLineReaderSize = 64 << 10

var errLongLine = errors.New("line too long")

// lineReader hands out the lines of a log one at a time, without their line ending, with
// their numbers. A line longer than max is skipped and reported (errLongLine), so one
// damaged line cannot make the reader hold a whole file.
type lineReader struct {
	br   *bufio.Reader
	max  int
	no   int
	long []byte
}

func newLineReader(r io.Reader, max int) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, newLineReaderSize), max: max}
}

// next returns the next line, valid until the following call.
func (lr *lineReader) next() ([]byte, int, error) {
	lr.no++
	b, err := lr.br.ReadSlice('\n')
	if err == nil || (errors.Is(err, io.EOF) && len(b) > 0) {
		return trimEOL(b), lr.no, nil
	}
	if !errors.Is(err, bufio.ErrBufferFull) {
		return nil, lr.no, err
	}
	lr.long = append(lr.long[:0], b...)
	for {
		b, err = lr.br.ReadSlice('\n')
		if len(lr.long)+len(b) > lr.max {
			// Skip to the end of the line.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = lr.br.ReadSlice('\n')
			}
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, lr.no, err
			}
			return nil, lr.no, fmt.Errorf("%w: longer than %d bytes, skipped", errLongLine, lr.max)
		}
		lr.long = append(lr.long, b...)
		if !errors.Is(err, bufio.ErrBufferFull) {
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, lr.no, err
			}
			return trimEOL(lr.long), lr.no, nil
		}
	}
}

func trimEOL(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}
