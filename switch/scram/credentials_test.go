package scram

import (
	"bytes"
	"testing"

	"github.com/stanzascope/stanzascope/switch/store"
)

func TestNewCredentials(t *testing.T) {
	a, err := NewCredentials("secret", MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewCredentials("secret", MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Salt) < 16 || bytes.Equal(a.Salt, b.Salt) {
		t.Errorf("salts %x and %x: want 16+ random bytes", a.Salt, b.Salt)
	}
	if len(a.SHA1.StoredKey) != 20 || len(a.SHA1.ServerKey) != 20 || len(a.SHA256.StoredKey) != 32 || len(a.SHA256.ServerKey) != 32 {
		t.Errorf("key sizes wrong: %+v", a)
	}
	if a.Iterations != MinIterations {
		t.Errorf("Iterations = %d", a.Iterations)
	}
	if !VerifyPlain(a, "secret") || VerifyPlain(a, "Secret") || VerifyPlain(a, "") {
		t.Error("VerifyPlain")
	}
	// SHA-1-only credentials (e.g. imported) still verify.
	a.SHA256 = b.SHA256
	a.SHA256.StoredKey = nil
	if !VerifyPlain(a, "secret") {
		t.Error("VerifyPlain with SHA-1 keys only")
	}
}

func TestNewCredentialsRejects(t *testing.T) {
	for _, tc := range []struct {
		name, pass string
		iter       int
	}{
		{"few iterations", "secret", 4095},
		{"zero iterations", "secret", 0},
		{"huge iterations", "secret", MaxIterations + 1},
		{"empty password", "", MinIterations},
		{"control character", "sec\x07ret", MinIterations},
		{"too long", string(bytes.Repeat([]byte("a"), maxPassword+1)), MinIterations},
	} {
		if _, err := NewCredentials(tc.pass, tc.iter); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

func TestPasswordNormalisation(t *testing.T) {
	// OpaqueString maps non-ASCII spaces to ASCII space and applies NFC, so the same
	// password typed two ways verifies.
	c, err := NewCredentials("caf\u00e9\u00a0au lait", MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	if !VerifyPlain(c, "cafe\u0301 au lait") {
		t.Error("NFD / NBSP form of the password did not verify")
	}
}

func TestVerifyPlainBadCredentials(t *testing.T) {
	for name, mutate := range map[string]func(c *store.Credentials){
		"no salt":         func(c *store.Credentials) { c.Salt = nil },
		"no iterations":   func(c *store.Credentials) { c.Iterations = 0 },
		"huge iterations": func(c *store.Credentials) { c.Iterations = MaxIterations + 1 },
		"truncated keys":  func(c *store.Credentials) { c.SHA256.StoredKey = c.SHA256.StoredKey[:5] },
		"no keys":         func(c *store.Credentials) { c.SHA256, c.SHA1 = store.Keys{}, store.Keys{} },
	} {
		c, err := NewCredentials("secret", MinIterations)
		if err != nil {
			t.Fatal(err)
		}
		mutate(&c)
		if VerifyPlain(c, "secret") {
			t.Errorf("%s: verified", name)
		}
	}
}

func TestNormalizeUsername(t *testing.T) {
	for in, want := range map[string]string{"Alice": "alice", "juliet": "juliet", "ΣΑΣ": "σασ"} {
		got, err := NormalizeUsername(in)
		if err != nil || got != want {
			t.Errorf("NormalizeUsername(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "a b", "a\x00", string(bytes.Repeat([]byte("a"), 1024))} {
		if _, err := NormalizeUsername(in); err == nil {
			t.Errorf("NormalizeUsername(%q) accepted", in)
		}
	}
}

func TestDecoyCredentials(t *testing.T) {
	a, b := DecoyCredentials("ghost"), DecoyCredentials("ghost")
	if !bytes.Equal(a.Salt, b.Salt) || a.Iterations < MinIterations {
		t.Errorf("decoy salt not stable or iterations low: %+v", a)
	}
	for _, p := range []string{"", "ghost", "password"} {
		if VerifyPlain(a, p) {
			t.Errorf("decoy verified %q", p)
		}
	}
}
