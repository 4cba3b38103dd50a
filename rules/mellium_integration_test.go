package rules_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/xml"
	"net"
	"strings"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/proxy"
	"github.com/stanzascope/stanzascope/proxy/ca"
	"github.com/stanzascope/stanzascope/rules"
	"github.com/stanzascope/stanzascope/switch/scram"
	"github.com/stanzascope/stanzascope/switch/server"
	"github.com/stanzascope/stanzascope/switch/store"
)

// mclient is a mellium XMPP 1.0 session (STARTTLS, SCRAM, bind) whose received stanzas are
// collected as text.
type mclient struct {
	t    *testing.T
	s    *xmpp.Session
	in   chan string
	done chan error
}

func melliumLogin(t *testing.T, addr string, authority *ca.CA, user, pass string) *mclient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s, err := xmpp.NewClientSession(ctx, jid.MustParse(user+"@localhost"), conn,
		xmpp.StartTLS(&tls.Config{ServerName: "localhost", RootCAs: authority.Pool()}),
		xmpp.SASL("", pass, sasl.ScramSha256, sasl.ScramSha1),
		xmpp.BindResource())
	if err != nil {
		conn.Close()
		t.Fatalf("mellium login of %s: %v", user, err)
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
	t.Cleanup(func() {
		s.Close()
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			t.Errorf("mellium session did not stop")
		}
		s.Conn().Close()
	})
	return c
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

// TestExamplesWithMellium runs two example files through the proxy with a mellium client
// doing a full XMPP 1.0 login (STARTTLS intercepted by the proxy, SCRAM, resource binding)
// against the embedded switch: the welcome message is injected after binding, addressed
// to the bound JID, and chat bodies are rewritten; a rule on the bound JID sees it.
func TestExamplesWithMellium(t *testing.T) {
	upCA, err := ca.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
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
	srv, err := server.New(server.Config{Domain: "localhost", Store: st, RequireTLS: true,
		TLS: &tls.Config{Certificates: []tls.Certificate{*leaf}}, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	swAddr := serve(t, "switch", srv.Serve)

	dir := t.TempDir()
	bound := dir + "/bound.yaml"
	writeRules(t, bound, "rules:\n  - name: alice-says\n    when: {direction: c2s, element: message, bound: \"alice@localhost/*\"}\n    do: [tag: from-alice, continue]\n")
	e, err := rules.Load(bound, "examples/welcome.yaml", "examples/rewrite-word.yaml")
	if err != nil {
		t.Fatal(err)
	}
	authority, err := ca.LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var tagged = make(chan []inspect.Tag, 16)
	sink := inspect.SinkFunc(func(r *inspect.Record) error {
		if r.Kind == inspect.KindStanza && r.Dir == inspect.ClientToServer && r.Name == "message" {
			select {
			case tagged <- r.Tags:
			default:
			}
		}
		return nil
	})
	p, err := proxy.New(proxy.Config{Upstream: swAddr, CA: authority, UpstreamTLS: &tls.Config{RootCAs: upCA.Pool()},
		Hook: e, Sink: sink, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, "proxy", p.Serve)

	alice := melliumLogin(t, addr, authority, "alice", "wonderland")
	bob := melliumLogin(t, addr, authority, "bob", "builder")
	w := alice.waitFor("Welcome!")
	if !strings.Contains(w, alice.s.LocalAddr().String()) {
		t.Errorf("welcome not addressed to the bound JID %s: %s", alice.s.LocalAddr(), w)
	}
	bob.waitFor("Welcome!")

	alice.chat(bob.s.LocalAddr().String(), "This parrot is no more")
	if got := bob.waitFor("is no more"); !strings.Contains(got, "This budgie is no more") {
		t.Errorf("bob got %s", got)
	}
	select {
	case tags := <-tagged:
		if len(tags) != 2 || tags[0].Label != "from-alice" || tags[1].Label != "rewritten" {
			t.Errorf("tags %+v", tags)
		}
	case <-time.After(5 * time.Second):
		t.Error("the message was not logged")
	}
}
