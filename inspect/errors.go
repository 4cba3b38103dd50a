package inspect

import (
	"errors"
	"fmt"
)

// Stream error conditions (RFC 6120 section 4.9.3) that the reader reports.
const (
	CondNotWellFormed       = "not-well-formed"
	CondRestrictedXML       = "restricted-xml"
	CondPolicyViolation     = "policy-violation"
	CondInvalidNamespace    = "invalid-namespace"
	CondBadFormat           = "bad-format"
	CondUnsupportedEncoding = "unsupported-encoding"
)

// Violation is a breach of RFC 6120 that a reader in annotate mode (Limits.Annotate)
// framed past: the stream error a server would send, where the rule is written, and where
// the offending byte is. Its fields are those of StreamError, which converts to it.
type Violation struct {
	Condition string `json:"condition"`
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

// StreamError is a violation found in a stream. Condition is the RFC 6120 stream error
// condition to send to the peer; Text explains it for a person.
type StreamError struct {
	Condition string
	Text      string
	Section   string // where the rule is written ("RFC 6120 §11.1"), when the reader knows
	Offset    int64  // byte offset from the start of the connection
	Line      int    // 1-based position of the offending byte
	Col       int
}

func (e *StreamError) Error() string {
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
