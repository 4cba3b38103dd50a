package scram

import "errors"

// Errors returned by Server.Step and ParsePlain. Each maps to one SASL failure condition of
// RFC 6120 section 6.5; Condition gives the element name to send in <failure/>.
var (
	// ErrNotAuthorized means the credentials were wrong or the user is unknown. The two
	// cases are deliberately indistinguishable to the client.
	ErrNotAuthorized = errors.New("scram: not authorized")
	// ErrMalformed means the client's message broke the SCRAM or PLAIN grammar.
	ErrMalformed = errors.New("scram: malformed request")
	// ErrInvalidMechanism means the mechanism name is not one this package serves.
	ErrInvalidMechanism = errors.New("scram: invalid mechanism")
	// ErrIncorrectEncoding means a base64 field could not be decoded.
	ErrIncorrectEncoding = errors.New("scram: incorrect encoding")
	// ErrInvalidAuthzid means the client asked to act as an identity other than its own.
	ErrInvalidAuthzid = errors.New("scram: invalid authzid")
	// ErrTemporary means the credential lookup failed for a reason other than an unknown
	// user (for example a storage error); the client may retry later.
	ErrTemporary = errors.New("scram: temporary authentication failure")
)

// Condition returns the RFC 6120 SASL failure condition for an error returned by this
// package ("not-authorized", "malformed-request", "invalid-mechanism", "incorrect-encoding",
// "invalid-authzid" or "temporary-auth-failure"). Unknown errors map to "not-authorized" so
// that nothing internal leaks to the client.
func Condition(err error) string {
	switch {
	case errors.Is(err, ErrMalformed):
		return "malformed-request"
	case errors.Is(err, ErrInvalidMechanism):
		return "invalid-mechanism"
	case errors.Is(err, ErrIncorrectEncoding):
		return "incorrect-encoding"
	case errors.Is(err, ErrInvalidAuthzid):
		return "invalid-authzid"
	case errors.Is(err, ErrTemporary):
		return "temporary-auth-failure"
	default:
		return "not-authorized"
	}
}
