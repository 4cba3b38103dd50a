package server

import (
	"github.com/stanzascope/stanzascope/inspect"
)

// appendAttr appends " name='value'" with value escaped; an empty value appends nothing.
func appendAttr(dst []byte, name, value string) []byte {
	if value == "" {
		return dst
	}
	dst = append(dst, ' ')
	dst = append(dst, name...)
	dst = append(dst, "='"...)
	dst = appendEscaped(dst, value)
	return append(dst, '\'')
}

// appendEscaped appends s escaped for text or a single-quoted attribute. The common case
// (nothing to escape) costs no allocation; anything else goes through inspect.EscapeAttr,
// which also replaces characters XML cannot carry.
func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20, c >= 0x80, c == '<', c == '>', c == '&', c == '\'', c == '"':
			return append(dst, inspect.EscapeAttr(s)...)
		}
	}
	return append(dst, s...)
}

// appendText appends s escaped as character data. Apostrophes and quotes are escaped as
// well, as the textbook session shows (&apos;): harmless, and what old clients expect.
func appendText(dst []byte, s string) []byte {
	return appendEscaped(dst, s)
}

// appendOpen appends "<name a='v' ...>" (or "/>" when empty is true); attrs are name/value
// pairs, and pairs with an empty value are left out.
func appendOpen(dst []byte, name string, empty bool, attrs ...string) []byte {
	dst = append(dst, '<')
	dst = append(dst, name...)
	for i := 0; i+1 < len(attrs); i += 2 {
		dst = appendAttr(dst, attrs[i], attrs[i+1])
	}
	if empty {
		return append(dst, "/>"...)
	}
	return append(dst, '>')
}

func appendClose(dst []byte, name string) []byte {
	dst = append(dst, "</"...)
	dst = append(dst, name...)
	return append(dst, '>')
}

// appendElem appends e serialised in the jabber:client context, or nothing for nil.
func appendElem(dst []byte, e *inspect.Element) []byte {
	if e == nil {
		return dst
	}
	return e.AppendXML(dst, inspect.NSClient)
}

// iqResult builds <iq id=.. type='result' from=.. to=..> with payload (nil: empty iq).
func iqResult(id, from, to string, payload []byte) []byte {
	b := make([]byte, 0, 64+len(payload))
	b = appendOpen(b, "iq", len(payload) == 0, "id", id, "type", "result", "from", from, "to", to)
	if len(payload) == 0 {
		return b
	}
	b = append(b, payload...)
	return appendClose(b, "iq")
}

// stanzaError is the one stanza-error type, inspect.StanzaError.
type stanzaError = inspect.StanzaError

// Stanza errors the switch uses. The type is RFC 6120's for each condition except where
// the switch knows better (an unreachable database is worth retrying: wait).
var (
	errServiceUnavailable = inspect.NewStanzaError(inspect.CondServiceUnavailable)
	errNotAuthorized      = inspect.NewStanzaError(inspect.CondNotAuthorized)
	errNotAcceptable      = inspect.NewStanzaError(inspect.CondNotAcceptable)
	errBadRequest         = inspect.NewStanzaError(inspect.CondBadRequest)
	errItemNotFound       = inspect.NewStanzaError(inspect.CondItemNotFound)
	errNotAllowed         = inspect.NewStanzaError(inspect.CondNotAllowed)
	errConflict           = inspect.NewStanzaError(inspect.CondConflict)
	errJIDMalformed       = inspect.NewStanzaError(inspect.CondJIDMalformed)
	errInternal           = stanzaError{Type: inspect.ErrorWait, Condition: inspect.CondInternalServerError}
	errRemoteNotFound     = inspect.NewStanzaError(inspect.CondRemoteServerNotFound)
	errPolicyViolation    = inspect.NewStanzaError(inspect.CondPolicyViolation)
)

// errorStanza builds an error reply of kind name (iq, message, presence) with the given id,
// from and to, echoing echo (the original payload, may be nil) before the error element.
func errorStanza(name, id, from, to string, echo []byte, e stanzaError) []byte {
	return inspect.AppendErrorReply(make([]byte, 0, 160+len(echo)), name, id, from, to, echo, e)
}
