package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmpp"

	"github.com/stanzascope/stanzascope/switch/server"
	"github.com/stanzascope/stanzascope/switch/store"
	"github.com/stanzascope/stanzascope/switch/switchtest"
)

// startSwitch runs the embedded switch with STARTTLS (certificate from its own CA, so the
// proxy must verify it) and two accounts.
func startSwitch(t testing.TB, requireTLS bool) (addr string, roots *x509.CertPool) {
	t.Helper()
	upCA := newCA(t)
	leaf, err := upCA.Leaf("localhost")
	if err != nil {
		t.Fatal(err)
	}
	st := store.NewMemory()
	switchtest.AddAccount(t, st, "alice", "wonderland")
	switchtest.AddAccount(t, st, "bob", "builder")
	srv, err := server.New(server.Config{Domain: "localhost", Store: st, RequireTLS: requireTLS,
		TLS: &tls.Config{Certificates: []tls.Certificate{*leaf}}, Logf: t.Logf})
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
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("switch did not stop")
		}
	})
	return ln.Addr().String(), upCA.Pool()
}

// melliumLogin logs in through the proxy at addr: STARTTLS (trusting roots), SCRAM, bind.
// With direct, TLS starts with the first byte instead.
func melliumLogin(t testing.TB, addr string, roots *x509.CertPool, direct bool, user, pass string) *switchtest.Client {
	t.Helper()
	tlsCfg := &tls.Config{ServerName: "localhost", RootCAs: roots}
	var conn net.Conn
	var err error
	features := []xmpp.StreamFeature{
		// PLUS first: the proxy must have removed it for the login to work over
		// intercepted TLS.
		xmpp.SASL("", pass, sasl.ScramSha256Plus, sasl.ScramSha256, sasl.ScramSha1),
		xmpp.BindResource(),
	}
	if direct {
		conn, err = tls.Dial("tcp", addr, tlsCfg)
	} else {
		conn, err = net.Dial("tcp", addr)
		features = append([]xmpp.StreamFeature{xmpp.StartTLS(tlsCfg)}, features...)
	}
	if err != nil {
		t.Fatal(err)
	}
	return switchtest.Login(t, conn, user+"@localhost", features...)
}

func testMelliumThroughProxy(t *testing.T, direct bool) {
	swAddr, swRoots := startSwitch(t, true)
	authority := newCA(t)
	tp := startProxy(t, Config{Upstream: swAddr, CA: authority, UpstreamTLS: &tls.Config{RootCAs: swRoots}}, direct)

	alice := melliumLogin(t, tp.addr, authority.Pool(), direct, "alice", "wonderland")
	bob := melliumLogin(t, tp.addr, authority.Pool(), direct, "bob", "builder")
	if !alice.Session().ConnectionState().HandshakeComplete {
		t.Fatal("client leg is not TLS")
	}
	if got := alice.Session().ConnectionState().PeerCertificates[0].Issuer.Organization; len(got) == 0 || got[0] != "stanzascope" {
		t.Fatalf("client got a certificate issued by %v, not by the proxy's CA", got)
	}
	alice.Chat(bob.JID(), "hello through the proxy")
	got := bob.WaitFor("hello through the proxy")
	if !strings.Contains(got, alice.JID()) {
		t.Errorf("bob got %s, not from %s", got, alice.JID())
	}
	for _, want := range []string{"TLS with client: TLS 1.3", "TLS with upstream: TLS 1.3", "SASL: client chose mechanism SCRAM-SHA-256", "SASL: success", "bound JID alice@localhost/"} {
		tp.sink.waitNote(t, want)
	}
	if direct {
		tp.sink.waitNote(t, "the proxy negotiates STARTTLS with the upstream itself")
	}
	// The message is logged in clear, in both legs. A record is emitted once its bytes are
	// written, which may be just after bob read them: wait for it.
	var seen [3]bool
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && !(seen[1] && seen[2]); {
		for _, r := range tp.sink.all() {
			if bytes.Contains(r.Raw, []byte("hello through the proxy")) {
				seen[r.Dir] = true
			}
		}
		if !seen[1] || !seen[2] {
			time.Sleep(5 * time.Millisecond)
		}
	}
	if !seen[1] || !seen[2] {
		t.Errorf("message logged c2s %v s2c %v, want both", seen[1], seen[2])
	}
	alice.Close()
	bob.Close()
	tp.stop()
	tp.sink.waitNote(t, "closed after")
}

func TestMelliumSTARTTLS(t *testing.T) { testMelliumThroughProxy(t, false) }

func TestMelliumDirectTLS(t *testing.T) { testMelliumThroughProxy(t, true) }
