package inspect

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

const (
	initialBuffer = 4 << 10  // what an idle connection holds
	readChunk     = 32 << 10 // the most read at once once the buffer has grown
)

// phase is where the reader is in the stream's life.
type phase uint8

const (
	phaseProlog phase = iota // before the stream header: XML declaration, whitespace
	phaseStream              // between stanzas
	phaseDone                // after </stream:stream>
)

// span is a byte range relative to the start of the event being scanned.
type span struct{ start, end int32 }

// binding is a namespace prefix declared inside the stanza being scanned.
type binding struct {
	prefix span
	value  span
	depth  int32
	prev   int32 // with the prefix index on: the binding this one shadows, or -1
}

// attrSpan is one attribute of the start tag being scanned.
type attrSpan struct {
	name, value span
	colon       int32 // offset of the first colon in the name, -1 without one (set by the scan)
}

// Reader frames an XMPP stream into events: stream open, stanzas, whitespace, stream close.
//
// It works on bytes: a stanza is checked for well-formedness and for RFC 6120 restricted
// XML as it arrives, and handed out as a view on the original bytes; a tree is built only
// when someone asks (ParseElement). It resumes where it stopped when a stanza arrives in
// pieces, so a stanza sent one byte at a time is not scanned again from its start at each
// read (a tag cut by a read is looked at twice at most). It holds at most one stanza (plus
// one read) in memory.
type Reader struct {
	src      io.Reader
	srcErr   error // error from src, reported once the buffer is exhausted
	lim      Limits
	fragment bool    // no stream header: stanzas only
	fragCtx  *Header // namespace context in fragment mode

	buf  []byte
	r, w int   // buf[r:w] is unconsumed; the event being scanned starts at r
	base int64 // stream offset of buf[0]

	lines     int64 // newlines in consumed bytes
	lineStart int64 // offset of the first byte of the current line

	err       error // sticky
	phase     phase
	header    *Header
	restarted bool // the stream restarted (Restart, Reset): whitespace may precede the XML declaration
	started   bool // an event with an element was handed out since the reader (re)started
	after     Next // what may follow the last stanza: a new stream header where a stanza could be

	// Scan state of the event starting at r; all offsets are relative to r.
	p          int   // next byte to look at
	st         state // what that byte means
	depth      int   // open elements in the stanza
	declOK     bool  // an XML declaration may start here
	tagStart   int   // offset of '<' of the current tag
	name       span  // name of the current start or end tag
	attr       attrSpan
	attrs      []attrSpan
	nameColon  int32  // offset of the first colon in the current tag's name, -1 without one
	manyColons bool   // a name of the current start tag has more than one colon
	nDecls     int    // namespace declarations among attrs
	nPrefixed  int    // prefixed attributes among attrs, declarations excepted
	names      []span // open elements
	bindings   []binding
	nsIndex    map[uint64]int32 // prefix hash -> innermost binding, once many are in scope
	nsIndexed  bool
	nsCollided bool // two prefixes in the index share a hash: look up by scanning
	dups       dupFinder
	viols      []Violation // recorded in annotate mode for the event being scanned
	violsMore  int         // beyond maxViolations
	declLate   bool        // annotate mode: whitespace came before the XML declaration
	qattrs     []qattr
	quote      byte
	entStart   int   // offset of '&'
	entReturn  state // state to resume after an entity
	high       bool  // a byte >= 0x80 appeared in this event
	highName   bool  // a byte >= 0x80 appeared in a name of the current tag
	highNames  bool  // ... of a start tag of this event (end tags are then scanned, not compared)
	topName    span  // name of the stanza's top element
	topColon   int32 // offset of the first colon in topName, -1 without one
	topNS      span  // value of xmlns on the stanza's top element, if any
	topHasNS   bool
	topNSValue string
	top        [numTopAttrs]span // values of id, type, from, to on the stanza's top element ({0,0}: absent)
}

// state says what the next byte of a stanza means.
type state uint8

const (
	sTop        state = iota // between stanzas: whitespace or '<'
	sText                    // element content
	sLT                      // after '<'
	sStartName               // in a start tag's name
	sTagSpace                // in a start tag after the name or an attribute
	sAttrName                // in an attribute name
	sAttrEq                  // after an attribute name, before '='
	sAttrQuote               // after '=', before the opening quote
	sAttrValue               // inside a quoted attribute value
	sAfterValue              // right after a closing quote: needs space, '>' or '/'
	sEmptyClose              // after '/' in a start tag
	sEndName                 // in an end tag's name
	sEndSpace                // after an end tag's name
	sBang                    // after '<!'
	sCDATA                   // inside <![CDATA[ ... ]]>
	sEntity                  // after '&'
	sPI                      // after '<?'
	sDecl                    // inside the XML declaration
	sPIBody                  // annotate mode: inside a processing instruction in a stanza
	sComment                 // annotate mode: inside a comment in a stanza
)

// NewReader returns a reader of the stream in src. It expects a stream header first
// (optionally preceded by an XML declaration).
func NewReader(src io.Reader, lim Limits) *Reader {
	r := &Reader{src: src, lim: lim.withDefaults()}
	r.restart()
	return r
}

// NewFragmentReader returns a reader of stanzas with no stream header around them (a file of
// stanzas, a rule's template), using ctx as the namespace context (nil: jabber:client).
func NewFragmentReader(src io.Reader, ctx *Header, lim Limits) *Reader {
	if ctx == nil {
		ctx = defaultHeader
	}
	r := &Reader{src: src, lim: lim.withDefaults(), fragment: true, fragCtx: ctx}
	r.restart()
	return r
}

// defaultHeader is the namespace context of stanzas seen without their stream.
var defaultHeader = &Header{
	Prefix:    "stream",
	ContentNS: NSClient,
	NS:        map[string]string{"stream": NSStreams},
}

func (r *Reader) restart() {
	r.err = nil
	r.header = nil
	r.started = false
	r.after = NextStanza
	r.phase = phaseProlog
	if r.fragment {
		r.phase = phaseStream
		r.header = r.fragCtx
	}
	r.resetScan()
	r.declOK = true
}

func (r *Reader) resetScan() {
	r.p = 0
	r.st = sTop
	r.depth = 0
	r.names = r.names[:0]
	r.bindings = r.bindings[:0]
	if r.nsIndexed {
		clear(r.nsIndex)
		r.nsIndexed, r.nsCollided = false, false
	}
	r.high = false
	r.highNames = false
	r.topHasNS = false
	r.declOK = false
	r.declLate = false
	r.viols = r.viols[:0]
	r.violsMore = 0
}

// Restart makes the reader expect a new stream header on the same byte source, keeping
// anything already buffered (after SASL success). Whitespace and an XML declaration may
// precede the header, as Prosody and ejabberd accept (go-sendxmpp sends
// "\n<?xml version='1.0'?>\n<stream:stream ...>").
//
// Without Restart, a stream header where a stanza could start is a restart when the
// stanza before it may be followed by one (After: SASL success, STARTTLS proceed, and for
// one direction of a transcript the client's auth, response and starttls), and before
// any stanza of a fragment reader; elsewhere it is a bad-format violation.
func (r *Reader) Restart() {
	r.restart()
	r.restarted = true
}

// Reset makes the reader expect a new stream header read from src, discarding buffered
// bytes (after STARTTLS, src being the TLS connection). As after Restart, whitespace and
// an XML declaration may precede the header.
func (r *Reader) Reset(src io.Reader) {
	r.src = src
	r.srcErr = nil
	r.base += int64(r.w)
	r.r, r.w = 0, 0
	r.restart()
	r.restarted = true
}

// restartable reports whether a new stream may start where a stanza could.
func (r *Reader) restartable() bool {
	return r.after.NewStream() || (r.fragment && !r.started)
}

// Header returns the stream header in force, or nil before one was read.
func (r *Reader) Header() *Header { return r.header }

// Offset returns the number of bytes consumed by the events returned so far.
func (r *Reader) Offset() int64 { return r.base + int64(r.r) }

// Buffered returns the number of bytes read from the source but not yet returned in events.
func (r *Reader) Buffered() int { return r.w - r.r }

// ReleaseBuffer drops the reader's buffer when it holds no unread bytes, so that a
// connection that waits for its peer holds none (4 KiB, a third of what an idle session of
// the switch costs); the next read allocates one again. The Raw of the events returned
// before must not be used after it. It reports whether there was a buffer to drop.
func (r *Reader) ReleaseBuffer() bool {
	if r.buf == nil || r.r != r.w || r.p != 0 {
		return false
	}
	r.base += int64(r.r)
	r.buf, r.r, r.w = nil, 0, 0
	return true
}

// SpaceBuffered reports whether the next event is whitespace between stanzas that is
// already buffered whole: the unread bytes are whitespace up to a '<' or to their end, so
// that Next returns it without reading the source. A pipe that must wait for the other
// direction before reading on (the proxy after a client's <auth/>) forwards such
// whitespace first, in the order it came.
func (r *Reader) SpaceBuffered() bool {
	if r.err != nil || r.phase != phaseStream || r.st != sTop || r.p != 0 || r.r == r.w {
		return false
	}
	b := r.buf[r.r:r.w]
	i := 0
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i > 0 && (i == len(b) || b[i] == '<')
}

// Next returns the next event. At the end of the stream (after </stream:stream>, or at EOF
// between stanzas) it returns io.EOF. A violation returns a *StreamError; EOF inside a
// stanza or header returns an error wrapping io.ErrUnexpectedEOF. After an error Next
// returns the same error again. Event.Raw is valid only until the next call.
func (r *Reader) Next() (ev Event, err error) {
	if r.err != nil {
		return Event{}, r.err
	}
	if r.phase == phaseDone {
		return Event{}, io.EOF
	}
	for {
		// The event is built once, in place, by emit at the end of the calls that
		// complete it, rather than returned up through them.
		ok, err := r.scan(&ev)
		if err != nil {
			r.err = err
			return Event{}, err
		}
		if ok {
			return ev, nil
		}
		// Whitespace between stanzas is handed out before blocking for more, so a
		// keep-alive is seen when it arrives, not with the next stanza.
		if r.st == sTop && r.p > 0 && r.phase == phaseStream {
			r.emit(&ev, KindWhitespace, r.p, "", "")
			return ev, nil
		}
		if r.w-r.r > r.lim.MaxStanza {
			r.err = r.errorAt(r.p, CondPolicyViolation,
				fmt.Sprintf("stanza larger than the limit of %d bytes", r.lim.MaxStanza))
			return Event{}, r.err
		}
		if err := r.fill(); err != nil {
			r.err = err
			return Event{}, err
		}
	}
}

// fill reads more bytes from src, making room first. It returns io.EOF when the stream ends
// cleanly between events.
func (r *Reader) fill() error {
	if r.srcErr != nil {
		return r.endError()
	}
	if r.w == len(r.buf) {
		r.makeRoom()
	}
	n, err := r.src.Read(r.buf[r.w:])
	r.w += n
	if err != nil {
		r.srcErr = err
		if n == 0 {
			return r.endError()
		}
	}
	return nil
}

// FillFrom reads once from read, not from the Reader's source, into the Reader's buffer:
// the bytes it returns are the stream's next ones, as if the source had returned them. It
// is for a caller that waits for input outside Next with a deadline of its own (the
// proxy's quiet legs, which drop the buffer when nothing comes): read's error is returned,
// not kept, so that such a deadline does not end the stream. ok is false, and nothing is
// read, when the Reader holds no buffer (see ReleaseBuffer) or its source has failed.
func (r *Reader) FillFrom(read func(p []byte) (int, error)) (n int, err error, ok bool) {
	if r.buf == nil || r.srcErr != nil || r.err != nil {
		return 0, nil, false
	}
	if r.w == len(r.buf) {
		r.makeRoom()
	}
	n, err = read(r.buf[r.w:])
	r.w += n
	return n, err, true
}

// endError turns the source's error into what Next returns.
func (r *Reader) endError() error {
	if !errors.Is(r.srcErr, io.EOF) {
		return r.srcErr
	}
	if r.w == r.r && r.st == sTop && (r.phase == phaseStream || r.p == 0) {
		return io.EOF
	}
	return fmt.Errorf("inspect: stream ended inside a %s at offset %d: %w",
		r.what(), r.base+int64(r.r), io.ErrUnexpectedEOF)
}

func (r *Reader) what() string {
	if r.phase == phaseProlog {
		return "stream header"
	}
	return "stanza"
}

// makeRoom compacts the buffer or grows it, never beyond one stanza plus one read.
func (r *Reader) makeRoom() {
	pending := r.w - r.r
	if r.r > 0 && pending < len(r.buf)/2 {
		// Shrink a buffer that grew for a big stanza once it is no longer needed.
		if len(r.buf) > 4*readChunk && pending < initialBuffer {
			nb := make([]byte, initialBuffer)
			copy(nb, r.buf[r.r:r.w])
			r.buf = nb
		} else {
			copy(r.buf, r.buf[r.r:r.w])
		}
		r.base += int64(r.r)
		r.r, r.w = 0, pending
		return
	}
	size := 2 * len(r.buf)
	if size == 0 {
		size = initialBuffer
	}
	if size > r.lim.MaxStanza+readChunk {
		size = r.lim.MaxStanza + readChunk
	}
	if size <= pending {
		size = pending + initialBuffer
	}
	nb := make([]byte, size)
	copy(nb, r.buf[r.r:r.w])
	r.base += int64(r.r)
	r.buf = nb
	r.r, r.w = 0, pending
}

// emit makes *ev the event of the first n bytes at r and consumes them.
func (r *Reader) emit(ev *Event, kind Kind, n int, name, ns string) {
	raw := r.buf[r.r : r.r+n : r.r+n]
	off := r.base + int64(r.r)
	var viols []Violation
	if len(r.viols) > 0 {
		if r.violsMore > 0 {
			last := r.viols[len(r.viols)-1]
			last.Text = fmt.Sprintf("and %d more violations in this %s, not listed", r.violsMore, kind)
			r.viols = append(r.viols, last)
		}
		viols = r.viols[:len(r.viols):len(r.viols)]
	}
	// IndexByte first: it is vectorised and most stanzas hold no newline, while
	// LastIndexByte walks every byte (a tenth of BenchmarkFrame's time).
	if bytes.IndexByte(raw, '\n') >= 0 {
		r.lines += int64(bytes.Count(raw, nl))
		r.lineStart = off + int64(bytes.LastIndexByte(raw, '\n')) + 1
	}
	r.r += n
	r.resetScan()
	switch kind {
	case KindStanza:
		r.after = After(name, ns)
		r.started = true
	case KindStreamOpen:
		r.after = NextStanza
		r.started = true
		r.restarted = false
	}
	*ev = Event{Kind: kind, Offset: off, Raw: raw, Name: name, NS: ns, Header: r.header, Violations: viols}
}

var nl = []byte{'\n'}

// errorAt builds a StreamError for the byte at offset i of the current event.
func (r *Reader) errorAt(i int, cond Cond, text string) *StreamError {
	if i > r.w-r.r {
		i = r.w - r.r
	}
	off := r.base + int64(r.r+i)
	pending := r.buf[r.r : r.r+i]
	line := r.lines + int64(bytes.Count(pending, nl)) + 1
	start := r.lineStart
	if j := bytes.LastIndexByte(pending, '\n'); j >= 0 {
		start = r.base + int64(r.r+j) + 1
	}
	return &StreamError{Condition: cond, Text: text, Offset: off, Line: int(line), Col: int(off-start) + 1}
}
