package inspect

// JID is an XMPP address (RFC 7622): [localpart@]domainpart[/resourcepart].
// The zero JID is invalid. JIDs from ParseJID are normalised and comparable with ==.
type JID struct {
	Local, Domain, Resource string
}

// ParseJID parses and normalises s per RFC 7622 (localpart: UsernameCaseMapped, domain:
// lower case / IDNA, resource: OpaqueString). The error says which part is wrong and why.
func ParseJID(s string) (JID, error) { panic("TODO") }

// MustJID is ParseJID for constants in tests and code; it panics on error.
func MustJID(s string) JID { panic("TODO") }

// Bare returns j without its resource.
func (j JID) Bare() JID { return JID{Local: j.Local, Domain: j.Domain} }

// IsBare reports whether j has no resource.
func (j JID) IsBare() bool { return j.Resource == "" }

// IsZero reports whether j is the zero JID.
func (j JID) IsZero() bool { return j == JID{} }

// WithResource returns j with the resource replaced.
func (j JID) WithResource(res string) JID { j.Resource = res; return j }

// String returns the JID as text: local@domain/resource.
func (j JID) String() string {
	s := j.Domain
	if j.Local != "" {
		s = j.Local + "@" + s
	}
	if j.Resource != "" {
		s += "/" + j.Resource
	}
	return s
}
