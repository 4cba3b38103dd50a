package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/stanzascope/stanzascope/switch/scram"
	"github.com/stanzascope/stanzascope/switch/server"
	"github.com/stanzascope/stanzascope/switch/store"
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
	for _, u := range [][2]string{{"alice", "wonderland"}, {"bob", "builder"}} {
		creds, err := scram.NewCredentials(u[1], scram.MinIterations)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.CreateAccount(context.Background(), store.Account{Username: u[0], Creds: creds}); err != nil {
			t.Fatal(err)
		}
	}
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

// mclient is a mellium session whose received stanzas are collected as text.
type mclient struct {
	t    testing.TB
	s    *xmpp.Session
	in   chan string
	done chan error
	once sync.Once
}

// melliumLogin logs in through the proxy at addr: STARTTLS (trusting roots), SCRAM, bind.
// With direct, TLS starts with the first byte instead.
func melliumLogin(t testing.TB, addr string, roots *x509.CertPool, direct bool, user, pass string) *mclient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
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
	s, err := xmpp.NewClientSession(ctx, jid.MustParse(user+"@localhost"), conn, features...)
	if err != nil {
		conn.Close()
		t.Fatalf("mellium login of %s through the proxy: %v", user, err)
	}
	c := &mclient{t: t, s: s, in: make(chan string, 64), done: make(chan error, 1)}
	go func() {
		c.done <- s.Serve(xmpp.HandlerFunc(func(r xmlstream.TokenReadEncoder, start *xml.StartElement) error {
			var buf bytes.Buffer
			enc := xml.NewEncoder(&buf)
			enc.EncodeToken(*start)
			xmlstream.Copy(enc, r)
			enc.EncodeToken(start.End())
			enc.Flush()
			select {
			case c.in <- buf.String():
			default:
			}
			return nil
		}))
	}()
	t.Cleanup(c.close)
	return c
}

func (c *mclient) close() {
	c.once.Do(func() {
		c.s.Close()
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			c.t.Errorf("mellium session did not stop")
		}
		c.s.Conn().Close()
	})
}

func (c *mclient) waitFor(sub string) string {
	c.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case s := <-c.in:
			if strings.Contains(s, sub) {
				return s
			}
		case <-deadline:
			c.t.Fatalf("nothing containing %q arrived", sub)
			return ""
		}
	}
}

func (c *mclient) chat(to, body string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	msg := stanza.Message{To: jid.MustParse(to), Type: stanza.ChatMessage}
	err := c.s.Send(ctx, msg.Wrap(xmlstream.Wrap(xmlstream.Token(xml.CharData(body)), xml.StartElement{Name: xml.Name{Local: "body"}})))
	if err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

func testMelliumThroughProxy(t *testing.T, direct bool) {
	swAddr, swRoots := startSwitch(t, true)
	authority := newCA(t)
	tp := startProxy(t, Config{Upstream: swAddr, CA: authority, UpstreamTLS: &tls.Config{RootCAs: swRoots}}, direct)

	alice := melliumLogin(t, tp.addr, authority.Pool(), direct, "alice", "wonderland")
	bob := melliumLogin(t, tp.addr, authority.Pool(), direct, "bob", "builder")
	if !alice.s.ConnectionState().HandshakeComplete {
		t.Fatal("client leg is not TLS")
	}
	if got := alice.s.ConnectionState().PeerCertificates[0].Issuer.Organization; len(got) == 0 || got[0] != "stanzascope" {
		t.Fatalf("client got a certificate issued by %v, not by the proxy's CA", got)
	}
	alice.chat(bob.s.LocalAddr().String(), "hello through the proxy")
	got := bob.waitFor("hello through the proxy")
	if !strings.Contains(got, alice.s.LocalAddr().String()) {
		t.Errorf("bob got %s, not from %s", got, alice.s.LocalAddr())
	}
	for _, want := range []string{"TLS with client: TLS 1.3", "TLS with upstream: TLS 1.3", "SASL: client chose mechanism SCRAM-SHA-256", "SASL: success", "bound JID alice@localhost/"} {
		tp.sink.waitNote(t, want)
	}
	if direct {
		tp.sink.waitNote(t, "the proxy negotiates STARTTLS with the upstream itself")
	}
	// The message is logged in clear, in both legs.
	var seen [3]bool
	for _, r := range tp.sink.all() {
		if bytes.Contains(r.Raw, []byte("hello through the proxy")) {
			seen[r.Dir] = true
		}
	}
	if !seen[1] || !seen[2] {
		t.Errorf("message logged c2s %v s2c %v, want both", seen[1], seen[2])
	}
	alice.close()
	bob.close()
	tp.stop()
	tp.sink.waitNote(t, "closed after")
}

func TestMelliumSTARTTLS(t *testing.T) { testMelliumThroughProxy(t, false) }

func TestMelliumDirectTLS(t *testing.T) { testMelliumThroughProxy(t, true) }
