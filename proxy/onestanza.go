package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/stanzascope/stanzascope/inspect"
)

// checkStanza checks that raw is exactly one well-formed stanza (message, presence or iq,
// in the content namespace of the stream whose header h is in force), as the proxy's
// reader would frame it from that stream under RFC 6120's restricted XML: an edit of a held
// stanza and a stanza sent by a controller. Whitespace around it is not allowed, so that
// what is checked is byte for byte what is written. Its errors wrap ErrInvalid and carry
// the reader's own message (with line and column).
func checkStanza(raw []byte, h *inspect.Header) error {
	if len(raw) == 0 {
		return fmt.Errorf("empty stanza: %w", ErrInvalid)
	}
	if len(raw) > inspect.DefaultLimits.MaxStanza {
		return fmt.Errorf("stanza of %d bytes, more than %d: %w", len(raw), inspect.DefaultLimits.MaxStanza, ErrInvalid)
	}
	ns, prefix := inspect.NSClient, ownPrefix
	if h != nil && h.ContentNS != "" {
		ns = h.ContentNS
	}
	var b bytes.Buffer
	b.WriteString("<" + prefix + ":stream xmlns='")
	b.WriteString(inspect.EscapeAttr(ns))
	b.WriteString("' xmlns:" + prefix + "='" + inspect.NSStreams + "' version='1.0'>")
	hdrLen := b.Len()
	b.Write(raw)
	r := inspect.NewReader(&b, inspect.Limits{})
	if _, err := r.Next(); err != nil {
		return fmt.Errorf("internal header: %v: %w", err, ErrInvalid)
	}
	ev, err := r.Next()
	if err != nil {
		return fmt.Errorf("not a well-formed stanza: %v: %w", readerErr(err, hdrLen), ErrInvalid)
	}
	if ev.Kind != inspect.KindStanza || ev.Offset != int64(hdrLen) {
		return fmt.Errorf("not a stanza: it starts with %s, give one <message/>, <presence/> or <iq/>: %w", describe(ev), ErrInvalid)
	}
	if ev.Name != "message" && ev.Name != "presence" && ev.Name != "iq" || ev.NS != ns {
		return fmt.Errorf("<%s xmlns='%s'> is not a stanza of this stream: give one <message/>, <presence/> or <iq/> in %s: %w", ev.Name, ev.NS, ns, ErrInvalid)
	}
	end := int64(hdrLen) + int64(len(ev.Raw))
	if end != int64(hdrLen+len(raw)) {
		rest, err := r.Next()
		if err != nil {
			return fmt.Errorf("after the stanza: %v: %w", readerErr(err, hdrLen), ErrInvalid)
		}
		return fmt.Errorf("more than one stanza: %s follows it: %w", describe(rest), ErrInvalid)
	}
	return nil
}

// readerErr words a reader error about a fragment, its offset counted from the fragment.
func readerErr(err error, hdrLen int) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("it ends before the element is closed")
	}
	if se := inspect.AsStreamError(err); se != nil {
		return fmt.Errorf("%s at offset %d: %s", se.Condition, se.Offset-int64(hdrLen), se.Text)
	}
	return err
}

func describe(ev inspect.Event) string {
	switch ev.Kind {
	case inspect.KindWhitespace:
		return "whitespace"
	case inspect.KindStreamOpen:
		return "a stream header"
	case inspect.KindStreamClose:
		return "a closing stream tag"
	}
	return "<" + ev.Name + "/>"
}
