package logs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"iter"

	"github.com/stanzascope/stanzascope/inspect"
)

// errStopped is what a stream's byte source returns once the stream was abandoned.
var errStopped = errors.New("logs: stream abandoned")

// stream runs inspect's Reader over one direction of one logged session. The log pushes
// bytes entry by entry; the Reader pulls them. The two meet in a coroutine (iter.Pull), as
// in inspect/capture: push appends the bytes and runs the reader until it asks for more
// than there is, so every record an entry completes is produced before the next line is
// read, on the caller's goroutine.
type stream struct {
	conn *inspect.ConnInfo
	dir  inspect.Direction
	ctx  *inspect.Header // namespace context of a stream read without its header
	lim  inspect.Limits

	q  []byte // pushed bytes not yet given to the reader
	qi int

	r        *inspect.Reader
	handed   int64 // bytes given to the current reader
	header   *inspect.Header
	line     int  // line of the entry being read, for errors
	restart  bool // a stream header starts the next entry: swap readers
	drop     bool // the entry is damaged: forget what the reader holds
	final    bool // no more bytes will come
	finished bool // the stream closed (</stream:stream>): a new reader starts next

	next  func() (struct{}, bool)
	stop  func()
	yield func(struct{}) bool
	dead  bool

	out []*inspect.Record // records produced by the last push
}

func newStream(conn *inspect.ConnInfo, dir inspect.Direction, ctx *inspect.Header, lim inspect.Limits) *stream {
	s := &stream{conn: conn, dir: dir, ctx: ctx, lim: lim}
	s.next, s.stop = iter.Pull(s.run)
	return s
}

// push gives the reader the bytes of one entry that starts on line and runs it as far as
// they go. header says the entry starts with a stream header: a new stream begins there.
func (s *stream) push(b []byte, line int, header bool) {
	if s.dead {
		return
	}
	s.line = line
	if header && s.r != nil {
		s.restart = true
	}
	if s.qi == len(s.q) {
		s.q, s.qi = s.q[:0], 0
	}
	s.q = append(s.q, b...)
	s.resume()
}

// resume runs the coroutine until it needs bytes or ends.
func (s *stream) resume() {
	if s.dead {
		return
	}
	if _, ok := s.next(); !ok {
		s.dead = true
	}
}

// mid reports whether the reader holds the beginning of an element whose end has not come.
func (s *stream) mid() bool {
	return s.r != nil && s.handed > s.r.Offset()
}

// damaged forgets what the reader holds: the entry on line was bad, reading goes on with
// the next one.
func (s *stream) damaged(line int, err error) {
	s.emit((&inspect.Record{Kind: inspect.KindError, Header: s.header}).WithErr(&LineError{Line: line, Err: err}))
	s.drop = true
	s.resume()
}

// close ends the stream: the reader sees the end and reports an incomplete element.
func (s *stream) close() {
	s.final = true
	s.resume()
	s.stop()
	s.dead = true
}

// Read is the reader's byte source.
func (s *stream) Read(p []byte) (int, error) {
	for {
		if s.restart || s.drop {
			return 0, io.EOF // makes the reader stop at once; run swaps readers
		}
		if s.qi < len(s.q) {
			n := copy(p, s.q[s.qi:])
			s.qi += n
			s.handed += int64(n)
			return n, nil
		}
		if s.final {
			return 0, io.EOF
		}
		if s.dead || !s.yield(struct{}{}) {
			s.dead = true
			return 0, errStopped
		}
	}
}

// run is the coroutine body: read events until the stream ends.
func (s *stream) run(yield func(struct{}) bool) {
	s.yield = yield
	defer func() {
		// A reader bug must not end the whole log: report it on the session.
		if v := recover(); v != nil {
			s.emit((&inspect.Record{Kind: inspect.KindError}).WithErr(&LineError{Line: s.line, Err: fmt.Errorf("internal error while reading: %v", v)}))
		}
		s.dead = true
	}()
	for !s.dead {
		if s.r == nil {
			if !s.begin() {
				return
			}
			if s.r == nil {
				continue // begin read a stream close
			}
		}
		ev, err := s.r.Next()
		if err == nil {
			s.event(ev)
			continue
		}
		held := s.mid()
		switch {
		case s.dead || errors.Is(err, errStopped):
			return
		case s.drop:
			s.drop = false
			s.forget()
		case s.restart:
			s.restart = false
			if held {
				s.emit(s.lineError(errors.New("a new stream header starts before the element in progress ended; its beginning is dropped")))
			}
			s.forget()
		case errors.Is(err, io.EOF) && s.final:
			return
		case s.final && errors.Is(err, io.ErrUnexpectedEOF):
			s.emit(s.lineError(fmt.Errorf("the log ends inside an element (%d bytes incomplete)", s.handed-s.r.Offset())))
			return
		case errors.Is(err, io.EOF):
			// The stream closed; anything after it starts a new one.
			s.finished = true
			s.forget()
		default:
			s.emit(s.lineError(err))
			// Reading goes on with the next entry; the rest of this one is skipped.
			s.q, s.qi = s.q[:0], 0
			s.forget()
		}
	}
}

// forget drops the current reader; the next entry starts a new one.
func (s *stream) forget() { s.r, s.handed = nil, 0 }

// begin waits for the next bytes and starts a reader on them: a full reader when they
// start with a stream header, else a fragment reader in the context of the last header.
// It returns false when the stream ended first.
func (s *stream) begin() bool {
	for s.qi == len(s.q) {
		if s.final || s.dead {
			return false
		}
		s.restart, s.drop = false, false
		if !s.yield(struct{}{}) {
			s.dead = true
			return false
		}
	}
	s.restart, s.drop = false, false
	if n := closeTag(s.q[s.qi:]); n > 0 {
		// A stream close on its own: a fragment reader would take it for an end tag with
		// no element open.
		raw := append([]byte(nil), s.q[s.qi:s.qi+n]...)
		s.qi += n
		s.emit(&inspect.Record{Kind: inspect.KindStreamClose, Raw: raw, Name: "stream", NS: inspect.NSStreams, Header: s.header})
		s.finished = true
		return true
	}
	if startsWithHeader(s.q[s.qi:]) {
		s.r = inspect.NewReader(s, s.lim)
		return true
	}
	ctx := s.header
	if ctx == nil {
		ctx = s.ctx
	}
	s.r = inspect.NewFragmentReader(s, ctx, s.lim)
	return true
}

// closeTag returns the length of a stream close tag (</stream:stream>, any prefix) at the
// start of b, or 0.
func closeTag(b []byte) int {
	if len(b) < 3 || b[0] != '<' || b[1] != '/' {
		return 0
	}
	end := bytes.IndexByte(b, '>')
	if end < 0 {
		return 0
	}
	name := bytes.TrimRight(b[2:end], " \t\r\n")
	if i := bytes.IndexByte(name, ':'); i >= 0 {
		name = name[i+1:]
	}
	if string(name) != "stream" {
		return 0
	}
	return end + 1
}

// event turns a reader event into a record.
func (s *stream) event(ev inspect.Event) {
	rec := ev.Record()
	if ev.Kind == inspect.KindStreamOpen && ev.Header != nil {
		s.header = ev.Header
	}
	if rec.Header == nil {
		rec.Header = s.header
	}
	s.emit(rec)
}

func (s *stream) emit(rec *inspect.Record) {
	rec.Conn, rec.Dir = s.conn, s.dir
	s.out = append(s.out, rec)
}

// lineError wraps a reader error with the line of the entry that holds it.
func (s *stream) lineError(err error) *inspect.Record {
	return (&inspect.Record{Kind: inspect.KindError, Header: s.header}).WithErr(&LineError{Line: s.line, Err: err})
}

// LineError is a damaged line of a log: the line number (counted from 1) and what is
// wrong with it. Reading goes on with the next line.
type LineError struct {
	Line int
	Err  error
}

// Error says "line N: " and the problem. A stream error found by the reader is given by
// its condition and text; its byte position counts from the start of the session's
// bytes, which a log does not show, so it is left out.
func (e *LineError) Error() string {
	if se := inspect.AsStreamError(e.Err); se != nil {
		return fmt.Sprintf("line %d: %s: %s", e.Line, se.Condition, se.Text)
	}
	return fmt.Sprintf("line %d: %v", e.Line, e.Err)
}

// Unwrap returns the problem, so that inspect.AsStreamError finds a reader's condition.
func (e *LineError) Unwrap() error { return e.Err }
