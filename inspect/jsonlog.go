package inspect

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"strings"
	"time"
)

// MaxJSONLine is the longest JSON log line ReadJSONLog accepts: a maximum-size stanza with
// every byte escaped, and room to spare.
const MaxJSONLine = 8 << 20

// ReadJSONLog reads a JSON-lines log written by the JSON printer and writes the records
// back to sink, so a saved session can be shown again in any format. Records of one
// connection share a ConnInfo; stanzas get the stream header last seen on their
// connection and direction, so they parse as they did live. Secrets redacted in the log
// stay redacted. Errors name the line. Blank lines are skipped and unknown fields ignored.
func ReadJSONLog(r io.Reader, sink Sink) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxJSONLine)
	lr := &logReader{conns: map[uint64]*ConnInfo{}, headers: map[connDir]*Header{}}
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		rec, err := lr.record(b)
		if err != nil {
			return fmt.Errorf("json log line %d: %w", line, err)
		}
		if err := sink.Write(rec); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("json log line %d: longer than %d bytes", line+1, MaxJSONLine)
		}
		return fmt.Errorf("json log line %d: %w", line+1, err)
	}
	return nil
}

type connDir struct {
	conn uint64
	dir  Direction
}

// logReader holds what ReadJSONLog remembers between lines.
type logReader struct {
	conns   map[uint64]*ConnInfo
	headers map[connDir]*Header
}

func (lr *logReader) record(b []byte) (*Record, error) {
	var jr jsonRecord
	if err := json.Unmarshal(b, &jr); err != nil {
		return nil, fmt.Errorf("not a stanzascope JSON record: %w", err)
	}
	kind, ok := ParseKind(jr.Kind)
	if !ok {
		return nil, fmt.Errorf("unknown kind %q", jr.Kind)
	}
	dir, ok := ParseDirection(jr.Dir)
	if !ok {
		return nil, fmt.Errorf("unknown direction %q", jr.Dir)
	}
	origin, ok := ParseOrigin(jr.Origin)
	if !ok {
		return nil, fmt.Errorf("unknown origin %q", jr.Origin)
	}
	rec := &Record{
		Kind: kind, Dir: dir, Name: jr.Name, NS: jr.NS, Note: jr.Note, Verdict: Verdict(jr.Verdict),
		Tags: jr.Tags, Rules: jr.Rules, Unmatched: jr.Unmatched, Origin: origin, Seq: jr.Seq,
		Violations: jr.Violations, Milestone: jr.Milestone,
	}
	if jr.Time != "" {
		t, err := time.Parse(time.RFC3339Nano, jr.Time)
		if err != nil {
			return nil, fmt.Errorf("bad time: %w", err)
		}
		rec.Time = t
	}
	if len(jr.XML) > 0 {
		rec.Raw = jr.XML
	}
	if len(jr.Original) > 0 {
		rec.Original = jr.Original
	}
	if jr.RTTms < 0 || jr.RTTms > float64(math.MaxInt64/int64(time.Millisecond)) {
		return nil, fmt.Errorf("rtt_ms %v out of range", jr.RTTms)
	}
	rec.RTT = time.Duration(math.Round(jr.RTTms * float64(time.Millisecond)))
	if jr.Error != "" {
		rec.Err = parseLoggedError(jr.Error, jr.Condition)
	}
	if err := lr.conn(rec, &jr); err != nil {
		return nil, err
	}
	key := connDir{jr.Conn, dir}
	switch kind {
	case KindStreamOpen:
		rec.Header = headerOf(rec.Raw)
		lr.headers[key] = rec.Header
	case KindStanza, KindStreamClose, KindWhitespace, KindError:
		rec.Header = lr.headers[key]
	}
	return rec, nil
}

// conn sets rec.Conn: a conn-open starts a new connection (a log may hold several runs
// that count connections from 1 again); other records join the one with their number.
func (lr *logReader) conn(rec *Record, jr *jsonRecord) error {
	if jr.Conn == 0 {
		return nil
	}
	c := lr.conns[jr.Conn]
	if c == nil || rec.Kind == KindConnOpen {
		c = &ConnInfo{ID: jr.Conn}
		for _, a := range []struct {
			s   string
			dst *netip.AddrPort
		}{{jr.Client, &c.Client}, {jr.Server, &c.Server}} {
			if a.s == "" {
				continue
			}
			ap, err := netip.ParseAddrPort(a.s)
			if err != nil {
				return fmt.Errorf("bad address: %w", err)
			}
			*a.dst = ap
		}
		lr.conns[jr.Conn] = c
		delete(lr.headers, connDir{jr.Conn, ClientToServer})
		delete(lr.headers, connDir{jr.Conn, ServerToClient})
	}
	rec.Conn = c
	return nil
}

// headerOf reads a logged stream header. It scans the attributes rather than running the
// stream reader: the log may be edited or damaged, and all that is needed is the namespace
// context and the attributes the printers show.
func headerOf(raw []byte) *Header { return headerFromRaw(raw) }

// loggedError is an error read back from a log: its text, and its condition when it was
// a stream error whose text did not parse back.
type loggedError struct{ msg, cond string }

func (e *loggedError) Error() string { return e.msg }

// parseLoggedError rebuilds a *StreamError from its logged text when it can, so that
// AsStreamError works on records read back from a log.
func parseLoggedError(msg, cond string) error {
	if cond != "" {
		if msg == cond {
			return NewStreamError(Cond(cond), "")
		}
		if text, ok := strings.CutPrefix(msg, cond+": "); ok {
			return NewStreamError(Cond(cond), text)
		}
		if rest, ok := strings.CutPrefix(msg, cond+" at line "); ok {
			se := &StreamError{Condition: Cond(cond)}
			if _, err := fmt.Sscanf(rest, "%d, column %d (offset %d):", &se.Line, &se.Col, &se.Offset); err == nil {
				if i := strings.Index(rest, "): "); i >= 0 {
					se.Text = rest[i+3:]
					if se.Error() == msg {
						return se
					}
				}
			}
		}
	}
	return &loggedError{msg, cond}
}
