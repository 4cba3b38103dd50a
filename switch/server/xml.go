package server

import (
	"strconv"

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

// stanzaError is an RFC 6120 section 8.3 stanza error.
type stanzaError struct {
	Type      string // cancel, continue, modify, auth, wait
	Condition string
	Text      string
}

// Stanza errors the switch uses, with the legacy codes of XEP-0086 for old clients.
var (
	errServiceUnavailable = stanzaError{"cancel", "service-unavailable", ""}
	errNotAuthorized      = stanzaError{"auth", "not-authorized", ""}
	errNotAcceptable      = stanzaError{"modify", "not-acceptable", ""}
	errBadRequest         = stanzaError{"modify", "bad-request", ""}
	errItemNotFound       = stanzaError{"cancel", "item-not-found", ""}
	errNotAllowed         = stanzaError{"cancel", "not-allowed", ""}
	errConflict           = stanzaError{"cancel", "conflict", ""}
	errJIDMalformed       = stanzaError{"modify", "jid-malformed", ""}
	errInternal           = stanzaError{"wait", "internal-server-error", ""}
	errRemoteNotFound     = stanzaError{"cancel", "remote-server-not-found", ""}
	errPolicyViolation    = stanzaError{"modify", "policy-violation", ""}
)

var legacyCodes = map[string]int{
	"bad-request": 400, "jid-malformed": 400, "not-authorized": 401, "forbidden": 403,
	"item-not-found": 404, "remote-server-not-found": 404, "recipient-unavailable": 404,
	"not-allowed": 405, "not-acceptable": 406, "conflict": 409, "internal-server-error": 500,
	"resource-constraint": 500, "feature-not-implemented": 501, "service-unavailable": 503,
}

// withText returns e with a human-readable text.
func (e stanzaError) withText(s string) stanzaError { e.Text = s; return e }

// appendError appends <error code=.. type=..><cond/><text/></error>.
func (e stanzaError) append(dst []byte) []byte {
	code := ""
	if c, ok := legacyCodes[e.Condition]; ok {
		code = strconv.Itoa(c)
	}
	dst = appendOpen(dst, "error", false, "code", code, "type", e.Type)
	dst = append(dst, '<')
	dst = append(dst, e.Condition...)
	dst = append(dst, " xmlns='"+inspect.NSStanzas+"'/>"...)
	if e.Text != "" {
		dst = append(dst, "<text xmlns='"+inspect.NSStanzas+"'>"...)
		dst = appendText(dst, e.Text)
		dst = append(dst, "</text>"...)
	}
	return append(dst, "</error>"...)
}

// errorStanza builds an error reply of kind name (iq, message, presence) with the given id,
// from and to, echoing echo (the original payload, may be nil) before the error element.
func errorStanza(name, id, from, to string, echo []byte, e stanzaError) []byte {
	b := make([]byte, 0, 160+len(echo))
	b = appendOpen(b, name, false, "id", id, "type", "error", "from", from, "to", to)
	b = append(b, echo...)
	b = e.append(b)
	return appendClose(b, name)
}
