package inspect

import (
	"errors"
	"fmt"
)

// Violation is a breach of RFC 6120 that a reader in annotate mode (Limits.Annotate)
// framed past: the stream error a server would send, where the rule is written, and where
// the offending byte is. Its fields are those of StreamError, which converts to it.
type Violation struct {
	Condition Cond   `json:"condition"`
	Text      string `json:"text"`
	Section   string `json:"section,omitempty"`
	Offset    int64  `json:"offset"`
	Line      int    `json:"line"`
	Col       int    `json:"col"`
}

// String describes v for a person, as StreamError.Error does.
func (v Violation) String() string {
	se := StreamError(v)
	return se.Error()
}

// StreamError is a stream error: a violation the reader found in a stream, or one a
// server or the proxy decided on (NewStreamError). Condition is the RFC 6120 stream error
// condition to send to the peer; Text explains it for a person. It is the one stream-error
// type of stanzascope: the reader, the switch and the proxy all end streams with it, and
// AppendXML is its one writer.
type StreamError struct {
	Condition Cond
	Text      string
	Section   string // where the rule is written ("RFC 6120 §11.1"), when the reader knows
	Offset    int64  // byte offset from the start of the connection
	Line      int    // 1-based position of the offending byte; 0 when not found in a stream
	Col       int
}

// NewStreamError returns a stream error decided by its caller rather than found in the
// bytes: it has no position.
func NewStreamError(cond Cond, text string) *StreamError {
	return &StreamError{Condition: cond, Text: text}
}

// Error describes e for a log: the condition, where it was found, and the text.
func (e *StreamError) Error() string {
	if e.Line == 0 {
		if e.Text == "" {
			return string(e.Condition)
		}
		return string(e.Condition) + ": " + e.Text
	}
	if e.Section != "" {
		return fmt.Sprintf("%s at line %d, column %d (offset %d): %s (%s)", e.Condition, e.Line, e.Col, e.Offset, e.Text, e.Section)
	}
	return fmt.Sprintf("%s at line %d, column %d (offset %d): %s", e.Condition, e.Line, e.Col, e.Offset, e.Text)
}

// AsStreamError returns the *StreamError in err's chain, or nil.
func AsStreamError(err error) *StreamError {
	var se *StreamError
	if errors.As(err, &se) {
		return se
	}
	return nil
}

// AppendXML appends the stream error element, <stream:error> with the condition and the
// text, written with the prefix that the stream it ends bound to the streams namespace
// (Header.Prefix of the stream header sent on it).
func (e *StreamError) AppendXML(b []byte, prefix string) []byte {
	return AppendStreamError(b, prefix, e.Condition, e.Text)
}

// AppendStreamError appends <stream:error> with the condition cond and, when not empty, a
// text for a person (RFC 6120 section 4.9.2). prefix is the one that the stream's header
// bound to the streams namespace: "stream" as every known server writes it, another when a
// peer chose one, "" when the header made the streams namespace the default.
func AppendStreamError(b []byte, prefix string, cond Cond, text string) []byte {
	b = appendStreamsTag(b, prefix, "error", false)
	b = append(b, '<')
	b = append(b, cond...)
	b = append(b, " xmlns='"+NSStreamErrors+"'/>"...)
	if text != "" {
		b = append(b, "<text xmlns='"+NSStreamErrors+"'>"...)
		b = appendEscaped(b, text, false)
		b = append(b, "</text>"...)
	}
	return appendStreamsTag(b, prefix, "error", true)
}

// AppendStreamClose appends the closing tag of a stream whose header bound the streams
// namespace to prefix: </stream:stream> for the usual "stream".
func AppendStreamClose(b []byte, prefix string) []byte {
	return appendStreamsTag(b, prefix, "stream", true)
}

// appendStreamsTag appends the start or end tag of an element of the streams namespace.
// With the default prefix the start tag declares the namespace, since the stream's default
// namespace is then the streams one only on the header itself (a stanza's is the content
// namespace).
func appendStreamsTag(b []byte, prefix, local string, end bool) []byte {
	b = append(b, '<')
	if end {
		b = append(b, '/')
	}
	if prefix != "" {
		b = append(b, prefix...)
		b = append(b, ':')
	}
	b = append(b, local...)
	if prefix == "" && !end && local != "stream" {
		b = append(b, " xmlns='"+NSStreams+"'"...)
	}
	return append(b, '>')
}
