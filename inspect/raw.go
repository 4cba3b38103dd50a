package inspect

import (
	"fmt"
	"io"
)

// Raw writes the bytes of stream records exactly as they travelled and nothing else:
// stream headers, stanzas, whitespace and closing tags. Connection notes, errors and gaps
// have no bytes and are skipped, so a one-direction raw dump reads back as a stream.
// It writes what it gets: redaction is a stage of the sink chain before it (NewRedactor).
type Raw struct{ w io.Writer }

// NewRaw returns a raw printer writing to w.
func NewRaw(w io.Writer) *Raw { return &Raw{w: w} }

// Flush does nothing: Raw writes each record as it comes.
func (p *Raw) Flush() error { return nil }

// Write writes r.Raw.
func (p *Raw) Write(r *Record) error {
	switch r.Kind {
	case KindStreamOpen, KindStanza, KindWhitespace, KindStreamClose:
	default:
		return nil
	}
	if _, err := p.w.Write(r.Raw); err != nil {
		return fmt.Errorf("raw printer: %w", err)
	}
	return nil
}
