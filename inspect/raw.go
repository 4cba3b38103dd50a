package inspect

import (
	"fmt"
	"io"
	"strconv"
)

// maxRawHold bounds the first stretch of bytes that a marking Raw holds back while it does
// not know yet whether a second connection or direction will follow.
const maxRawHold = 64 << 10

// Raw writes the bytes of stream records exactly as they travelled and nothing else:
// stream headers, stanzas, whitespace and closing tags. Connection notes, errors and gaps
// have no bytes and are skipped, so a one-direction raw dump reads back as a stream.
// It writes what it gets: redaction is a stage of the sink chain before it (NewRedactor).
//
// With MarkChanges, when the records come from more than one connection or direction, a
// line such as "=== #2 S->C ===" (in colour on a terminal) comes before each stretch of
// bytes of one connection and direction, on a line of its own: the markers are between
// the bytes, never inside them. The first stretch is held back (up to 64 KiB) until a
// second one shows, so that input of one connection and direction gets no marker at all.
type Raw struct {
	w io.Writer

	mark     bool
	pal      *palette
	multi    bool   // more than one connection or direction seen: markers are on
	started  bool   // a record was seen
	last     rawKey // connection and direction of the last record written
	held     []byte // the first stretch, while !multi
	lastByte byte   // the last byte written, to put a marker on a line of its own
}

type rawKey struct {
	conn ConnKey
	dir  Direction
}

// NewRaw returns a raw printer writing to w.
func NewRaw(w io.Writer) *Raw { return &Raw{w: w} }

// MarkChanges makes p mark where the connection or the direction changes, when there is
// more than one (see Raw); color paints the markers. It returns p.
func (p *Raw) MarkChanges(color bool) *Raw {
	p.mark, p.pal = true, newPalette(color, ThemeDark)
	return p
}

// Flush does nothing: Raw writes each record as it comes (a held first stretch waits for
// Close or for a second connection or direction).
func (p *Raw) Flush() error { return nil }

// Close writes what is held back: the input had one connection and direction.
func (p *Raw) Close() error {
	if len(p.held) == 0 {
		return nil
	}
	held := p.held
	p.held = nil
	return p.write(held)
}

// Write writes r.Raw.
func (p *Raw) Write(r *Record) error {
	switch r.Kind {
	case KindStreamOpen, KindStanza, KindWhitespace, KindStreamClose:
	default:
		return nil
	}
	if !p.mark {
		return p.write(r.Raw)
	}
	key := rawKey{connID(r.Conn), r.Dir}
	if !p.started {
		p.started, p.last = true, key
	}
	if !p.multi && key == p.last {
		p.held = append(p.held, r.Raw...)
		if len(p.held) <= maxRawHold {
			return nil
		}
		// Too long to hold: mark it and go on as if a second stretch had come.
		p.multi = true
		held := p.held
		p.held = nil
		if err := p.marker(p.last); err != nil {
			return err
		}
		return p.write(held)
	}
	if !p.multi {
		p.multi = true
		held := p.held
		p.held = nil
		if err := p.marker(p.last); err != nil {
			return err
		}
		if err := p.write(held); err != nil {
			return err
		}
	}
	if key != p.last {
		p.last = key
		if err := p.marker(key); err != nil {
			return err
		}
	}
	return p.write(r.Raw)
}

// marker writes the line that names a stretch's connection and direction.
func (p *Raw) marker(k rawKey) error {
	var b []byte
	if p.lastByte != 0 && p.lastByte != '\n' {
		b = append(b, '\n')
	}
	b = append(b, "=== "...)
	if k.conn.ID != 0 {
		st := p.pal.conn(k.conn.ID)
		b = append(b, st.pre...)
		b = append(b, '#')
		if k.conn.Node != "" {
			b = append(b, k.conn.Node...)
			b = append(b, '/')
		}
		b = strconv.AppendUint(b, k.conn.ID, 10)
		b = append(b, st.post...)
		b = append(b, ' ')
	}
	switch k.dir {
	case ClientToServer:
		b = p.pal.c2s.paint(b, "C->S")
	case ServerToClient:
		b = p.pal.s2c.paint(b, "S->C")
	default:
		b = append(b, "?"...)
	}
	b = append(b, " ===\n"...)
	return p.write(b)
}

func (p *Raw) write(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if _, err := p.w.Write(b); err != nil {
		return fmt.Errorf("raw printer: %w", err)
	}
	p.lastByte = b[len(b)-1]
	return nil
}
