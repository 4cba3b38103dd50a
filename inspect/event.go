package inspect

import (
	"fmt"
	"slices"
)

// Kind says what an Event or a Record carries.
type Kind uint8

// The kinds of stream events (produced by Reader) and of log records.
const (
	KindStreamOpen  Kind = iota + 1 // a stream header <stream:stream ...>
	KindStanza                      // one top-level element: message, presence, iq, features, SASL...
	KindWhitespace                  // whitespace between stanzas (keep-alives)
	KindStreamClose                 // </stream:stream>
	KindError                       // a stream-level error found by the reader (Record.Err)
	KindConnOpen                    // a connection was accepted or found (records only)
	KindConnClose                   // a connection ended (records only)
	KindNote                        // a milestone or message about a connection (records only)
	KindGap                         // bytes missing from a capture (records only)
)

var kindNames = [...]string{
	KindStreamOpen:  "open",
	KindStanza:      "stanza",
	KindWhitespace:  "whitespace",
	KindStreamClose: "close",
	KindError:       "error",
	KindConnOpen:    "conn-open",
	KindConnClose:   "conn-close",
	KindNote:        "note",
	KindGap:         "gap",
}

// String returns the short name used in JSON logs ("open", "stanza", ...).
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// ParseKind is the inverse of Kind.String.
func ParseKind(s string) (Kind, bool) {
	for k, n := range kindNames {
		if n != "" && n == s {
			return Kind(k), true
		}
	}
	return 0, false
}

// Direction says which way bytes travelled.
type Direction uint8

// Directions. DirNone is for records that belong to no direction (connection notes).
const (
	DirNone Direction = iota
	ClientToServer
	ServerToClient
)

// String returns "c2s", "s2c" or "".
func (d Direction) String() string {
	switch d {
	case ClientToServer:
		return "c2s"
	case ServerToClient:
		return "s2c"
	}
	return ""
}

// Reverse returns the other direction.
func (d Direction) Reverse() Direction {
	switch d {
	case ClientToServer:
		return ServerToClient
	case ServerToClient:
		return ClientToServer
	}
	return DirNone
}

// ParseDirection accepts c2s/s2c and the long forms client-to-server/server-to-client.
func ParseDirection(s string) (Direction, bool) {
	switch s {
	case "c2s", "client-to-server", "in":
		return ClientToServer, true
	case "s2c", "server-to-client", "out":
		return ServerToClient, true
	case "", "none":
		return DirNone, true
	}
	return DirNone, false
}

// Event is one item read from a stream by Reader.Next.
//
// Raw is a view into the reader's buffer and is valid only until the next call to Next;
// call Stanza (which copies) to keep it.
type Event struct {
	Kind   Kind
	Offset int64  // byte offset of Raw[0] from the start of the connection
	Raw    []byte // the exact bytes of the event
	Name   string // local name of the top-level element ("message", "features", "stream")
	NS     string // its resolved namespace
	Header *Header
	// Violations are the breaches of RFC 6120 found in Raw by a reader in annotate mode
	// (Limits.Annotate), in the order found; nil in enforce mode. Like Raw, valid only
	// until the next call to Next.
	Violations []Violation

	top    [numTopAttrs]span // where the Reader found id, type, from and to in Raw (a stanza's)
	topSet bool              // top was noted (an Event made elsewhere has no note)
}

// Record returns a Record that owns a copy of the event's bytes.
func (e Event) Record() *Record {
	r := &Record{Kind: e.Kind, Name: e.Name, NS: e.NS, Header: e.Header}
	r.Raw = append([]byte(nil), e.Raw...)
	if e.topSet && len(r.Raw) > 0 {
		r.top = topNote{base: &r.Raw[0], n: len(r.Raw), v: e.top}
	}
	if len(e.Violations) > 0 {
		r.extra = &recordExtra{violations: slices.Clone(e.Violations)}
	}
	return r
}

// TopAttrRaw is Record.TopAttrRaw for the event, valid as Raw is: the value as written
// (entities not expanded; a view on Raw) of the top-level attribute i (TopID, TopType,
// TopFrom, TopTo) of a stanza, from where the Reader found it while framing; present says
// whether the stanza has it; known is false when the Reader noted nothing (scan Raw then,
// TopAttr). A router reads the addressing of a stanza without scanning it again or
// making a string of it.
func (e *Event) TopAttrRaw(i int) (value []byte, present, known bool) {
	if !e.topSet || i < 0 || i >= numTopAttrs {
		return nil, false, false
	}
	s := e.top[i]
	if s.end == 0 {
		return nil, false, true
	}
	return e.Raw[s.start:s.end], true, true
}

// Attr is Record.Attr for the event's stanza: a top-level attribute, unescaped, from
// where the Reader noted it, else scanned.
func (e *Event) Attr(local string) string {
	v, present, known := e.TopAttrRaw(TopAttrIndex(local))
	return notedAttr(e.Raw, local, v, present, known)
}

// Header is a parsed stream header (<stream:stream ...>).
type Header struct {
	Prefix    string            // prefix bound to the streams namespace ("stream", or "" when default)
	ContentNS string            // default namespace of stanzas (jabber:client, jabber:server, ...)
	To        string            // the to attribute
	From      string            // the from attribute
	ID        string            // the id attribute
	Version   string            // "" for a pre-1.0 (legacy) stream, "1.0" otherwise
	Lang      string            // xml:lang
	NS        map[string]string // prefix -> namespace declared on the header (excluding the default)
	Attrs     []Attr            // every attribute in order, declarations included
}

// Legacy reports whether the stream is pre-XMPP-1.0 (no version attribute).
func (h *Header) Legacy() bool { return h == nil || h.Version == "" }

// Namespaces used everywhere.
const (
	NSStreams      = "http://etherx.jabber.org/streams"
	NSClient       = "jabber:client"
	NSServer       = "jabber:server"
	NSXML          = "http://www.w3.org/XML/1998/namespace"
	NSXMLNS        = "http://www.w3.org/2000/xmlns/" // bound to the prefix xmlns; never declared
	NSStanzas      = "urn:ietf:params:xml:ns:xmpp-stanzas"
	NSStreamErrors = "urn:ietf:params:xml:ns:xmpp-streams"
	NSTLS          = "urn:ietf:params:xml:ns:xmpp-tls"
	NSSASL         = "urn:ietf:params:xml:ns:xmpp-sasl"
	NSBind         = "urn:ietf:params:xml:ns:xmpp-bind"
	NSSession      = "urn:ietf:params:xml:ns:xmpp-session"
)
