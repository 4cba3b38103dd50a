package server

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/sasl"

	"github.com/stanzascope/stanzascope/switch/switchtest"
)

// loginWithHeader opens a pre-1.0 stream with header and logs in with jabber:iq:auth.
func loginWithHeader(t *testing.T, addr, header, user, pass, res string) *rawClient {
	t.Helper()
	c := dialRaw(t, addr)
	c.send(header)
	c.expectRe(headerRe)
	c.send("<iq id='auth1' type='set'><query xmlns='jabber:iq:auth'><username>" + user + "</username><password>" + pass + "</password><resource>" + res + "</resource></query></iq>")
	c.expect("<iq id='auth1' type='result'/>")
	return c
}

// available sends initial presence and waits until the server has handled it (the answer
// to a ping comes after it).
func available(c *rawClient) {
	c.t.Helper()
	c.send("<presence/><iq id='ready' type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	for s := c.readStanza(); s[:len("<iq id='ready'")] != "<iq id='ready'"; s = c.readStanza() {
	}
}

// TestHeaderPrefixesReserialised: a stanza may use a prefix its sender declared on its
// stream header; the recipient's stream (our header) does not declare it, so such a
// stanza is re-serialised with its declarations before it is routed or stored. Before,
// one prefix on the header (the streams namespace bound to another prefix, or any one
// namespace) passed for self-contained, and the stanza went out byte for byte with the
// prefix undeclared: an expat recipient (slixmpp) disconnects on it.
func TestHeaderPrefixesReserialised(t *testing.T) {
	cases := []struct {
		name, header, send, want string
	}{{
		"streams namespace on its own prefix",
		"<s:stream to='localhost' xmlns='jabber:client' xmlns:s='http://etherx.jabber.org/streams'>",
		"<message to='dana@localhost' type='chat'><body>hi</body><data xmlns='urn:example:x' s:a='1'/></message>",
		"<message to='dana@localhost' type='chat' from='jane@localhost/Home'><body>hi</body><data xmlns='urn:example:x' xmlns:s='http://etherx.jabber.org/streams' s:a='1'/></message>",
	}, {
		"one namespace on the header",
		"<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' xmlns:x='urn:example:x'>",
		"<message to='dana@localhost' type='chat'><body>hi</body><x:data x:a='1'>v</x:data></message>",
		"<message to='dana@localhost' type='chat' from='jane@localhost/Home'><body>hi</body><x:data xmlns:x='urn:example:x' x:a='1'>v</x:data></message>",
	}, {
		"two namespaces on the header, an iq",
		"<s:stream to='localhost' xmlns='jabber:client' xmlns:s='http://etherx.jabber.org/streams' xmlns:x='urn:example:x'>",
		"<iq id='q1' type='get' to='dana@localhost/Home'><x:query/></iq>",
		"<iq id='q1' type='get' to='dana@localhost/Home' from='jane@localhost/Home'><x:query xmlns:x='urn:example:x'/></iq>",
	}, {
		"the header's binding of stream, used",
		legacyHeader,
		"<message to='dana@localhost' type='chat'><body>hi</body><stream:x/></message>",
		"<message to='dana@localhost' type='chat' from='jane@localhost/Home'><body>hi</body><stream:x/></message>",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, nil)
			registerRaw(t, ts.addr, "jane", "pw")
			registerRaw(t, ts.addr, "dana", "pw")
			jane := loginWithHeader(t, ts.addr, tc.header, "jane", "pw", "Home")
			dana := legacyLogin(t, ts.addr, "dana", "pw", "Home")
			available(dana)
			jane.send(tc.send)
			dana.expect(tc.want)
		})
	}

	// Stored while the recipient is offline: stored re-serialised, delivered so.
	ts := startServer(t, nil)
	registerRaw(t, ts.addr, "jane", "pw")
	registerRaw(t, ts.addr, "dana", "pw")
	jane := loginWithHeader(t, ts.addr, cases[1].header, "jane", "pw", "Home")
	jane.send("<message to='dana@localhost' type='chat'><body>later</body><x:data x:a='1'>v</x:data></message>")
	jane.send("<iq id='sync' type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	jane.expect("<iq id='sync' type='result' from='localhost' to='jane@localhost/Home'/>")
	dana := legacyLogin(t, ts.addr, "dana", "pw", "Home")
	dana.send("<presence/>")
	dana.expectRe(`<message to='dana@localhost' type='chat' from='jane@localhost/Home'><body>later</body><x:data xmlns:x='urn:example:x' x:a='1'>v</x:data>` + delays("localhost") + `</message>`)
}

// requireSlixmpp skips without slixmpp, except under CI (scripts/test.sh sets CI=1),
// where a missing peer is a failure.
func requireSlixmpp(t *testing.T) {
	t.Helper()
	if err := exec.Command("/usr/bin/python3", "-c", "import slixmpp").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("slixmpp is not available to /usr/bin/python3: %v", err)
		}
		t.Skipf("slixmpp is not available to /usr/bin/python3: %v", err)
	}
}

// syncBuffer is a bytes.Buffer safe to read while a command writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// nsIllFormed are stanzas that are well-formed XML but break Namespaces in XML 1.0 (the
// issue's four kinds, in a child and on the message itself); BAD marks each body.
var nsIllFormed = []string{
	"<message to='%s' type='chat'><body>BAD</body><x xmlns:xml='urn:other'/></message>",
	"<message to='%s' type='chat' xmlns:xml='urn:other'><body>BAD</body></message>",
	"<message to='%s' type='chat'><body>BAD</body><x xmlns:xmlns='urn:other'/></message>",
	"<message to='%s' type='chat'><body>BAD</body><x xmlns:a='urn:n' xmlns:b='urn:n' a:y='1' b:y='2'/></message>",
	"<message to='%s' type='chat' xmlns:a='urn:n' xmlns:b='urn:n' a:y='1' b:y='2'><body>BAD</body></message>",
	"<message to='%s' type='chat'><body>BAD</body><x xmlns:p='http://www.w3.org/2000/xmlns/'/></message>",
	"<message to='%s' type='chat'><body>BAD</body><x xmlns:p='http://www.w3.org/XML/1998/namespace'/></message>",
}

// TestNamespacesWithRealRecipients: namespace-ill-formed messages end their sender's
// stream with not-well-formed and reach no one: not a slixmpp (expat) recipient, not a
// mellium one, not the offline store. A message that uses prefixes of its sender's
// stream header reaches slixmpp re-serialised, and slixmpp stays connected.
func TestNamespacesWithRealRecipients(t *testing.T) {
	requireSlixmpp(t)
	ts := startServer(t, nil)
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, ts.certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	// slixmpp registers jane (the sender) and dana (itself), logs in as dana and waits for
	// jane's message with the token.
	token := "token-" + newStreamID()[:8]
	ready := filepath.Join(dir, "ready")
	host, port, _ := strings.Cut(ts.addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	var out syncBuffer
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", "../../scripts/interop/receive.py",
		"--host", host, "--port", port, "--domain", "localhost", "--password", "pw",
		"--user", "dana", "--sender", "jane="+token, "--ready", ready, "--cafile", ca)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(ready); err == nil {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("receive.py ended before it was ready: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("receive.py not ready after 60 s:\n%s", out.String())
		}
	}

	switchtest.AddAccount(t, ts.srv.store, "carol", "pw")
	switchtest.AddAccount(t, ts.srv.store, "olga", "pw")
	carol := melliumLogin(t, ts, "carol", "pw", "phone", sasl.ScramSha256)
	carol.SendRaw("<presence/>")
	carol.WaitFor("<presence", `from="`+carol.JID()+`"`)

	for _, bad := range nsIllFormed {
		for _, to := range []string{"dana@localhost", "carol@localhost", "olga@localhost"} {
			jane := legacyLogin(t, ts.addr, "jane", "pw", "Home")
			jane.send(fmt.Sprintf(bad, to))
			expectStreamError(t, jane, "not-well-formed")
		}
	}
	jane := legacyLogin(t, ts.addr, "jane", "pw", "Home")
	jane.send("<message to='carol@localhost' type='chat'><body>marker</body></message>")
	carol.WaitForNone("BAD", "marker")
	jane.send("<message to='olga@localhost' type='chat'><body>marker</body></message>")
	jane.send("<iq id='sync' type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	jane.expect("<iq id='sync' type='result' from='localhost' to='jane@localhost/Home'/>")
	stored, err := ts.srv.store.TakeOffline(context.Background(), "olga")
	if err != nil || len(stored) != 1 || !strings.Contains(string(stored[0].Stanza), "marker") {
		t.Errorf("olga's offline store holds %d messages (%v), want only the marker: %q", len(stored), err, stored)
	}

	// The message slixmpp waits for uses a prefix of its sender's header.
	pj := loginWithHeader(t, ts.addr, "<s:stream to='localhost' xmlns='jabber:client' xmlns:s='http://etherx.jabber.org/streams'>", "jane", "pw", "Other")
	pj.send("<message to='dana@localhost' type='chat'><body>" + token + "</body><data xmlns='urn:example:x' s:a='1'/></message>")
	select {
	case err := <-done:
		if err != nil || !strings.Contains(out.String(), "PASS") {
			t.Fatalf("receive.py: %v\n%s", err, out.String())
		}
		if strings.Contains(out.String(), "BAD") {
			t.Errorf("slixmpp got a namespace-ill-formed message:\n%s", out.String())
		}
	case <-ctx.Done():
		t.Fatalf("receive.py did not finish:\n%s", out.String())
	}
}
