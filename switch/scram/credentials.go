// Package scram derives and checks the switch's password verifiers: salted SCRAM keys
// (RFC 5802 for SHA-1, RFC 7677 for SHA-256) stored instead of passwords, the server side of
// the SCRAM-SHA-1 and SCRAM-SHA-256 SASL conversations, and plaintext checks for SASL PLAIN
// and legacy jabber:iq:auth against the same keys.
package scram

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"hash"

	"github.com/stanzascope/stanzascope/switch/store"
)

// MinIterations is the smallest PBKDF2 iteration count accepted (RFC 7677 section 4).
const MinIterations = 4096

// MaxIterations bounds the iteration count so that a corrupted or hostile record cannot
// make one login burn minutes of CPU.
const MaxIterations = 10_000_000

// SaltSize is the number of random bytes in a new salt.
const SaltSize = 16

// NewCredentials derives the SCRAM-SHA-1 and SCRAM-SHA-256 keys of password with a fresh
// random salt and the given PBKDF2 iteration count (MinIterations..MaxIterations). The
// password is normalised with NormalizePassword first; it is not kept.
func NewCredentials(password string, iterations int) (store.Credentials, error) {
	salt := make([]byte, SaltSize)
	if _, err := rand.Read(salt); err != nil {
		return store.Credentials{}, fmt.Errorf("scram: salt: %w", err)
	}
	c, err := newCredentials(password, salt, iterations)
	if err == nil {
		noteIterations(iterations)
	}
	return c, err
}

// newCredentials is NewCredentials with a chosen salt, for the RFC test vectors.
func newCredentials(password string, salt []byte, iterations int) (store.Credentials, error) {
	if iterations < MinIterations || iterations > MaxIterations {
		return store.Credentials{}, fmt.Errorf("scram: iteration count %d out of range %d..%d", iterations, MinIterations, MaxIterations)
	}
	p, err := NormalizePassword(password)
	if err != nil {
		return store.Credentials{}, err
	}
	c := store.Credentials{Salt: append([]byte(nil), salt...), Iterations: iterations}
	if c.SHA1, err = deriveKeys(sha1.New, p, salt, iterations); err != nil {
		return store.Credentials{}, err
	}
	if c.SHA256, err = deriveKeys(sha256.New, p, salt, iterations); err != nil {
		return store.Credentials{}, err
	}
	return c, nil
}

// deriveKeys computes StoredKey and ServerKey from a normalised password (RFC 5802 section 3).
func deriveKeys(h func() hash.Hash, password string, salt []byte, iterations int) (store.Keys, error) {
	salted, err := pbkdf2.Key(h, password, salt, iterations, h().Size())
	if err != nil {
		return store.Keys{}, fmt.Errorf("scram: pbkdf2: %w", err)
	}
	clientKey := hmacSum(h, salted, []byte("Client Key"))
	stored := h()
	stored.Write(clientKey)
	return store.Keys{
		StoredKey: stored.Sum(nil),
		ServerKey: hmacSum(h, salted, []byte("Server Key")),
	}, nil
}

func hmacSum(h func() hash.Hash, key, msg []byte) []byte {
	m := hmac.New(h, key)
	m.Write(msg)
	return m.Sum(nil)
}

// VerifyPlain reports whether password matches the stored keys c, for SASL PLAIN and legacy
// jabber:iq:auth. It prefers the SHA-256 keys, falls back to SHA-1 ones, compares in constant
// time and returns false for unusable credentials instead of an error.
func VerifyPlain(c store.Credentials, password string) bool {
	if len(c.Salt) == 0 || c.Iterations < 1 || c.Iterations > MaxIterations {
		return false
	}
	p, err := NormalizePassword(password)
	if err != nil {
		return false
	}
	h, want := sha256.New, c.SHA256
	if len(want.StoredKey) == 0 {
		h, want = sha1.New, c.SHA1
	}
	if len(want.StoredKey) != h().Size() || len(want.ServerKey) != h().Size() {
		return false
	}
	// Decoys for unknown users (DecoyCredentials) cost what the real accounts cost.
	noteIterations(c.Iterations)
	got, err := deriveKeys(h, p, c.Salt, c.Iterations)
	if err != nil {
		return false
	}
	ok := subtle.ConstantTimeCompare(got.StoredKey, want.StoredKey)
	ok &= subtle.ConstantTimeCompare(got.ServerKey, want.ServerKey)
	return ok == 1
}
