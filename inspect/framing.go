package inspect

import (
	"bytes"
	"errors"
	"io"
)

// XMPP over WebSocket (RFC 7395) frames a stream differently from TCP: each WebSocket
// message holds exactly one XML element that parses on its own (its namespaces declared on
// it), and the stream header and closing tag are replaced by the framing elements <open/>
// and <close/> in NSFraming. The functions here translate between a framed stream and the
// TCP form every other part of stanzascope reads, so that a WebSocket session runs through
// the same Reader, rules and outputs as a TCP one; the records keep both forms (Raw what
// the receiver got, Original what the sender sent) when they differ.

// NSFraming is the namespace of RFC 7395's framing elements <open/> and <close/>.
const NSFraming = "urn:ietf:params:xml:ns:xmpp-framing"

// FrameKind says what one WebSocket message of an XMPP stream holds.
type FrameKind uint8

const (
	FrameElement FrameKind = iota + 1 // a stanza or another stream-level element (<auth/>, <stream:features/>)
	FrameOpen                         // <open/>: starts (or restarts) the stream, like a stream header
	FrameClose                        // <close/>: ends the stream, like </stream:stream>
)

// Frame is one parsed WebSocket message of an XMPP stream.
type Frame struct {
	Kind     FrameKind
	Name, NS string // the element's local name and namespace
	// The stream attributes of <open/> (and of <close/>, which may carry a see-other-uri).
	To, From, ID, Version, Lang string
}

// frameContext is the namespace context a frame is parsed in: none of its own, so that a
// frame that relies on a stream header's declarations is seen as what it is.
var frameContext = &Header{}

// ParseFrame checks that msg, the text of one WebSocket message, is one frame as RFC 7395
// section 3.3.3 requires: a single complete XML element, '<' first, nothing after it. It
// returns what the frame is; an error is a *StreamError whose Condition is what to send:
// not-well-formed for a frame holding a partial element, more than one element, text or
// anything but one element (a frame must be a well-formed XML document of its own), and
// policy-violation beyond the limits.
func ParseFrame(msg []byte, lim Limits) (Frame, error) {
	var p FrameParser
	p.lim = lim
	return p.Parse(msg)
}

// FrameParser is ParseFrame for one connection: it keeps its reader (and the reader's
// buffer) from one frame to the next. It is not safe for concurrent use.
type FrameParser struct {
	lim Limits
	rd  *Reader
	src bytes.Reader
}

// NewFrameParser returns a parser of frames within lim.
func NewFrameParser(lim Limits) *FrameParser { return &FrameParser{lim: lim} }

// Parse is ParseFrame(msg, the parser's limits).
func (p *FrameParser) Parse(msg []byte) (Frame, error) {
	if len(msg) == 0 || msg[0] != '<' {
		return Frame{}, frameErr(CondNotWellFormed, "a WebSocket message must hold exactly one XML element, starting with '<' (RFC 7395 section 3.3.3)")
	}
	p.src.Reset(msg)
	if p.rd == nil {
		lim := p.lim
		lim.Annotate = false
		p.rd = NewFragmentReader(&p.src, frameContext, lim)
	} else {
		// As a new reader, keeping the buffer: offsets count from this frame's start.
		p.rd.Reset(&p.src)
		p.rd.restarted = false
		p.rd.base, p.rd.lines, p.rd.lineStart = 0, 0, 0
	}
	rd := p.rd
	ev, err := rd.Next()
	if err != nil {
		var se *StreamError
		if errors.As(err, &se) {
			return Frame{}, se
		}
		return Frame{}, frameErr(CondNotWellFormed, "a WebSocket message must hold one complete XML element: this one ends inside it (RFC 7395 section 3.3.3)")
	}
	if ev.Kind != KindStanza {
		return Frame{}, frameErr(CondNotWellFormed, "a WebSocket message must hold one XML element, not a stream header or closing tag (RFC 7395 section 3.3.3)")
	}
	if len(ev.Raw) != len(msg) {
		return Frame{}, frameErr(CondNotWellFormed, "a WebSocket message must hold exactly one XML element: this one holds more (RFC 7395 section 3.3.3)")
	}
	if _, err := rd.Next(); !errors.Is(err, io.EOF) {
		return Frame{}, frameErr(CondNotWellFormed, "a WebSocket message must hold exactly one XML element: this one holds more (RFC 7395 section 3.3.3)")
	}
	f := Frame{Kind: FrameElement, Name: ev.Name, NS: ev.NS}
	if ev.NS == NSFraming && (ev.Name == "open" || ev.Name == "close") {
		f.Kind = FrameOpen
		if ev.Name == "close" {
			f.Kind = FrameClose
		}
		f.To, f.From, f.ID, f.Version = TopAttr(msg, "to"), TopAttr(msg, "from"), TopAttr(msg, "id"), TopAttr(msg, "version")
		f.Lang = topXMLLang(msg)
	}
	return f, nil
}

func frameErr(cond Cond, text string) *StreamError { return &StreamError{Condition: cond, Text: text} }

// StreamOfFrame is the receiving half of the translation, for a server or a proxy that
// takes WebSocket clients: it checks msg, one text message from a client (Parse), and
// returns its TCP form, which a Reader reads like any stream: the stream header that
// stands for <open/> (AppendHeaderOfOpen), the closing tag for <close/>, and any other
// element as it is (msg itself). An error is the *StreamError to send.
func (p *FrameParser) StreamOfFrame(msg []byte) (tcp []byte, f Frame, err error) {
	f, err = p.Parse(msg)
	if err != nil {
		return nil, f, err
	}
	switch f.Kind {
	case FrameOpen:
		return AppendHeaderOfOpen(nil, f), f, nil
	case FrameClose:
		return []byte(closingTag), f, nil
	}
	return msg, f, nil
}

// closingTag is the TCP form of <close/>, in the prefix AppendHeaderOfOpen binds.
const closingTag = "</stream:stream>"

// BinaryFrameError is the stream error for a binary WebSocket message: RFC 7395 section 3.2
// carries XMPP in text messages only.
func BinaryFrameError() *StreamError {
	return frameErr(CondNotWellFormed, "binary WebSocket messages are not XMPP: RFC 7395 section 3.2 carries XML in text messages only")
}

// OversizeFrameError is the stream error for a WebSocket message larger than the stanza
// limit, as for a stanza over the limit on TCP.
func OversizeFrameError() *StreamError {
	return frameErr(CondPolicyViolation, "WebSocket message larger than the stanza limit")
}

// topXMLLang returns the xml:lang of the top-level start tag of raw, or "".
func topXMLLang(raw []byte) string {
	var buf [8]TagAttr
	t, err := ScanStartTag(raw, buf[:0])
	if err != nil {
		return ""
	}
	if v, ok := t.Attr(raw, "xml:lang"); ok {
		return string(unescapeBytes(v))
	}
	return ""
}

// AppendHeaderOfOpen appends the TCP stream header that stands for the client's <open/>
// frame f: a jabber:client stream with f's attributes.
func AppendHeaderOfOpen(b []byte, f Frame) []byte {
	b = append(b, "<stream:stream xmlns='"+NSClient+"' xmlns:stream='"+NSStreams+"'"...)
	b = appendFrameAttrs(b, f)
	return append(b, '>')
}

// AppendOpenOfHeader appends the <open/> frame that stands for the stream header h.
func AppendOpenOfHeader(b []byte, h *Header) []byte {
	b = append(b, "<open xmlns='"+NSFraming+"'"...)
	if h != nil {
		b = appendFrameAttrs(b, Frame{To: h.To, From: h.From, ID: h.ID, Version: h.Version, Lang: h.Lang})
	}
	return append(b, "/>"...)
}

// CloseFrame is the <close/> frame that stands for </stream:stream>.
const CloseFrame = "<close xmlns='" + NSFraming + "'/>"

func appendFrameAttrs(b []byte, f Frame) []byte {
	for _, a := range [...]struct{ name, v string }{{"to", f.To}, {"from", f.From}, {"id", f.ID}, {"version", f.Version}, {"xml:lang", f.Lang}} {
		if a.v == "" {
			continue
		}
		b = append(b, ' ')
		b = append(b, a.name...)
		b = append(b, "='"...)
		b = appendEscaped(b, a.v, true)
		b = append(b, '\'')
	}
	return b
}

// AppendFramed appends raw, one element read from a TCP stream whose header was h, as a
// frame that parses on its own (RFC 7395 section 3.3.3): the namespaces the element took
// from the header are declared on its start tag. The default namespace is declared on an
// unprefixed element that has none; a prefix of the header (stream:) is declared when the
// element's bytes use it. Nothing else changes.
func AppendFramed(b, raw []byte, h *Header) []byte {
	if h == nil {
		h = defaultHeader
	}
	i := FirstStartTag(raw)
	if i < 0 {
		return append(b, raw...)
	}
	var buf [16]TagAttr
	t, err := ScanStartTag(raw[i:], buf[:0])
	if err != nil {
		return append(b, raw...)
	}
	at := i + t.NameEnd
	b = append(b, raw[:at]...)
	name := t.Name(raw[i:])
	declared := func(attr string) bool { _, ok := t.Attr(raw[i:], attr); return ok }
	if bytes.IndexByte(name, ':') < 0 && !declared("xmlns") {
		ns := h.ContentNS
		if ns == "" {
			ns = NSClient
		}
		b = append(b, " xmlns='"...)
		b = appendEscaped(b, ns, true)
		b = append(b, '\'')
	}
	for p, ns := range h.NS {
		if p == "" || declared("xmlns:"+p) || !usesPrefix(raw, p) {
			continue
		}
		b = append(b, " xmlns:"...)
		b = append(b, p...)
		b = append(b, "='"...)
		b = appendEscaped(b, ns, true)
		b = append(b, '\'')
	}
	return append(b, raw[at:]...)
}

// usesPrefix reports whether raw may use the namespace prefix p (an element or attribute
// name "p:..."): a cheap over-approximation; declaring a prefix that is not used is harmless.
func usesPrefix(raw []byte, p string) bool {
	for j := 0; ; {
		k := bytes.Index(raw[j:], []byte(p+":"))
		if k < 0 {
			return false
		}
		k += j
		if k > 0 {
			switch raw[k-1] {
			case '<', '/', ' ', '\t', '\r', '\n':
				return true
			}
		}
		j = k + 1
	}
}

// FrameOfStream returns the frame that stands for bytes written on a TCP stream (the
// proxy's writes toward a WebSocket client): a header becomes <open/>, the closing tag
// <close/>, an element a standalone frame (AppendFramed). hdr is the header in force, and
// a header written is returned as the new one. Whitespace alone returns nil: RFC 7395
// frames hold elements only (keepalives are WebSocket pings).
func FrameOfStream(b []byte, hdr *Header) (frame []byte, newHdr *Header) {
	return AppendFrameOfStream(nil, b, hdr)
}

// AppendFrameOfStream is FrameOfStream appending the frame to dst (which it returns
// unchanged, nil when dst is, for whitespace), so that a writer can reuse one buffer.
func AppendFrameOfStream(dst, b []byte, hdr *Header) (frame []byte, newHdr *Header) {
	i := 0
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	if i == len(b) {
		return dst, hdr
	}
	rest := b[i:]
	switch {
	case bytes.HasPrefix(rest, []byte("</")):
		return append(dst, CloseFrame...), hdr
	case bytes.HasPrefix(rest, []byte("<?xml")) || TopName(rest) == "stream":
		rd := NewReader(bytes.NewReader(b), Limits{})
		if ev, err := rd.Next(); err == nil && ev.Kind == KindStreamOpen {
			return AppendOpenOfHeader(dst, ev.Header), ev.Header
		}
		return append(dst, b...), hdr
	}
	return AppendFramed(dst, b, hdr), hdr
}
