package inspect

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/secure/precis"
)

// JID is an XMPP address (RFC 7622): [localpart@]domainpart[/resourcepart].
// The zero JID is invalid. JIDs from ParseJID are normalised and comparable with ==.
type JID struct {
	Local, Domain, Resource string
}

// ErrJID is wrapped by every error ParseJID returns.
var ErrJID = errors.New("invalid JID")

const maxJIDPart = 1023 // RFC 7622 §3: each part at most 1023 octets

// ParseJID parses and normalises s per RFC 7622 (localpart: UsernameCaseMapped, domain:
// lower case / IDNA, resource: OpaqueString). The error says which part is wrong and why.
func ParseJID(s string) (JID, error) {
	if j, ok := parseASCIIJID(s); ok {
		return j, nil
	}
	return parseJID(s)
}

// parseJID is ParseJID through the PRECIS and IDNA profiles, for any input.
func parseJID(s string) (JID, error) {
	if !utf8.ValidString(s) {
		return JID{}, jidError(s, "not valid UTF-8")
	}
	rest, res, hasRes := strings.Cut(s, "/")
	local, domain, hasLocal := strings.Cut(rest, "@")
	if !hasLocal {
		local, domain = "", rest
	}
	var j JID
	var err error
	if hasLocal {
		if local == "" {
			return JID{}, jidError(s, "empty localpart before '@'")
		}
		if j.Local, err = precis.UsernameCaseMapped.String(local); err != nil {
			return JID{}, jidError(s, fmt.Sprintf("localpart %q: %v", local, err))
		}
		if strings.ContainsAny(j.Local, "\"&'/:<>@") {
			return JID{}, jidError(s, fmt.Sprintf("localpart %q contains a character RFC 7622 forbids (\" & ' / : < > @)", local))
		}
		if len(j.Local) > maxJIDPart {
			return JID{}, jidError(s, "localpart longer than 1023 bytes")
		}
	}
	if j.Domain, err = normDomain(domain); err != nil {
		return JID{}, jidError(s, err.Error())
	}
	if hasRes {
		if res == "" {
			return JID{}, jidError(s, "empty resourcepart after '/'")
		}
		if j.Resource, err = precis.OpaqueString.String(res); err != nil {
			return JID{}, jidError(s, fmt.Sprintf("resourcepart %q: %v", res, err))
		}
		if len(j.Resource) > maxJIDPart {
			return JID{}, jidError(s, "resourcepart longer than 1023 bytes")
		}
	}
	return j, nil
}

func jidError(s, why string) error {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return fmt.Errorf("%w %q: %s", ErrJID, s, why)
}

// normDomain checks and normalises a domainpart: an IP literal or a DNS name (IDNA).
func normDomain(d string) (string, error) {
	d = strings.TrimSuffix(d, ".") // RFC 7622 §3.2: a trailing dot is removed
	if d == "" {
		return "", errors.New("empty domainpart")
	}
	if len(d) > maxJIDPart {
		return "", errors.New("domainpart longer than 1023 bytes")
	}
	if strings.HasPrefix(d, "[") && strings.HasSuffix(d, "]") {
		a, err := netip.ParseAddr(d[1 : len(d)-1])
		if err != nil || !a.Is6() {
			return "", fmt.Errorf("domainpart %q is not a valid IPv6 literal", d)
		}
		return "[" + a.String() + "]", nil
	}
	if a, err := netip.ParseAddr(d); err == nil && a.Is4() {
		return a.String(), nil
	}
	out, err := idna.Lookup.ToUnicode(d)
	if err != nil {
		return "", fmt.Errorf("domainpart %q: %v", d, err)
	}
	for _, label := range strings.Split(out, ".") {
		if label == "" {
			return "", fmt.Errorf("domainpart %q has an empty label", d)
		}
		if len(label) > 63 {
			return "", fmt.Errorf("domainpart %q has a label longer than 63 bytes", d)
		}
	}
	if strings.ContainsAny(out, " @/\"&'<>:") {
		return "", fmt.Errorf("domainpart %q contains a forbidden character", d)
	}
	return out, nil
}

// MustJID is ParseJID for constants in tests and code; it panics on error.
func MustJID(s string) JID {
	j, err := ParseJID(s)
	if err != nil {
		panic(err)
	}
	return j
}

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

// parseASCIIJID handles the JIDs that make up nearly all traffic (routing parses one per
// stanza) without the PRECIS and IDNA machinery: plain ASCII that the profiles would leave
// exactly as it is. Anything else, IP literals included, reports ok=false and takes the
// full path; FuzzJIDFastPath checks the two agree.
func parseASCIIJID(s string) (JID, bool) {
	rest, res, hasRes := strings.Cut(s, "/")
	local, domain, hasLocal := strings.Cut(rest, "@")
	if !hasLocal {
		local, domain = "", rest
	}
	if hasLocal && !plainLocal(local) || !plainDomain(domain) || hasRes && !plainResource(res) {
		return JID{}, false
	}
	return JID{Local: local, Domain: domain, Resource: res}, true
}

// plainLocal: non-empty, short, printable ASCII without upper case or the characters RFC
// 7622 forbids, so UsernameCaseMapped leaves it unchanged.
func plainLocal(s string) bool {
	if s == "" || len(s) > maxJIDPart {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c >= 'A' && c <= 'Z' || strings.IndexByte("\"&'/:<>@", c) >= 0 {
			return false
		}
	}
	return true
}

// plainDomain: lower-case LDH labels of 1 to 63 bytes, no leading or trailing hyphen, no
// "--" (A-labels and what IDNA reserves), not all digits (IPv4 literals take the full path), no trailing dot.
func plainDomain(s string) bool {
	if s == "" || len(s) > maxJIDPart {
		return false
	}
	letter := false
	// Label by label with Cut, not Split: routing parses a JID per stanza, and Split
	// allocates the slice of labels.
	for rest, more := s, true; more; {
		var label string
		label, rest, more = strings.Cut(rest, ".")
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' || strings.Contains(label, "--") {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			switch {
			case c >= 'a' && c <= 'z':
				letter = true
			case c >= '0' && c <= '9', c == '-':
			default:
				return false
			}
		}
	}
	return letter
}

// plainResource: non-empty, short, printable ASCII without spaces, which OpaqueString
// leaves unchanged.
func plainResource(s string) bool {
	if s == "" || len(s) > maxJIDPart {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
