package scram

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/stanzascope/stanzascope/switch/store"
)

// rfcExchanges are the example conversations of RFC 5802 section 5 and RFC 7677 section 3
// (user "user", password "pencil", 4096 iterations).
var rfcExchanges = []struct {
	name, mech, salt, serverNonce string
	msgs                          [4]string // client-first, server-first, client-final, server-final
}{
	{
		name: "RFC5802", mech: SHA1, salt: "QSXCR+Q6sek8bf92", serverNonce: "3rfcNHYJY1ZVvWVs7j",
		msgs: [4]string{
			"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL",
			"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
			"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
			"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
		},
	},
	{
		name: "RFC7677", mech: SHA256, salt: "W22ZaJ0SNY7soEsUEjb6gQ==", serverNonce: "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
		msgs: [4]string{
			"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
			"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
			"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
			"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
		},
	},
}

// rfcCreds returns the stored credentials of the RFC examples.
func rfcCreds(t testing.TB, salt string) store.Credentials {
	t.Helper()
	s, err := base64.StdEncoding.DecodeString(salt)
	if err != nil {
		t.Fatal(err)
	}
	c, err := newCredentials("pencil", s, 4096)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func fixedNonce(n string) func() (string, error) {
	return func() (string, error) { return n, nil }
}

func TestRFCVectors(t *testing.T) {
	for _, tc := range rfcExchanges {
		t.Run(tc.name, func(t *testing.T) {
			creds := rfcCreds(t, tc.salt)
			var looked string
			s, err := NewServer(tc.mech, func(u string) (store.Credentials, error) {
				looked = u
				return creds, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			s.newNonce = fixedNonce(tc.serverNonce)
			out, done, err := s.Step([]byte(tc.msgs[0]))
			if err != nil || done || string(out) != tc.msgs[1] {
				t.Fatalf("server-first = %q, %v, %v; want %q", out, done, err, tc.msgs[1])
			}
			if looked != "user" {
				t.Errorf("lookup(%q), want user", looked)
			}
			if s.Username() != "" {
				t.Errorf("Username before success = %q", s.Username())
			}
			out, done, err = s.Step([]byte(tc.msgs[2]))
			if err != nil || !done || string(out) != tc.msgs[3] {
				t.Fatalf("server-final = %q, %v, %v; want %q", out, done, err, tc.msgs[3])
			}
			if s.Username() != "user" {
				t.Errorf("Username = %q", s.Username())
			}
			for _, extra := range []string{"x", strings.Repeat("x", MaxMessage+1)} {
				if _, _, err := s.Step([]byte(extra)); !errors.Is(err, ErrMalformed) {
					t.Errorf("Step after done: %v", err)
				}
			}
			if s.Username() != "user" {
				t.Errorf("Username after a stray Step = %q", s.Username())
			}
			if !VerifyPlain(creds, "pencil") || VerifyPlain(creds, "pencil ") || VerifyPlain(creds, "Pencil") {
				t.Error("VerifyPlain disagrees with the RFC credentials")
			}
		})
	}
}

func TestRFCVectorsWrongPassword(t *testing.T) {
	for _, tc := range rfcExchanges {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := base64.StdEncoding.DecodeString(tc.salt)
			creds, err := newCredentials("pencil2", s, 4096)
			if err != nil {
				t.Fatal(err)
			}
			srv, _ := NewServer(tc.mech, func(string) (store.Credentials, error) { return creds, nil })
			srv.newNonce = fixedNonce(tc.serverNonce)
			if _, _, err := srv.Step([]byte(tc.msgs[0])); err != nil {
				t.Fatal(err)
			}
			_, done, err := srv.Step([]byte(tc.msgs[2]))
			if !errors.Is(err, ErrNotAuthorized) || done || srv.Username() != "" {
				t.Fatalf("wrong password: done=%v err=%v user=%q", done, err, srv.Username())
			}
			if Condition(err) != "not-authorized" {
				t.Errorf("Condition = %q", Condition(err))
			}
		})
	}
}
