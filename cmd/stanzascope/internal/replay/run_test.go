package replay

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/switch/scram"
	"github.com/stanzascope/stanzascope/switch/server"
	"github.com/stanzascope/stanzascope/switch/store"
)

// startSwitch runs a fresh switch for localhost on loopback, with the given accounts
// (name, password), and returns its address and a TLS configuration that trusts it.
func startSwitch(t *testing.T, mod func(*server.Config), accounts ...string) (string, *tls.Config) {
	t.Helper()
	dir := t.TempDir()
	cert, err := server.LoadOrCreateCert(filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem"), "localhost")
	if err != nil {
		t.Fatal(err)
	}
	db := store.NewMemory()
	for i := 0; i+1 < len(accounts); i += 2 {
		creds, err := scram.NewCredentials(accounts[i+1], scram.MinIterations)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.CreateAccount(context.Background(), store.Account{Username: accounts[i], Creds: creds}); err != nil {
			t.Fatal(err)
		}
	}
	cfg := server.Config{Domain: "localhost", Store: db, TLS: &tls.Config{Certificates: []tls.Certificate{cert}}}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("switch: %v", err)
		}
	})
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return ln.Addr().String(), &tls.Config{RootCAs: roots}
}

func realScript(t *testing.T) *Script {
	t.Helper()
	f, err := os.Open("testdata/slixmpp-switch.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l, err := ReadLog(f, 0)
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.Script(0)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRunSameServer replays slixmpp's recorded session against a fresh switch, as it was
// recorded against one: no differences, whoever the replay logs in as.
func TestRunSameServer(t *testing.T) {
	for _, tc := range []struct{ user, resource string }{{"", ""}, {"carol", "elsewhere"}} {
		t.Run("as "+tc.user+"/"+tc.resource, func(t *testing.T) {
			addr, tc2 := startSwitch(t, nil)
			rep, err := Run(context.Background(), realScript(t), Config{Target: addr, TLS: tc2, User: tc.user, Resource: tc.resource, Password: "pw-1"})
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			if err := rep.WriteText(&b); err != nil {
				t.Fatal(err)
			}
			if rep.Differences != 0 || rep.Sent != 11 || rep.Stanzas != 11 || !strings.HasPrefix(rep.TLS, "TLS 1.3, certificate verified") {
				t.Fatalf("report:\n%s", b.String())
			}
			wantJID := "alice@localhost/rec"
			if tc.user != "" {
				wantJID = tc.user + "@localhost/" + tc.resource
			}
			if rep.JID != wantJID || !strings.Contains(b.String(), "no differences: 11 client stanzas sent") {
				t.Fatalf("JID %s; report:\n%s", rep.JID, b.String())
			}
			// The three notes to self came back to the replay's own full JID.
			if got := strings.Count(b.String(), "→ message chat"); got != 2 {
				t.Errorf("%d steps answered by one message chat, want 2:\n%s", got, b.String())
			}
		})
	}
}

// TestRunOtherServer replays against a switch that behaves differently: registration is
// off (the account exists already) and it requires TLS. The differences are listed, the
// replay goes on to the end.
func TestRunOtherServer(t *testing.T) {
	addr, tc := startSwitch(t, func(c *server.Config) { c.NoRegister = true; c.RequireTLS = true }, "alice", "pw-2")
	rep, err := Run(context.Background(), realScript(t), Config{Target: addr, TLS: tc, Password: "pw-2", Speed: 0})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	rep.WriteText(&b)
	out := b.String()
	if rep.Differences != 2 || rep.Sent != 11 {
		t.Fatalf("%d differences, %d sent:\n%s", rep.Differences, rep.Sent, out)
	}
	for _, want := range []string{
		"≠ #12    iq get (query jabber:iq:register)\n           answer recorded iq result (query jabber:iq:register) (#13), replayed iq error (service-unavailable): type: result → error; condition: none → service-unavailable; payload: query jabber:iq:register → none",
		"differences: 2 of 11 client stanzas (11 sent)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	var j strings.Builder
	if err := rep.WriteJSON(&j); err != nil || !strings.Contains(j.String(), `"differences": 2`) {
		t.Errorf("json: %v\n%s", err, j.String())
	}
}

// TestRunKeepsTiming: with --speed 1 two client stanzas recorded 400 ms apart are sent
// at least 400 ms apart; --speed 4 at least 100 ms apart. (Lower bounds only: a loaded
// machine is slower, never faster.)
func TestRunKeepsTiming(t *testing.T) {
	log := jsonLog(t, session(
		"c2s <iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>",
		"s2c <iq type='result' id='p1'/>",
	)...)
	// Move the ping and its answer 400 ms after the login.
	log = strings.Replace(log, `"time":"2026-01-02T03:04:05.012Z"`, `"time":"2026-01-02T03:04:05.412Z"`, 1)
	log = strings.Replace(log, `"time":"2026-01-02T03:04:05.013Z"`, `"time":"2026-01-02T03:04:05.413Z"`, 1)
	_, s := logScript(t, log)
	if gap := s.Steps[1].Time.Sub(s.Steps[0].Time); gap < 399*time.Millisecond {
		t.Fatalf("recorded gap %v", gap)
	}
	for _, tc := range []struct {
		speed float64
		min   time.Duration
	}{{1, 400 * time.Millisecond}, {4, 100 * time.Millisecond}} {
		addr, tlsc := startSwitch(t, nil, "alice", "pw")
		start := time.Now()
		rep, err := Run(context.Background(), s, Config{Target: addr, TLS: tlsc, Password: "pw", Speed: tc.speed})
		if err != nil {
			t.Fatal(err)
		}
		if el := time.Since(start); el < tc.min || rep.Differences != 0 {
			t.Errorf("speed %v: took %v (want at least %v), %d differences", tc.speed, el, tc.min, rep.Differences)
		}
	}
}

// TestRunLoginFails: a wrong password is an error, not a report.
func TestRunLoginFails(t *testing.T) {
	addr, tlsc := startSwitch(t, func(c *server.Config) { c.NoRegister = true }, "alice", "right")
	s := scriptOf(t, session("c2s <presence/>")...)
	_, err := Run(context.Background(), s, Config{Target: addr, TLS: tlsc, Password: "wrong"})
	if err == nil || !strings.Contains(err.Error(), "not-authorized") {
		t.Fatalf("err = %v", err)
	}
	// An unverifiable certificate stops the replay before the password is sent.
	_, err = Run(context.Background(), s, Config{Target: addr, Password: "right"})
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("err = %v", err)
	}
}
