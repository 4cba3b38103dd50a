package scram

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"

	"mellium.im/sasl"

	"github.com/stanzascope/stanzascope/switch/store"
)

// exchange runs a whole conversation between mellium.im/sasl's client (an independent SCRAM
// implementation) and a Server, and returns the server's error, if any.
func exchange(t testing.TB, client *sasl.Negotiator, srv *Server) error {
	t.Helper()
	more, resp, err := client.Step(nil)
	if err != nil {
		t.Fatalf("client start: %v", err)
	}
	for i := 0; more && i < 4; i++ {
		challenge, done, err := srv.Step(resp)
		if err != nil {
			return err
		}
		more, resp, err = client.Step(challenge)
		if err != nil {
			t.Fatalf("client rejected server message %q: %v", challenge, err)
		}
		if done {
			if more {
				t.Fatal("server done but client wants more")
			}
			return nil
		}
	}
	t.Fatal("exchange did not finish")
	return nil
}

func TestMelliumClient(t *testing.T) {
	creds, err := NewCredentials("correct horse", MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	users := map[string]store.Credentials{"alice": creds}
	lookup := func(u string) (store.Credentials, error) {
		c, ok := users[u]
		if !ok {
			return store.Credentials{}, store.ErrNotFound
		}
		return c, nil
	}
	mechs := []struct {
		name   string
		client sasl.Mechanism
		opts   []sasl.Option
	}{
		{SHA1, sasl.ScramSha1, nil},
		{SHA256, sasl.ScramSha256, nil},
		// A -PLUS capable client talking to a server that offers no -PLUS sends "y,,".
		{SHA256, sasl.ScramSha256Plus, []sasl.Option{sasl.TLSState(tls.ConnectionState{}), sasl.RemoteMechanisms(SHA1, SHA256)}},
	}
	cases := []struct {
		name, user, pass, authzid string
		want                      error
	}{
		{"right password", "alice", "correct horse", "", nil},
		{"case-mapped username", "Alice", "correct horse", "", nil},
		{"authzid of the user", "alice", "correct horse", "alice@localhost", nil},
		{"wrong password", "alice", "correct horse!", "", ErrNotAuthorized},
		{"unknown user", "bob", "correct horse", "", ErrNotAuthorized},
		{"authzid of someone else", "alice", "correct horse", "bob@localhost", ErrInvalidAuthzid},
	}
	for _, m := range mechs {
		for _, tc := range cases {
			t.Run(m.client.Name+"/"+tc.name, func(t *testing.T) {
				opts := append([]sasl.Option{sasl.Credentials(func() ([]byte, []byte, []byte) {
					return []byte(tc.user), []byte(tc.pass), []byte(tc.authzid)
				})}, m.opts...)
				srv, err := NewServer(m.name, lookup)
				if err != nil {
					t.Fatal(err)
				}
				err = exchange(t, sasl.NewClient(m.client, opts...), srv)
				if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
					t.Fatalf("exchange error = %v, want %v", err, tc.want)
				}
				if tc.want == nil && srv.Username() != "alice" {
					t.Errorf("Username = %q", srv.Username())
				}
				if tc.want == nil && srv.Authzid() != tc.authzid {
					t.Errorf("Authzid = %q", srv.Authzid())
				}
			})
		}
	}
}

// TestUnknownUserLooksReal checks that server-first for an unknown user is shaped like a
// real one and keeps its salt across attempts, so users cannot be enumerated.
func TestUnknownUserLooksReal(t *testing.T) {
	lookup := func(string) (store.Credentials, error) { return store.Credentials{}, store.ErrNotFound }
	first := func() string {
		s, _ := NewServer(SHA256, lookup)
		s.newNonce = fixedNonce("N")
		out, _, err := s.Step([]byte("n,,n=ghost,r=abc"))
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	a, b := first(), first()
	if a != b {
		t.Errorf("decoy salt changed between attempts: %q vs %q", a, b)
	}
}

// TestDecoyIterations checks that an unknown user is shown the iteration count of the
// server's real accounts, not a constant that would give it away.
func TestDecoyIterations(t *testing.T) {
	defer noteIterations(MinIterations)
	if _, err := NewCredentials("pw", 5000); err != nil {
		t.Fatal(err)
	}
	s, _ := NewServer(SHA1, func(string) (store.Credentials, error) { return store.Credentials{}, store.ErrNotFound })
	out, _, err := s.Step([]byte("n,,n=ghost,r=abc"))
	if err != nil || !strings.HasSuffix(string(out), ",i=5000") {
		t.Fatalf("server-first for unknown user = %q, %v", out, err)
	}
}
