package scram

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync/atomic"

	"github.com/stanzascope/stanzascope/switch/store"
)

// decoyKey is a per-process secret for decoy salts.
var decoyKey = func() []byte {
	k := make([]byte, 32)
	rand.Read(k) // never fails (crypto/rand documents so since Go 1.24)
	return k
}()

// decoyIterations is the iteration count shown for unknown users: the last one seen in
// NewCredentials, VerifyPlain or a successful lookup, so that decoys look like (and cost
// what) the server's real accounts when it is configured above MinIterations.
var decoyIterations atomic.Int64

func init() { decoyIterations.Store(MinIterations) }

func noteIterations(n int) {
	if n >= MinIterations && n <= MaxIterations {
		decoyIterations.Store(int64(n))
	}
}

// DecoyCredentials returns credentials that match no password, for an unknown username:
// run VerifyPlain against them so that a PLAIN or jabber:iq:auth login for a missing account
// costs the same time as one for a real account. They are also what the SCRAM server shows
// an unknown user.
func DecoyCredentials(username string) store.Credentials { return decoy(username) }

// decoy returns credentials for an unknown user so that server-first looks the same as for
// a real account: the salt is stable per username within a process (a changing salt would
// reveal that the account does not exist) and the keys match no password.
func decoy(username string) store.Credentials {
	m := hmac.New(sha256.New, decoyKey)
	m.Write([]byte(username))
	salt := m.Sum(nil)[:SaltSize]
	random := func(n int) []byte {
		b := make([]byte, n)
		rand.Read(b)
		return b
	}
	return store.Credentials{
		Salt:       salt,
		Iterations: int(decoyIterations.Load()),
		SHA1:       store.Keys{StoredKey: random(20), ServerKey: random(20)},
		SHA256:     store.Keys{StoredKey: random(32), ServerKey: random(32)},
	}
}
