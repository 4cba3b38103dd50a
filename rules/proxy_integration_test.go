package rules_test

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/proxy"
	"github.com/stanzascope/stanzascope/rules"
	"github.com/stanzascope/stanzascope/switch/server"
	"github.com/stanzascope/stanzascope/switch/store"
	"github.com/stanzascope/stanzascope/switch/switchtest"
)

// startSwitch runs the embedded switch on loopback with accounts alice and bob.
func startSwitch(t testing.TB) string {
	t.Helper()
	st := store.NewMemory()
	switchtest.AddAccount(t, st, "alice", "wonderland")
	switchtest.AddAccount(t, st, "bob", "builder")
	srv, err := server.New(server.Config{Domain: "localhost", Store: st, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, "switch", func(ctx context.Context, ln net.Listener) error { return srv.Serve(ctx, ln) })
}

// serve runs a server on a loopback listener and stops it at the end of the test.
func serve(t testing.TB, what string, run func(context.Context, net.Listener) error) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: %v", what, err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s did not stop", what)
		}
	})
	return ln.Addr().String()
}

func writeRules(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// client is a pre-1.0 (textbook) client on a raw socket; what it receives is framed by
// the stream reader and collected as text.
type client struct {
	t    testing.TB
	conn net.Conn
	in   chan string
	done chan struct{}
}

func login(t testing.TB, addr, user, pass, res string) *client {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, conn: conn, in: make(chan string, 64), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		rd := inspect.NewReader(conn, inspect.Limits{})
		for {
			ev, err := rd.Next()
			if err != nil {
				return
			}
			if ev.Kind == inspect.KindStanza {
				c.in <- string(ev.Raw)
			}
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		<-c.done
	})
	c.send("<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")
	c.send("<iq id='auth1' type='set'><query xmlns='jabber:iq:auth'><username>" + user + "</username><password>" + pass + "</password><resource>" + res + "</resource></query></iq>")
	c.expect("<iq id='auth1' type='result'/>")
	return c
}

func (c *client) send(s string) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// next returns the next stanza received, failing after a bounded wait.
func (c *client) next() string {
	c.t.Helper()
	select {
	case s := <-c.in:
		return s
	case <-time.After(5 * time.Second):
		c.t.Fatal("no stanza arrived")
		return ""
	}
}

func (c *client) expect(want string) {
	c.t.Helper()
	if got := c.next(); got != want {
		c.t.Fatalf("got  %s\nwant %s", got, want)
	}
}

const integrationRules = `namespaces: {roster: "jabber:iq:roster"}
rules:
  - name: drop-secret
    when: {direction: c2s, element: message, xpath: "contains(body, 'DROPME')"}
    do: [drop]
  - name: roster-fails
    when: {direction: c2s, element: iq, type: get, xpath: "roster:query"}
    do: [{reject: {condition: internal-server-error, text: "roster down"}}]
  - name: rewrite
    when: {element: message, xpath: "contains(body, 'parrot')"}
    do: [{replace-text: {xpath: body, regexp: parrot, with: budgie}}]
  - name: slow
    when: {direction: c2s, element: message, xpath: "starts-with(body, 'slow')"}
    do: [delay: 300ms]
  - name: welcome
    when: {direction: c2s, element: message, xpath: "body = 'hello-inject'"}
    do: [{inject: {to: client, xml: "<message from='localhost'><body>injected</body></message>"}}]
`

// TestThroughProxy runs real traffic: clients -> proxy with rules -> embedded switch.
func TestThroughProxy(t *testing.T) {
	swAddr := startSwitch(t)
	f := filepath.Join(t.TempDir(), "rules.yaml")
	writeRules(t, f, integrationRules)
	e, err := rules.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var logged []*inspect.Record
	sink := inspect.SinkFunc(func(r *inspect.Record) error {
		mu.Lock()
		logged = append(logged, r)
		mu.Unlock()
		return nil
	})
	p, err := proxy.New(proxy.Config{Upstream: swAddr, Hook: e, Sink: sink, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, "proxy", p.Serve)

	bob := login(t, addr, "bob", "builder", "tel")
	alice := login(t, addr, "alice", "wonderland", "home")
	msg := func(body string) string {
		return "<message to='bob@localhost/tel' type='chat'><body>" + body + "</body></message>"
	}
	got := func(body string) string {
		return "<message to='bob@localhost/tel' type='chat' from='alice@localhost/home'><body>" + body + "</body></message>"
	}

	// drop: the first message never arrives, the second does.
	alice.send(msg("one DROPME"))
	alice.send(msg("two"))
	bob.expect(got("two"))

	// reject: the error comes back with the request's id; the switch never answers.
	alice.send("<iq type='get' id='ro1'><query xmlns='jabber:iq:roster'/></iq>")
	alice.expect("<iq id='ro1' type='error'><error code='500' type='cancel'><internal-server-error xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>roster down</text></error></iq>")

	// rewrite.
	alice.send(msg("a parrot"))
	bob.expect(got("a budgie"))

	// delay keeps the order within the direction.
	start := time.Now()
	alice.send(msg("slow1"))
	alice.send(msg("fast2"))
	bob.expect(got("slow1"))
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("delayed message arrived after %v", d)
	}
	bob.expect(got("fast2"))

	// inject: alice gets an extra stanza, bob the message.
	alice.send(msg("hello-inject"))
	alice.expect("<message from='localhost' id='stanzascope-inject-1'><body>injected</body></message>")
	bob.expect(got("hello-inject"))

	for _, c := range e.Counts() {
		if c.Count != 1 {
			t.Errorf("rule %s matched %d times, want 1", c.Name, c.Count)
		}
	}
	// The log marks what the rules did.
	want := map[string]string{"one DROPME": "dropped", "ro1": "rejected", "slow1": "delayed"}
	deadline := time.Now().Add(5 * time.Second)
	for len(want) > 0 && time.Now().Before(deadline) {
		mu.Lock()
		for _, r := range logged {
			for k, v := range want {
				if string(r.Verdict) == v && strings.Contains(string(r.Raw), k) {
					delete(want, k)
				}
			}
		}
		mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	if len(want) > 0 {
		t.Errorf("not marked in the log: %v", want)
	}
	var changed bool
	mu.Lock()
	for _, r := range logged {
		if strings.Contains(string(r.Original()), "a parrot") && strings.Contains(string(r.Raw), "a budgie") {
			changed = true
		}
	}
	mu.Unlock()
	if !changed {
		t.Error("the rewritten stanza is not logged with its original")
	}
}

// proxyStreams are what alice sends to bob in BenchmarkProxy: a typical mix (chat
// messages, presences, iq requests and a result, all addressed to bob so that the switch
// routes every one to him) and chat messages only, the stanzas the 50 rules look at most
// (ten XPath conditions on the body). In each, the rules of "rules=50-match" match 1
// stanza in 5 client to server (the parrot, and the ping in the mix).
var proxyStreams = map[string][]string{
	"mixed": {
		`<message to='bob@localhost/tel' type='chat' id='m1'><body>Hello Bob, did you see the parrot?</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>`,
		`<presence to='bob@localhost/tel'><show>away</show><status>At lunch</status><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://example.org' ver='QgayPKawpkPSDYmwT/WM94uAlu0='/></presence>`,
		`<iq type='get' id='v1' to='bob@localhost/tel'><query xmlns='jabber:iq:version'/></iq>`,
		`<iq type='get' id='p1' to='bob@localhost/tel'><ping xmlns='urn:xmpp:ping'/></iq>`,
		`<iq type='result' id='p2' to='bob@localhost/tel'/>`,
		`<presence to='bob@localhost/tel'/>`,
		`<iq type='get' id='d1' to='bob@localhost/tel'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
		`<message to='bob@localhost/tel' type='chat' id='m2'><body>Yes, it is pining for the fjords.</body></message>`,
		`<message to='bob@localhost/tel' type='chat' id='m3'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`,
		`<presence to='bob@localhost/tel'><show>dnd</show></presence>`,
	},
	"chat": {
		`<message to='bob@localhost/tel' type='chat' id='m1'><body>Hello Bob, did you see the parrot?</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>`,
		`<message to='bob@localhost/tel' type='chat' id='m2'><body>Yes, it is pining for the fjords.</body></message>`,
		`<message to='bob@localhost/tel' type='chat' id='m3'><body>It is resting.</body></message>`,
		`<message to='bob@localhost/tel' type='chat' id='m4'><body>Remarkable bird, the Norwegian Blue.</body></message>`,
		`<message to='bob@localhost/tel' type='chat' id='m5'><body>Beautiful plumage!</body></message>`,
	},
}

// BenchmarkProxy measures stanzas per second from one client to another through the proxy
// and the embedded switch, with each rule set of BenchmarkApply. Each stanza meets the
// rules twice: client to server, then server to client (matches/stanza counts both).
func BenchmarkProxy(b *testing.B) {
	for _, mix := range []string{"mixed", "chat"} {
		for _, set := range rules.BenchRuleSets() {
			b.Run(mix+"/"+set, func(b *testing.B) {
				benchProxy(b, proxyStreams[mix], set)
			})
		}
	}
}

func benchProxy(b *testing.B, stream []string, set string) {
	swAddr := startSwitch(b)
	f := filepath.Join(b.TempDir(), "rules.yaml")
	writeRules(b, f, rules.BenchRules(set))
	e, err := rules.Load(f)
	if err != nil {
		b.Fatal(err)
	}
	p, err := proxy.New(proxy.Config{Upstream: swAddr, Hook: e, Logf: func(string, ...any) {}})
	if err != nil {
		b.Fatal(err)
	}
	addr := serve(b, "proxy", p.Serve)
	bob := login(b, addr, "bob", "builder", "tel")
	alice := login(b, addr, "alice", "wonderland", "home")
	b.ReportAllocs()
	b.ResetTimer()
	go func() {
		for i := 0; i < b.N; i++ {
			if _, err := io.WriteString(alice.conn, stream[i%len(stream)]); err != nil {
				return
			}
		}
	}()
	for i := 0; i < b.N; i++ {
		select {
		case <-bob.in:
		case <-time.After(10 * time.Second):
			b.Fatalf("stanza %d of %d did not arrive", i, b.N)
		}
	}
	b.StopTimer()
	rules.ReportMatches(b, e, b.N)
}
