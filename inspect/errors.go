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

// StreamError is a violation found in a stream. Condition is the RFC 6120 stream error
// condition to send to the peer; Text explains it for a person.
type StreamError struct {
	Condition string
	Text      string
	Section   string // where the rule is written ("RFC 6120 §11.1"), when the reader knows
	Offset    int64  // byte offset from the start of the connection
	Line, Col int    // 1-based position of the offending byte
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
