package scram

import (
	"errors"
	"strings"
	"testing"

	"github.com/stanzascope/stanzascope/switch/store"
)

func TestNewServerMechanism(t *testing.T) {
	lookup := func(string) (store.Credentials, error) { return store.Credentials{}, nil }
	for _, m := range []string{"SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS", "PLAIN", "", "scram-sha-1"} {
		if _, err := NewServer(m, lookup); !errors.Is(err, ErrInvalidMechanism) || Condition(err) != "invalid-mechanism" {
			t.Errorf("NewServer(%q) = %v", m, err)
		}
	}
	if _, err := NewServer(SHA1, nil); err == nil {
		t.Error("nil lookup accepted")
	}
}

func TestClientFirstErrors(t *testing.T) {
	cases := []struct {
		name, in  string
		want      error
		condition string
	}{
		{"channel binding", "p=tls-unique,,n=user,r=abc", ErrMalformed, "malformed-request"},
		{"bad flag", "x,,n=user,r=abc", ErrMalformed, "malformed-request"},
		{"no gs2 header", "n=user,r=abc", ErrMalformed, "malformed-request"},
		{"one comma", "n,n=user", ErrMalformed, "malformed-request"},
		{"bad authzid", "n,b=x,n=user,r=abc", ErrMalformed, "malformed-request"},
		{"empty authzid", "n,a=,n=user,r=abc", ErrMalformed, "malformed-request"},
		{"reserved m", "n,,m=ext,n=user,r=abc", ErrMalformed, "malformed-request"},
		{"no nonce", "n,,n=user", ErrMalformed, "malformed-request"},
		{"swapped", "n,,r=abc,n=user", ErrMalformed, "malformed-request"},
		{"empty nonce", "n,,n=user,r=", ErrMalformed, "malformed-request"},
		{"nonce with space", "n,,n=user,r=a b", ErrMalformed, "malformed-request"},
		{"bad escape", "n,,n=us=2Xer,r=abc", ErrMalformed, "malformed-request"},
		{"trailing =", "n,,n=user=,r=abc", ErrMalformed, "malformed-request"},
		{"empty username", "n,,n=,r=abc", ErrMalformed, "malformed-request"},
		{"bad extension", "n,,n=user,r=abc,junk", ErrMalformed, "malformed-request"},
		{"username fails precis", "n,,n=us\u0000er,r=abc", ErrNotAuthorized, "not-authorized"},
		{"username with space", "n,,n=a b,r=abc", ErrNotAuthorized, "not-authorized"},
		{"authzid other user", "n,a=mallory,n=user,r=abc", ErrInvalidAuthzid, "invalid-authzid"},
		{"authzid full JID", "n,a=user@x/res,n=user,r=abc", ErrInvalidAuthzid, "invalid-authzid"},
		{"too long", "n,,n=user,r=" + strings.Repeat("a", MaxMessage), ErrMalformed, "malformed-request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := NewServer(SHA256, func(string) (store.Credentials, error) { return rfcCreds(t, "QSXCR+Q6sek8bf92"), nil })
			out, done, err := s.Step([]byte(tc.in))
			if !errors.Is(err, tc.want) || out != nil || done {
				t.Fatalf("Step = %q, %v, %v; want %v", out, done, err, tc.want)
			}
			if c := Condition(err); c != tc.condition {
				t.Errorf("Condition = %q, want %q", c, tc.condition)
			}
			if _, _, err := s.Step([]byte("c=biws,r=abc,p=AAAA")); err == nil {
				t.Error("Step after a failure succeeded")
			}
		})
	}
}

func TestClientFinalErrors(t *testing.T) {
	v := rfcExchanges[0]
	nonce := "fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j"
	cases := []struct {
		name, in string
		want     error
	}{
		{"no proof", "c=biws,r=" + nonce, ErrMalformed},
		{"binding mismatch", "c=eSws,r=" + nonce + ",p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", ErrNotAuthorized},
		{"binding not base64", "c=b!ws,r=" + nonce + ",p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", ErrIncorrectEncoding},
		{"nonce mismatch", "c=biws,r=" + nonce + "x,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", ErrNotAuthorized},
		{"client nonce only", "c=biws,r=fyko+d2lbbFgONRv9qkxdawL,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", ErrNotAuthorized},
		{"proof not base64", "c=biws,r=" + nonce + ",p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts", ErrIncorrectEncoding},
		{"proof empty", "c=biws,r=" + nonce + ",p=", ErrIncorrectEncoding},
		{"proof short", "c=biws,r=" + nonce + ",p=AAAA", ErrNotAuthorized},
		{"proof flipped", "c=biws,r=" + nonce + ",p=w0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", ErrNotAuthorized},
		{"order", "r=" + nonce + ",c=biws,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=", ErrMalformed},
		{"empty", "", ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			creds := rfcCreds(t, v.salt)
			s, _ := NewServer(v.mech, func(string) (store.Credentials, error) { return creds, nil })
			s.newNonce = fixedNonce(v.serverNonce)
			if _, _, err := s.Step([]byte(v.msgs[0])); err != nil {
				t.Fatal(err)
			}
			out, done, err := s.Step([]byte(tc.in))
			if !errors.Is(err, tc.want) || done || out != nil || s.Username() != "" {
				t.Fatalf("Step = %q, %v, %v; want %v", out, done, err, tc.want)
			}
		})
	}
}

func TestEmptyInitialResponse(t *testing.T) {
	v := rfcExchanges[1]
	creds := rfcCreds(t, v.salt)
	s, _ := NewServer(v.mech, func(string) (store.Credentials, error) { return creds, nil })
	s.newNonce = fixedNonce(v.serverNonce)
	out, done, err := s.Step(nil)
	if err != nil || done || out == nil || len(out) != 0 {
		t.Fatalf("Step(nil) = %q, %v, %v; want an empty challenge", out, done, err)
	}
	for i, want := range []string{v.msgs[1], v.msgs[3]} {
		out, _, err := s.Step([]byte(v.msgs[2*i]))
		if err != nil || string(out) != want {
			t.Fatalf("step %d = %q, %v", i, out, err)
		}
	}
	// A second empty message is not a client-first.
	s, _ = NewServer(v.mech, func(string) (store.Credentials, error) { return creds, nil })
	s.Step(nil)
	if _, _, err := s.Step(nil); !errors.Is(err, ErrMalformed) {
		t.Errorf("two empty messages: %v", err)
	}
}

func TestLookupErrors(t *testing.T) {
	boom := errors.New("disk on fire")
	s, _ := NewServer(SHA1, func(string) (store.Credentials, error) { return store.Credentials{}, boom })
	_, _, err := s.Step([]byte("n,,n=user,r=abc"))
	if !errors.Is(err, ErrTemporary) || !errors.Is(err, boom) || Condition(err) != "temporary-auth-failure" {
		t.Fatalf("lookup failure: %v", err)
	}
	// An account with no SHA-1 keys cannot log in with SCRAM-SHA-1, and must not say why.
	creds := rfcCreds(t, rfcExchanges[0].salt)
	creds.SHA1 = store.Keys{}
	s, _ = NewServer(SHA1, func(string) (store.Credentials, error) { return creds, nil })
	s.newNonce = fixedNonce(rfcExchanges[0].serverNonce)
	if _, _, err := s.Step([]byte(rfcExchanges[0].msgs[0])); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Step([]byte(rfcExchanges[0].msgs[2])); !errors.Is(err, ErrNotAuthorized) {
		t.Fatalf("missing keys: %v", err)
	}
}

func TestSaslnameEscaping(t *testing.T) {
	var got string
	s, _ := NewServer(SHA256, func(u string) (store.Credentials, error) {
		got = u
		return store.Credentials{}, store.ErrNotFound
	})
	if _, _, err := s.Step([]byte("n,,n=a=2Cb=3Dc,r=abc")); err != nil {
		t.Fatal(err)
	}
	if got != "a,b=c" {
		t.Errorf("lookup(%q), want %q", got, "a,b=c")
	}
}

func TestConditionDefault(t *testing.T) {
	if c := Condition(errors.New("other")); c != "not-authorized" {
		t.Errorf("Condition(other) = %q", c)
	}
}
