package scram

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

// ParsePlain parses a SASL PLAIN message (RFC 4616: [authzid] NUL authcid NUL passwd) and
// returns the authzid, the normalised username and the password, to be checked with
// VerifyPlain. It fails with ErrMalformed for a bad message, ErrNotAuthorized for a username
// that does not normalise, and ErrInvalidAuthzid for an authzid whose localpart is not the
// username (its domain is for the caller to check).
func ParsePlain(msg []byte) (authzid, username, password string, err error) {
	if len(msg) > MaxMessage {
		return "", "", "", fmt.Errorf("%w: message longer than %d bytes", ErrMalformed, MaxMessage)
	}
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 || len(parts[2]) == 0 {
		return "", "", "", fmt.Errorf("%w: PLAIN needs authzid NUL authcid NUL password", ErrMalformed)
	}
	if !utf8.Valid(msg) {
		return "", "", "", fmt.Errorf("%w: PLAIN message is not UTF-8", ErrMalformed)
	}
	username, err = NormalizeUsername(string(parts[1]))
	if err != nil {
		return "", "", "", fmt.Errorf("%w: %w", ErrNotAuthorized, err)
	}
	authzid = string(parts[0])
	if authzid != "" && !authzidIsUser(authzid, username) {
		return "", "", "", fmt.Errorf("%w: %q may not act as %q", ErrInvalidAuthzid, username, clip(parts[0]))
	}
	return authzid, username, string(parts[2]), nil
}
