package inspect

import (
	"fmt"
	"io"
	"slices"
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
	// The prefix bindings of the last stream header seen, which every record of a stream
	// shares (see scopeOf).
	scHeader *Header
	sc       *scope
	// explained remembers, per kind of stream header (direction and version), the record
	// that got the full explanation: later ones get a short line that points to it.
	explained  map[headerKind]uint64
	legendDone bool
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
	for _, v := range r.Violations {
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
	case KindStreamOpen:
		b = p.rawStartTag(b, r.Raw)
	case KindStreamClose:
		b = append(b, "  "...)
		b = p.pal.elem.paint(b, strings.TrimSpace(string(r.Raw)))
		b = append(b, '\n')
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
	text := r.Note
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
		if r.Err != nil {
			if text != "" {
				text += ": "
			}
			text += r.Err.Error()
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
	if r.RTT > 0 {
		b = append(b, ' ')
		b = pal.rtt.paint(b, "(answered in "+formatRTT(r.RTT)+")")
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
	for _, t := range r.Tags {
		b = append(b, ' ')
		b = pal.tag(t.Color).paint(b, "["+t.Label+"]")
	}
	if len(r.Rules) > 0 {
		b = append(b, ' ')
		b = pal.rules.paint(b, "rules: "+strings.Join(r.Rules, ", "))
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

// stanza appends the body of a stanza record: its tree re-indented, or its bytes when they
// do not parse, then the diff against the original when a rule changed it.
func (p *Pretty) stanza(b []byte, r *Record) []byte {
	e, err := r.Element()
	if err != nil || len(r.Violations) > 0 {
		// A tree would hide what is wrong (comments left out, references escaped again).
		return appendIndented(b, r.Raw)
	}
	b = p.tree(b, e, 1, contentNS(r.Header), p.scopeOf(r.Header))
	if r.Original != nil {
		b = p.diff(b, r, e)
	}
	return b
}

// appendIndented appends raw as is, each line indented by two spaces (and what would take
// over a terminal escaped, see appendSafe).
func appendIndented(b, raw []byte) []byte {
	if len(raw) == 0 {
		return b
	}
	for _, line := range strings.Split(strings.TrimRight(string(raw), "\n"), "\n") {
		b = append(b, "  "...)
		b = appendSafe(b, line)
		b = append(b, '\n')
	}
	return b
}

func contentNS(h *Header) string {
	if h == nil || h.ContentNS == "" {
		return NSClient
	}
	return h.ContentNS
}

// scopeOf is headerScope remembered for the last header: scopes are never changed, only
// extended by new links in front.
func (p *Pretty) scopeOf(h *Header) *scope {
	if p.sc == nil || h != p.scHeader {
		p.scHeader, p.sc = h, headerScope(h)
	}
	return p.sc
}

// headerScope returns the prefixes the stream header declared, which stanzas may use.
func headerScope(h *Header) *scope {
	var sc *scope
	if h == nil {
		return &scope{"stream", NSStreams, nil}
	}
	for p, ns := range h.NS {
		sc = &scope{p, ns, sc}
	}
	return sc
}

func (p *Pretty) indent(b []byte, level int) []byte {
	for range level {
		b = append(b, "  "...)
	}
	return b
}

// tree appends e at the given indentation level. defSpace and sc are the default namespace
// and the prefix bindings in force around e, so declarations show where they are needed.
func (p *Pretty) tree(b []byte, e *Element, level int, defSpace string, sc *scope) []byte {
	pal := p.pal
	b = p.indent(b, level)
	b = pal.punct.paint(b, "<")
	name, decl, defSpace, sc := qualify(e, defSpace, sc)
	b = pal.elem.paint(b, name)
	for _, d := range decl {
		b = p.attr(b, d.Local, d.Value)
	}
	for _, a := range e.Attrs {
		var an string
		an, sc = attrName(a, sc, func(dn, dv string) { b = p.attr(b, dn, dv) })
		b = p.attr(b, an, a.Value)
	}
	children := significant(e.Children)
	if len(children) == 0 {
		b = pal.punct.paint(b, "/>")
		return append(b, '\n')
	}
	b = pal.punct.paint(b, ">")
	if t, ok := children[0].(Text); ok && len(children) == 1 {
		s := strings.TrimSpace(string(t))
		if !strings.Contains(s, "\n") && p.fits(level, len(name)*2+len(s)+5) {
			b = pal.text.paintEscaped(b, s, false)
			return p.endTag(b, name)
		}
	}
	b = append(b, '\n')
	for _, c := range children {
		switch n := c.(type) {
		case *Element:
			b = p.tree(b, n, level+1, defSpace, sc)
		case Text:
			b = p.text(b, strings.TrimSpace(string(n)), level+1)
		}
	}
	b = p.indent(b, level)
	return p.endTag(b, name)
}

func (p *Pretty) fits(level, n int) bool { return level*2+n <= p.opt.Width }

func (p *Pretty) endTag(b []byte, name string) []byte {
	b = p.pal.punct.paint(b, "</")
	b = p.pal.elem.paint(b, name)
	b = p.pal.punct.paint(b, ">")
	return append(b, '\n')
}

func (p *Pretty) attr(b []byte, name, value string) []byte {
	b = append(b, ' ')
	b = p.pal.attr.paint(b, name)
	b = append(b, '=')
	return p.pal.value.paintEscaped(b, value, true)
}

// text appends a text node on its own lines: base64 folded at the width, other text with
// each of its lines indented.
func (p *Pretty) text(b []byte, s string, level int) []byte {
	avail := p.opt.Width - level*2
	if avail < 16 {
		avail = 16
	}
	if len(s) > avail && isBase64(s) {
		for len(s) > 0 {
			n := min(avail, len(s))
			b = p.indent(b, level)
			b = p.pal.text.paint(b, s[:n])
			b = append(b, '\n')
			s = s[n:]
		}
		return b
	}
	for _, line := range strings.Split(s, "\n") {
		b = p.indent(b, level)
		b = p.pal.text.paintEscaped(b, strings.TrimRight(line, "\r"), false)
		b = append(b, '\n')
	}
	return b
}

// isBase64 reports whether s looks like base64 (SASL payloads, avatars): nothing but the
// base64 alphabet.
func isBase64(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=') {
			return false
		}
	}
	return true
}

// significant drops whitespace-only text between child elements: it is formatting, and the
// printer does its own.
func significant(nodes []Node) []Node {
	hasElem := false
	for _, n := range nodes {
		if _, ok := n.(*Element); ok {
			hasElem = true
			break
		}
	}
	formatting := func(n Node) bool {
		t, ok := n.(Text)
		return ok && strings.TrimSpace(string(t)) == "" && (hasElem || t == "")
	}
	if !slices.ContainsFunc(nodes, formatting) {
		return nodes // the usual case: nothing to drop, nothing to copy
	}
	return slices.DeleteFunc(slices.Clone(nodes), formatting)
}

// qualify returns the name to print for e, the namespace declarations it needs, and the
// namespace context for its children (the same logic as AppendXML).
func qualify(e *Element, defSpace string, sc *scope) (string, []Attr, string, *scope) {
	var decl []Attr
	prefix := e.Prefix
	if prefix == "xmlns" || prefix == "xml" {
		prefix = ""
	}
	if prefix != "" {
		if sp, ok := sc.lookup(prefix); !ok || sp != e.Space {
			sc = &scope{prefix, e.Space, sc}
			decl = append(decl, Attr{Local: "xmlns:" + prefix, Value: e.Space})
		}
		return prefix + ":" + e.Local, decl, defSpace, sc
	}
	if e.Space != defSpace {
		defSpace = e.Space
		decl = append(decl, Attr{Local: "xmlns", Value: e.Space})
	}
	return e.Local, decl, defSpace, sc
}

// attrName returns the name to print for a, calling declare for a prefix declaration it
// needs first.
func attrName(a Attr, sc *scope, declare func(name, value string)) (string, *scope) {
	switch a.Space {
	case "":
		return a.Local, sc
	case NSXML:
		return "xml:" + a.Local, sc
	}
	p := a.Prefix
	if p == "" || p == "xmlns" || p == "xml" {
		p = "ns"
	}
	if sp, ok := sc.lookup(p); !ok || sp != a.Space {
		sc = &scope{p, a.Space, sc}
		declare("xmlns:"+p, a.Space)
	}
	return p + ":" + a.Local, sc
}

// rawStartTag appends a stream header from its bytes (it is not a complete element, so it
// has no tree), coloured like an element, with the XML declaration before it kept.
func (p *Pretty) rawStartTag(b []byte, raw []byte) []byte {
	pal := p.pal
	for i := 0; ; {
		t, ok := nextTag(raw, i)
		if !ok {
			return appendIndented(b, raw[i:])
		}
		st := raw[t.start:t.end]
		if t.kind == tagOther {
			b = append(b, "  "...)
			b = pal.punct.paint(b, string(st))
			b = append(b, '\n')
			i = t.end
			continue
		}
		b = append(b, "  "...)
		b = pal.punct.paint(b, "<")
		b = pal.elem.paint(b, string(t.name))
		eachAttr(st, func(name, value []byte, q byte) bool {
			b = append(b, ' ')
			b = pal.attr.paint(b, string(name))
			b = append(b, '=')
			b = pal.value.paint(b, string(q)+string(value)+string(q))
			return true
		})
		if t.kind == tagEmpty {
			b = pal.punct.paint(b, "/>")
		} else {
			b = pal.punct.paint(b, ">")
		}
		return append(b, '\n')
	}
}
