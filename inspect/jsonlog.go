package inspect

import (
	"bufio"
	"bytes"
	"container/heap"
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
	src := newLogSource(r, "")
	for {
		rec, err := src.next()
		if rec == nil || err != nil {
			return err
		}
		if err := sink.Write(rec); err != nil {
			return err
		}
	}
}

// JSONLog is one of the logs MergeJSONLogs reads: its name (for errors, and as the node
// of its connections when the log names none) and its content.
type JSONLog struct {
	Name string
	R    io.Reader
}

// MergeJSONLogs reads several JSON logs (of several proxies in front of a cluster, say)
// and writes their records to sink in the order of their times, as ReadJSONLog does for
// one. Each log keeps its own connections: a record's connection is known by the node the
// log names ("node", a proxy's --node) or else by the log's Name, so that connection 3 of
// one proxy is not connection 3 of another. A log is written in the order its records
// were made, which may be a little off their times (an answer before its question): the
// merge puts in order what is less than MergeWindow apart, holding no more than that
// much of each log. A record without a time keeps its place after its log's record
// before it.
func MergeJSONLogs(logs []JSONLog, sink Sink) error {
	m := &merger{srcs: make([]*logSource, len(logs)), last: make([]time.Time, len(logs)), done: make([]bool, len(logs))}
	for i, l := range logs {
		node := l.Name
		if len(logs) == 1 {
			node = ""
		}
		m.srcs[i] = newLogSource(l.R, node)
	}
	fill := func(i int) error {
		rec, err := m.srcs[i].next()
		if err != nil {
			if len(logs) > 1 {
				err = fmt.Errorf("%s: %w", logs[i].Name, err)
			}
			return err
		}
		if rec == nil {
			m.done[i] = true
			return nil
		}
		t := rec.Time
		if t.IsZero() {
			t = m.last[i]
		} else if t.After(m.last[i]) {
			m.last[i] = t
		}
		m.seq++
		heap.Push(&m.h, mergeItem{rec: rec, t: t, seq: m.seq})
		return nil
	}
	for i := range m.srcs {
		if err := fill(i); err != nil {
			return err
		}
	}
	for m.h.Len() > 0 {
		// Read each log on until it is past the earliest record by the window: nothing it
		// holds later can then be earlier.
		horizon := m.h[0].t.Add(MergeWindow)
		filled := false
		for i := range m.srcs {
			for !m.done[i] && !m.last[i].After(horizon) {
				if err := fill(i); err != nil {
					return err
				}
				filled = true
			}
		}
		if filled && m.h[0].t.Add(MergeWindow).Before(horizon) {
			continue // an earlier record came: its own horizon first
		}
		it := heap.Pop(&m.h).(mergeItem)
		if err := sink.Write(it.rec); err != nil {
			return err
		}
	}
	return nil
}

// MergeWindow is how far apart in time two records of one log may be written out of
// order and still be put in order by MergeJSONLogs.
const MergeWindow = 2 * time.Second

type merger struct {
	srcs []*logSource
	last []time.Time // the latest time read from each log
	done []bool
	h    mergeHeap
	seq  uint64
}

type mergeItem struct {
	rec *Record
	t   time.Time // the record's time, or for one without, its log's latest before it
	seq uint64    // reading order: equal times keep it
}

type mergeHeap []mergeItem

func (h mergeHeap) Len() int { return len(h) }
func (h mergeHeap) Less(i, j int) bool {
	if !h[i].t.Equal(h[j].t) {
		return h[i].t.Before(h[j].t)
	}
	return h[i].seq < h[j].seq
}
func (h mergeHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *mergeHeap) Push(x any)   { *h = append(*h, x.(mergeItem)) }
func (h *mergeHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = mergeItem{}
	*h = old[:len(old)-1]
	return it
}

// logSource reads the records of one JSON log, one at a time.
type logSource struct {
	sc   *bufio.Scanner
	lr   *logReader
	line int
}

// newLogSource reads r; node, unless empty, is the node of connections whose records
// name none.
func newLogSource(r io.Reader, node string) *logSource {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxJSONLine)
	return &logSource{sc: sc, lr: &logReader{node: node, conns: map[ConnKey]*ConnInfo{}, headers: map[connDir]*Header{}}}
}

// next returns the next record, or nil at the end of the log.
func (s *logSource) next() (*Record, error) {
	for s.sc.Scan() {
		s.line++
		b := bytes.TrimSpace(s.sc.Bytes())
		if len(b) == 0 {
			continue
		}
		rec, err := s.lr.record(b)
		if err != nil {
			return nil, fmt.Errorf("json log line %d: %w", s.line, err)
		}
		return rec, nil
	}
	if err := s.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("json log line %d: longer than %d bytes", s.line+1, MaxJSONLine)
		}
		return nil, fmt.Errorf("json log line %d: %w", s.line+1, err)
	}
	return nil, nil
}

type connDir struct {
	conn ConnKey
	dir  Direction
}

// logReader holds what ReadJSONLog remembers between lines.
type logReader struct {
	node    string // the node of connections whose records name none
	conns   map[ConnKey]*ConnInfo
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
		Kind: kind, Dir: dir, Name: jr.Name, NS: jr.NS, Verdict: Verdict(jr.Verdict),
		Unmatched: jr.Unmatched, Origin: origin, Seq: jr.Seq,
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
	if jr.RTTms < 0 || jr.RTTms > float64(math.MaxInt64/int64(time.Millisecond)) {
		return nil, fmt.Errorf("rtt_ms %v out of range", jr.RTTms)
	}
	x := recordExtra{note: jr.Note, tags: jr.Tags, rules: jr.Rules, violations: jr.Violations, milestone: jr.Milestone,
		rtt: time.Duration(math.Round(jr.RTTms * float64(time.Millisecond)))}
	if len(jr.Original) > 0 {
		x.original = jr.Original
	}
	if jr.Error != "" {
		x.err = parseLoggedError(jr.Error, jr.Condition)
	}
	if x.note != "" || x.err != nil || x.tags != nil || x.rules != nil || x.violations != nil || x.milestone != nil || x.rtt != 0 || x.original != nil {
		rec.extra = &x // one allocation for all of them, and none for most records
	}
	if err := lr.conn(rec, &jr); err != nil {
		return nil, err
	}
	key := connDir{rec.Conn.Key(), dir}
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
	node := jr.Node
	if node == "" {
		node = lr.node
	}
	k := ConnKey{node, jr.Conn}
	c := lr.conns[k]
	if c == nil || rec.Kind == KindConnOpen {
		c = &ConnInfo{ID: jr.Conn, Node: node, Transport: jr.Transport}
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
		lr.conns[k] = c
		delete(lr.headers, connDir{k, ClientToServer})
		delete(lr.headers, connDir{k, ServerToClient})
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
