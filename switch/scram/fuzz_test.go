package scram

import (
	"sync"
	"testing"

	"github.com/stanzascope/stanzascope/switch/store"
)

var (
	fuzzCredsOnce sync.Once
	fuzzCreds     store.Credentials
)

// FuzzServerStep feeds two arbitrary client messages to a Server that knows user "user"
// (password "pencil", RFC 5802 salt) and uses the RFC server nonce, so the seeds in
// testdata/fuzz reach success as well as every failure path.
func FuzzServerStep(f *testing.F) {
	for _, tc := range rfcExchanges {
		f.Add(tc.msgs[0], tc.msgs[2], tc.mech == SHA1)
	}
	f.Fuzz(func(t *testing.T, first, final string, sha1 bool) {
		fuzzCredsOnce.Do(func() { fuzzCreds = rfcCreds(t, rfcExchanges[0].salt) })
		mech, nonce := SHA256, rfcExchanges[1].serverNonce
		if sha1 {
			mech, nonce = SHA1, rfcExchanges[0].serverNonce
		}
		s, err := NewServer(mech, func(u string) (store.Credentials, error) {
			if u != "user" {
				return store.Credentials{}, store.ErrNotFound
			}
			return fuzzCreds, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		s.newNonce = fixedNonce(nonce)
		for i, in := range []string{first, final} {
			out, done, err := s.Step([]byte(in))
			if len(out) > 2*MaxMessage {
				t.Fatalf("step %d: %d-byte reply", i, len(out))
			}
			if err != nil {
				if done || out != nil || s.Username() != "" {
					t.Fatalf("step %d: error %v with done=%v out=%q user=%q", i, err, done, out, s.Username())
				}
				if Condition(err) == "" {
					t.Fatal("empty condition")
				}
				return
			}
			if done && s.Username() != "user" {
				t.Fatalf("done for %q", s.Username())
			}
		}
	})
}
