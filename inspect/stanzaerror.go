package inspect

import "strconv"

// StanzaError is an RFC 6120 section 8.3 stanza error: the one builder of error replies
// for the switch and the rules' reject action.
type StanzaError struct {
	Type      ErrorType // "": the type RFC 6120 gives the condition (Cond.DefaultType)
	Condition Cond
	Text      string // for a person; "" for none
}

// NewStanzaError returns the stanza error cond with the type RFC 6120 says it SHOULD carry.
func NewStanzaError(cond Cond) StanzaError {
	t, _ := cond.DefaultType()
	return StanzaError{Type: t, Condition: cond}
}

// Error describes e for a log. A StanzaError is an error so that a function deep in a
// handler can return it for its caller to send (find it with errors.As).
func (e StanzaError) Error() string {
	if e.Text == "" {
		return "stanza error " + string(e.Condition)
	}
	return "stanza error " + string(e.Condition) + ": " + e.Text
}

// WithText returns e with a text for a person.
func (e StanzaError) WithText(s string) StanzaError { e.Text = s; return e }

// AppendXML appends the <error/> element, in the stream's content namespace (it declares
// none): its legacy code (XEP-0086) for old clients, its type, the condition and the text.
func (e StanzaError) AppendXML(dst []byte) []byte {
	typ := e.Type
	if typ == "" {
		typ, _ = e.Condition.DefaultType()
	}
	if typ == "" {
		typ = ErrorCancel
	}
	dst = append(dst, "<error"...)
	if code := e.Condition.LegacyCode(); code != 0 {
		dst = append(dst, " code='"...)
		dst = strconv.AppendInt(dst, int64(code), 10)
		dst = append(dst, '\'')
	}
	dst = appendAttr(dst, "type", string(typ))
	dst = append(dst, "><"...)
	dst = append(dst, e.Condition...)
	dst = append(dst, " xmlns='"+NSStanzas+"'/>"...)
	if e.Text != "" {
		dst = append(dst, "<text xmlns='"+NSStanzas+"'>"...)
		dst = appendEscaped(dst, e.Text, true)
		dst = append(dst, "</text>"...)
	}
	return append(dst, "</error>"...)
}

// AppendErrorReply appends an error reply (RFC 6120 section 8.3.1): an element name
// (message, presence, iq) of type error with the id and addresses given (attributes with
// an empty value are left out), echo (the original payload, which may be nil) and the
// error. The reply to a stanza carries its id, with its from as to and its to as from.
func AppendErrorReply(dst []byte, name, id, from, to string, echo []byte, e StanzaError) []byte {
	dst = append(dst, '<')
	dst = append(dst, name...)
	if id != "" {
		dst = appendAttr(dst, "id", id)
	}
	dst = appendAttr(dst, "type", "error")
	if from != "" {
		dst = appendAttr(dst, "from", from)
	}
	if to != "" {
		dst = appendAttr(dst, "to", to)
	}
	dst = append(dst, '>')
	dst = append(dst, echo...)
	dst = e.AppendXML(dst)
	dst = append(dst, "</"...)
	dst = append(dst, name...)
	return append(dst, '>')
}
