package scram

import (
	"fmt"

	"golang.org/x/text/secure/precis"
)

// MaxMessage bounds every client message accepted by Server.Step and ParsePlain, so a
// client cannot make the server buffer or hash unbounded input.
const MaxMessage = 4096

// maxPassword bounds a password before normalisation; PBKDF2 hashes it once per iteration
// block, and no human password is near this size.
const maxPassword = 1024

// NormalizeUsername returns the canonical form of an account name: the PRECIS
// UsernameCaseMapped profile (RFC 8265), which is also how RFC 7622 prepares a JID
// localpart. Registration, SCRAM and PLAIN must all use it so that one account has one key.
func NormalizeUsername(s string) (string, error) {
	if s == "" || len(s) > 1023 {
		return "", fmt.Errorf("scram: username length %d out of range 1..1023", len(s))
	}
	u, err := precis.UsernameCaseMapped.String(s)
	if err != nil {
		return "", fmt.Errorf("scram: username %q: %w", s, err)
	}
	return u, nil
}

// NormalizePassword returns the PRECIS OpaqueString form of a password (RFC 8265 section
// 4.2, the successor of SASLprep), which is what gets hashed.
func NormalizePassword(s string) (string, error) {
	if len(s) > maxPassword {
		return "", fmt.Errorf("scram: password longer than %d bytes", maxPassword)
	}
	p, err := precis.OpaqueString.String(s)
	if err != nil {
		return "", fmt.Errorf("scram: password: %w", err)
	}
	return p, nil
}
