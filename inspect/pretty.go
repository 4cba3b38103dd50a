package inspect

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// PrettyOptions configure the pretty printer.
type PrettyOptions struct {
	Color   bool  // ANSI colours (the caller decides: terminal, NO_COLOR, --color)
	Theme   Theme // the background the colours are for (dark by default)
	Explain bool  // a line under each header saying what the stanza means (see Explain)
	Width   int   // fold long base64 text at this column; 0 means 100
	// Columns wraps explanations, notes and the other lines of prose at this width (a
	// terminal's); 0 leaves them on one line each, for a program or a file.
	Columns int
	// Legend prints, before the first record, one line that says how to read the header
	// lines (for a person in front of a terminal).
	Legend bool
}

// Pretty prints records for a person: a header line (number, time, connection, direction, kind),
// then the stanza re-indented from its element tree. It prints what it gets: redaction is
// a stage of the sink chain before it (NewRedactor). Whitespace keep-alives are not shown
// (they would interleave every stanza of a hand-typed session); the json and raw printers
// keep them.
type Pretty struct {
	w   io.Writer
	opt PrettyOptions
	pal *palette
	buf []byte
	// explained remembers, per kind of stream header (direction and version), the record
	// that got the full explanation: later ones get a short line that points to it.
	explained  map[headerKind]uint64
	legendDone bool
	// Scratch space of the body printer, reused from record to record.
	toks  []bodyTok
	attrs []TagAttr
	// addMark wraps what the printer adds in \x00 and \x01, for the test that takes it out.
	addMark bool
}

// headerKind tells apart the stream headers whose explanations are the same text.
type headerKind struct {
	dir    Direction
	legacy bool
	server bool // jabber:server
}

// NewPretty returns a pretty printer writing to w. Each record is written with one Write
// call, so records from several printers sharing w do not interleave mid-record.
func NewPretty(w io.Writer, opt PrettyOptions) *Pretty {
	if opt.Width <= 0 {
		opt.Width = 100
	}
	if opt.Columns > 0 && opt.Columns < minColumns {
		opt.Columns = minColumns
	}
	return &Pretty{w: w, opt: opt, pal: newPalette(opt.Color, opt.Theme)}
}

// Flush does nothing: Pretty writes each record as it comes. It exists so that every
// printer has the same shape.
func (p *Pretty) Flush() error { return nil }

// Write prints r.
func (p *Pretty) Write(r *Record) error {
	if r.Kind == KindWhitespace {
		return nil
	}
	b := p.buf[:0]
	if p.opt.Legend && !p.legendDone {
		p.legendDone = true
		b = p.prose(b, "", "", p.pal.explain, legend)
	}
	b = p.header(b, r)
	for _, v := range r.Violations() {
		b = p.prose(b, "  ! ", "    ", p.pal.err, v.String())
	}
	if p.opt.Explain {
		if ex := p.explain(r); ex != "" {
			b = p.prose(b, "  # ", "    ", p.pal.explain, ex)
		}
	}
	switch r.Kind {
	case KindStanza:
		b = p.stanza(b, r)
		if d := r.SASL(); d != "" {
			// The base64 of a SASL payload, decoded (secrets stay redacted, see SASL).
			b = p.prose(b, "  = ", "    ", p.pal.explain, d)
		}
	case KindStreamOpen, KindStreamClose:
		b = p.body(b, r.Raw, 1)
	}
	p.buf = b
	if _, err := p.w.Write(b); err != nil {
		return fmt.Errorf("pretty printer: %w", err)
	}
	return nil
}

// header appends the one line that starts every record.
func (p *Pretty) header(b []byte, r *Record) []byte {
	pal := p.pal
	if r.Seq != 0 {
		// The record's number, the same in the JSON log and the web view.
		b = append(b, pal.seq.pre...)
		b = append(b, '#')
		b = strconv.AppendUint(b, r.Seq, 10)
		b = append(b, pal.seq.post...)
		b = append(b, ' ')
	}
	if !r.Time.IsZero() {
		b = append(b, pal.time.pre...)
		b = r.Time.AppendFormat(b, "15:04:05.000")
		b = append(b, pal.time.post...)
		b = append(b, ' ')
	}
	if r.Conn != nil {
		// Each connection in a colour of its own, so that a class can follow one person.
		st := pal.conn(r.Conn.ID)
		b = append(b, st.pre...)
		b = append(b, '#')
		if r.Conn.Node != "" {
			b = append(b, r.Conn.Node...)
			b = append(b, '/')
		}
		b = strconv.AppendUint(b, r.Conn.ID, 10)
		b = append(b, st.post...)
		b = append(b, ' ')
	}
	switch r.Dir {
	case ClientToServer:
		b = pal.c2s.paint(b, "C->S")
		b = append(b, ' ')
	case ServerToClient:
		b = pal.s2c.paint(b, "S->C")
		b = append(b, ' ')
	}
	switch r.Kind {
	case KindConnOpen, KindConnClose, KindNote, KindGap, KindError:
		return p.noteLine(b, r)
	}
	b = pal.kind.paint(b, r.Kind.String())
	if r.Kind == KindStanza && r.Name != "" {
		b = append(b, ' ')
		b = appendSafe(b, r.Name)
		if t := r.Attr("type"); t != "" {
			b = append(b, ' ')
			b = appendSafe(b, t)
		}
	}
	b = p.annotations(b, r)
	return append(b, '\n')
}

// noteLine finishes the header of a connection note: the whole record is one line.
func (p *Pretty) noteLine(b []byte, r *Record) []byte {
	pal := p.pal
	var st style
	text := r.Note()
	switch r.Kind {
	case KindConnOpen:
		st = pal.open
		if text == "" && r.Conn != nil {
			text = fmt.Sprintf("connection from %v to %v", r.Conn.Client, r.Conn.Server)
		}
	case KindConnClose:
		st = pal.closed
	case KindNote:
		st = pal.note
	case KindGap:
		st = pal.gap
	case KindError:
		st = pal.err
		if r.Err() != nil {
			if text != "" {
				text += ": "
			}
			text += r.Err().Error()
		}
	}
	b = st.paint(b, r.Kind.String())
	if text == "" {
		b = p.annotations(b, r)
		return append(b, '\n')
	}
	// The text may be long (an error, a note from the proxy or the switch): it goes on
	// after the kind, wrapped like the other prose, and the annotations after it.
	b = append(b, ' ')
	b = p.proseAt(b, lineWidth(b), "    ", st, text)
	b = p.annotations(b, r)
	return append(b, '\n')
}

// annotations appends what the iq tracker and the rules engine said about r.
func (p *Pretty) annotations(b []byte, r *Record) []byte {
	pal := p.pal
	if r.RTT() > 0 {
		b = append(b, ' ')
		b = pal.rtt.paint(b, "(answered in "+formatRTT(r.RTT())+")")
	}
	if r.Unmatched && r.Kind == KindStanza {
		b = append(b, ' ')
		b = pal.unmatched.paint(b, "(no matching request)")
	}
	if r.Verdict != Forwarded {
		b = append(b, ' ')
		var st style
		switch r.Verdict {
		case Dropped:
			st = pal.dropped
		case Rejected:
			st = pal.rejected
		case Injected:
			st = pal.injected
		default:
			st = pal.delayed
		}
		b = st.paint(b, " "+strings.ToUpper(string(r.Verdict))+" ")
	}
	for _, t := range r.Tags() {
		b = append(b, ' ')
		b = pal.tag(t.Color).paint(b, "["+t.Label+"]")
	}
	if len(r.Rules()) > 0 {
		b = append(b, ' ')
		b = pal.rules.paint(b, "rules: "+strings.Join(r.Rules(), ", "))
	}
	return b
}

// formatRTT prints a round trip time with a precision a person can read.
func formatRTT(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'f', 0, 64) + "µs"
	case d < time.Second:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + "ms"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 2, 64) + "s"
}

// stanza appends the body of a stanza record: its bytes, indented (see body), then the
// lines that a rule changed.
func (p *Pretty) stanza(b []byte, r *Record) []byte {
	b = p.body(b, r.Raw, 1)
	if r.Original() != nil {
		b = p.diff(b, r)
	}
	return b
}

func (p *Pretty) indent(b []byte, level int) []byte {
	for range level {
		b = append(b, "  "...)
	}
	return b
}

func (p *Pretty) fits(level, n int) bool { return level*2+n <= p.opt.Width }
