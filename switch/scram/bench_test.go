package scram

import (
	"testing"

	"mellium.im/sasl"

	"github.com/stanzascope/stanzascope/switch/store"
)

func BenchmarkNewCredentials(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewCredentials("correct horse battery staple", MinIterations); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyPlain(b *testing.B) {
	c, err := NewCredentials("correct horse battery staple", MinIterations)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !VerifyPlain(c, "correct horse battery staple") {
			b.Fatal("no match")
		}
	}
}

// BenchmarkServerExchange measures the server's share of one SCRAM-SHA-256 login: the
// client messages are recorded once (the client's PBKDF2 is not measured) and replayed.
func BenchmarkServerExchange(b *testing.B) {
	v := rfcExchanges[1]
	creds := rfcCreds(b, v.salt)
	lookup := func(string) (store.Credentials, error) { return creds, nil }
	b.ReportAllocs()
	for b.Loop() {
		s, _ := NewServer(SHA256, lookup)
		s.newNonce = fixedNonce(v.serverNonce)
		if _, _, err := s.Step([]byte(v.msgs[0])); err != nil {
			b.Fatal(err)
		}
		if _, done, err := s.Step([]byte(v.msgs[2])); err != nil || !done {
			b.Fatal(err)
		}
	}
}

// BenchmarkFullExchange is one whole SCRAM-SHA-256 login with mellium.im/sasl as the client,
// dominated by the client's PBKDF2 at 4096 iterations.
func BenchmarkFullExchange(b *testing.B) {
	creds, err := NewCredentials("pencil", MinIterations)
	if err != nil {
		b.Fatal(err)
	}
	lookup := func(string) (store.Credentials, error) { return creds, nil }
	cred := sasl.Credentials(func() ([]byte, []byte, []byte) { return []byte("user"), []byte("pencil"), nil })
	b.ReportAllocs()
	for b.Loop() {
		s, _ := NewServer(SHA256, lookup)
		if err := exchange(b, sasl.NewClient(sasl.ScramSha256, cred), s); err != nil {
			b.Fatal(err)
		}
	}
}
