package rules_test

import (
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmpp"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/proxy"
	"github.com/stanzascope/stanzascope/proxy/ca"
	"github.com/stanzascope/stanzascope/rules"
	"github.com/stanzascope/stanzascope/switch/server"
	"github.com/stanzascope/stanzascope/switch/store"
	"github.com/stanzascope/stanzascope/switch/switchtest"
)

// melliumLogin logs user in at addr with mellium: STARTTLS (trusting the proxy's CA),
// SCRAM and resource binding.
func melliumLogin(t *testing.T, addr string, authority *ca.CA, user, pass string) *switchtest.Client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return switchtest.Login(t, conn, user+"@localhost",
		xmpp.StartTLS(&tls.Config{ServerName: "localhost", RootCAs: authority.Pool()}),
		xmpp.SASL("", pass, sasl.ScramSha256, sasl.ScramSha1),
		xmpp.BindResource())
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
	switchtest.AddAccount(t, st, "alice", "wonderland")
	switchtest.AddAccount(t, st, "bob", "builder")
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
			case tagged <- r.Tags():
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
	w := alice.WaitFor("Welcome!")
	if !strings.Contains(w, alice.JID()) {
		t.Errorf("welcome not addressed to the bound JID %s: %s", alice.JID(), w)
	}
	bob.WaitFor("Welcome!")

	alice.Chat(bob.JID(), "This parrot is no more")
	if got := bob.WaitFor("is no more"); !strings.Contains(got, "This budgie is no more") {
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
