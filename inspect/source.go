package inspect

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ReadStream reads one direction of a raw XML stream from r and writes a record per event
// to sink, with Dir dir and Conn conn (which may be nil). Input that starts with a stream
// header (after an optional XML declaration) is read with NewReader, anything else as
// stanzas without a header (NewFragmentReader). A stream header after SASL or STARTTLS
// (see After: the server's <success/> or <proceed/>, or in a transcript of the client's
// side its <auth/>, <response/> or <starttls/>), with or without an XML declaration,
// starts a new stream, as it does between real peers; so does a header before any stanza
// of input without one. Records carry no time: a file says nothing about when its bytes
// travelled.
//
// It returns nil at the end of the input. A reader error (malformed, restricted or
// oversize input) is written to sink as a KindError record and returned.
func ReadStream(r io.Reader, dir Direction, conn *ConnInfo, sink Sink) error {
	br := bufio.NewReader(r)
	ts := &tailSource{src: br}
	var rd *Reader
	if startsWithHeader(br) {
		rd = NewReader(ts, Limits{})
	} else {
		rd = NewFragmentReader(ts, nil, Limits{})
	}
	closed := false
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) && closed {
			err = trailing(ts, rd, dir, conn, sink)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			rec := (&Record{Kind: KindError, Conn: conn, Dir: dir, Header: rd.Header()}).WithErr(err)
			if werr := sink.Write(rec); werr != nil {
				return errors.Join(fmt.Errorf("reading stream: %w", err), werr)
			}
			return fmt.Errorf("reading stream: %w", err)
		}
		closed = ev.Kind == KindStreamClose
		rec := ev.Record()
		rec.Conn, rec.Dir = conn, dir
		if rec.Header == nil {
			rec.Header = rd.Header()
		}
		if err := sink.Write(rec); err != nil {
			return err
		}
	}
}

// trailing handles what follows </stream:stream>: whitespace (a final newline) becomes a
// whitespace record, so the raw printer gives back every byte; anything else is an error.
// It returns io.EOF when the input ended cleanly.
func trailing(ts *tailSource, rd *Reader, dir Direction, conn *ConnInfo, sink Sink) error {
	rest, err := ts.rest(rd.Buffered(), maxSniff)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return io.EOF
	}
	if len(bytes.TrimLeft(rest, " \t\r\n")) > 0 {
		return fmt.Errorf("data after the end of the stream (</stream:stream>) at offset %d", rd.Offset())
	}
	rec := &Record{Kind: KindWhitespace, Conn: conn, Dir: dir, Raw: rest, Header: rd.Header()}
	if err := sink.Write(rec); err != nil {
		return err
	}
	return io.EOF
}

// maxSniff bounds how far startsWithHeader looks.
const maxSniff = 1024

// startsWithHeader peeks at the input, no further than needed (so a live pipe is not
// waited on), and reports whether its first element is a stream header.
func startsWithHeader(br *bufio.Reader) bool {
	for n := 1; n <= maxSniff; {
		b, err := br.Peek(n)
		if isHeader, decided := sniffHeader(b); decided {
			return isHeader
		}
		if err != nil {
			return bytes.Contains(b, []byte("stream"))
		}
		n = len(b) + 1
	}
	return false
}

// sniffHeader decides from a prefix of the input whether it starts with a stream header.
func sniffHeader(b []byte) (isHeader, decided bool) {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 {
		return false, false
	}
	if b[0] != '<' {
		return false, true
	}
	if bytes.HasPrefix(b, []byte("<?")) {
		end := bytes.Index(b, []byte("?>"))
		if end < 0 {
			return false, false
		}
		return sniffHeader(b[end+2:])
	}
	if len(b) < 2 {
		return false, false
	}
	name, complete := TagName(b)
	if !complete && 1+len(name) >= len(b) {
		return false, false // the name may go on in the next bytes
	}
	return complete && string(LocalName(name)) == "stream", true
}

// tailKeep is how many of the bytes last handed to the reader tailSource remembers: more
// than the reader buffers beyond an event after one read.
const tailKeep = 64 << 10

// tailSource feeds the stream reader and remembers the bytes it handed out last, so that
// ReadStream can look at what follows the end of the stream (the reader's unconsumed
// bytes, then the rest of the input).
type tailSource struct {
	src   io.Reader
	tail  []byte // the last bytes handed out, at most tailKeep
	ahead []byte // read from src, not handed out yet
	err   error  // src's error, returned once ahead is empty
}

func (s *tailSource) Read(p []byte) (int, error) {
	if len(s.ahead) > 0 {
		n := copy(p, s.ahead)
		s.ahead = s.ahead[n:]
		s.remember(p[:n])
		return n, nil
	}
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.src.Read(p)
	s.remember(p[:n])
	return n, err
}

func (s *tailSource) remember(b []byte) {
	if len(b) >= tailKeep {
		s.tail = append(s.tail[:0], b[len(b)-tailKeep:]...)
		return
	}
	if len(s.tail)+len(b) > 2*tailKeep {
		s.tail = append(s.tail[:0], s.tail[len(s.tail)-(tailKeep-len(b)):]...)
	}
	s.tail = append(s.tail, b...)
}

// rest returns the reader's buffered bytes and everything left in src, up to max bytes
// (more is an error: the stream has ended and nothing that long may follow).
func (s *tailSource) rest(buffered, max int) ([]byte, error) {
	if buffered > len(s.tail) {
		return nil, errors.New("cannot see the bytes after the end of the stream")
	}
	out := append(append([]byte(nil), s.tail[len(s.tail)-buffered:]...), s.ahead...)
	s.ahead = nil
	if s.err != nil {
		if errors.Is(s.err, io.EOF) {
			return out, nil
		}
		return out, s.err
	}
	more, err := io.ReadAll(io.LimitReader(s.src, int64(max-len(out)+1)))
	out = append(out, more...)
	if err != nil {
		return out, err
	}
	if len(out) > max {
		return out[:max], nil // too long: the caller sees non-whitespace or gives up
	}
	return out, nil
}
