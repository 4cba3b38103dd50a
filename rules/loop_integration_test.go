package rules_test

import (
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/proxy"
	"github.com/stanzascope/stanzascope/rules"
)

// TestInjectionLoopEnds is the case through the proxy in front of the switch: a
// rule injects a message to alice in answer to every message, in both directions. The
// switch delivers each injection to alice, where the rule sees it again; before, each
// delivery made a new injection for as long as alice stayed. Now a delivery of an
// injection makes none: one message from bob gives exactly two injections (for bob's
// message on each side), and the two deliveries are tagged.
func TestInjectionLoopEnds(t *testing.T) {
	swAddr := startSwitch(t)
	f := filepath.Join(t.TempDir(), "rules.yaml")
	writeRules(t, f, `rules:
  - name: answer-everything
    when: {element: message}
    do: [{inject: {to: server, xml: "<message to='alice@localhost/home' type='chat'><body>again</body></message>"}}]
`)
	e, err := rules.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	if w := e.Warnings(); len(w) != 1 || !strings.Contains(w[0].Msg, "could answer itself") {
		t.Errorf("warnings %v", w)
	}
	var mu sync.Mutex
	var injected, answers int
	sink := inspect.SinkFunc(func(r *inspect.Record) error {
		mu.Lock()
		defer mu.Unlock()
		if r.Verdict == "injected" && strings.Contains(string(r.Raw), "again") {
			injected++
		}
		for _, tag := range r.Tags() {
			if strings.Contains(tag.Label, "answers an injected stanza") {
				answers++
			}
		}
		return nil
	})
	p, err := proxy.New(proxy.Config{Upstream: swAddr, Hook: e, Sink: sink, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, "proxy", p.Serve)
	alice := login(t, addr, "alice", "wonderland", "home")
	bob := login(t, addr, "bob", "builder", "tel")

	bob.send("<message to='alice@localhost/home' type='chat' id='m1'><body>hello</body></message>")
	got := map[string]int{}
	for range 3 { // bob's message and the two injections, in some order
		s := alice.next()
		switch {
		case strings.Contains(s, "<body>hello</body>"):
			got["hello"]++
		case strings.Contains(s, "<body>again</body>") && strings.Contains(s, "id='stanzascope-inject-"):
			got["again"]++
		default:
			t.Fatalf("alice got %s", s)
		}
	}
	// A marker through the same server: anything the loop still made would come first.
	alice.send("<iq type='get' id='marker' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	alice.expect("<iq id='marker' type='result' from='localhost' to='alice@localhost/home'/>")
	if got["hello"] != 1 || got["again"] != 2 {
		t.Fatalf("alice got %v", got)
	}
	// Each pipe logs a stanza right after forwarding it: wait for the records, then make
	// sure there are no more.
	counts := func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return injected, answers
	}
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if i, a := counts(); i >= 2 && a >= 2 {
			break
		}
	}
	if i, a := counts(); i != 2 || a != 2 {
		t.Fatalf("%d injections and %d answers logged, want 2 and 2", i, a)
	}
}
