package inspect

import "io"

// Limits bound what a peer can make the reader hold.
type Limits struct {
	MaxStanza int // largest stanza (and stream header) in bytes; default 256 KiB
	MaxDepth  int // deepest element nesting inside a stanza; default 64
}

// DefaultLimits are used for zero fields of Limits.
var DefaultLimits = Limits{MaxStanza: 256 << 10, MaxDepth: 64}

// Reader frames an XMPP stream into events: stream open, stanzas, whitespace, stream close.
type Reader struct{}

// NewReader returns a reader of the stream in src. It expects a stream header first
// (optionally preceded by an XML declaration).
func NewReader(src io.Reader, lim Limits) *Reader { panic("TODO") }

// NewFragmentReader returns a reader of stanzas with no stream header around them (a file of
// stanzas, a rule's template), using ctx as the namespace context (nil: jabber:client).
func NewFragmentReader(src io.Reader, ctx *Header, lim Limits) *Reader { panic("TODO") }

// Next returns the next event. At the end of the stream (after </stream:stream>, or at EOF
// between stanzas) it returns io.EOF. A violation returns a *StreamError; EOF inside a
// stanza or header returns an error wrapping io.ErrUnexpectedEOF. After an error Next
// returns the same error again. Event.Raw is valid only until the next call.
func (r *Reader) Next() (Event, error) { panic("TODO") }

// Restart makes the reader expect a new stream header on the same byte source, keeping
// anything already buffered (after SASL success).
func (r *Reader) Restart() { panic("TODO") }

// Reset makes the reader expect a new stream header read from src, discarding buffered
// bytes (after STARTTLS, src being the TLS connection).
func (r *Reader) Reset(src io.Reader) { panic("TODO") }

// Header returns the stream header in force, or nil before one was read.
func (r *Reader) Header() *Header { panic("TODO") }

// Offset returns the number of bytes consumed by the events returned so far.
func (r *Reader) Offset() int64 { panic("TODO") }

// Buffered returns the number of bytes read from the source but not yet returned in events.
func (r *Reader) Buffered() int { panic("TODO") }

// ParseElement parses one element (a stanza's raw bytes) into a tree, resolving namespaces
// with ctx (the stream header in force; nil means jabber:client with the stream prefix).
func ParseElement(raw []byte, ctx *Header) (*Element, error) { panic("TODO") }

// ParseFragment parses text holding exactly one element, with the same checks as a stream.
func ParseFragment(text string) (*Element, error) { panic("TODO") }

// TopAttr returns the value of the unprefixed attribute local on the top-level start tag of
// raw (unescaped), or "" when absent. It does not build a tree.
func TopAttr(raw []byte, local string) string { panic("TODO") }
