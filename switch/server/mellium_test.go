package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/xml"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/roster"

	"github.com/stanzascope/stanzascope/switch/scram"
	"github.com/stanzascope/stanzascope/switch/store"
)

// mclient is a mellium.im/xmpp client session with every stanza it receives captured as
// XML text (re-encoded by encoding/xml, so attributes come in double quotes).
type mclient struct {
	t    testing.TB
	s    *xmpp.Session
	in   chan string
	done chan error
	once sync.Once
}

func addAccount(t testing.TB, st store.Store, user, pass string) {
	t.Helper()
	creds, err := scram.NewCredentials(pass, scram.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateAccount(context.Background(), store.Account{Username: user, Creds: creds}); err != nil {
		t.Fatal(err)
	}
}

// melliumLogin connects, negotiates STARTTLS, SCRAM and resource binding with mellium.
func melliumLogin(t testing.TB, ts *testServer, user, pass, res string, mech sasl.Mechanism) *mclient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	origin := jid.MustParse(user + "@localhost/" + res)
	s, err := xmpp.NewClientSession(ctx, origin, conn,
		xmpp.StartTLS(&tls.Config{ServerName: "localhost", RootCAs: ts.pool}),
		xmpp.SASL("", pass, mech),
		xmpp.BindResource(),
	)
	if err != nil {
		conn.Close()
		t.Fatalf("mellium login of %s: %v", user, err)
	}
	c := &mclient{t: t, s: s, in: make(chan string, 256), done: make(chan error, 1)}
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
	t.Cleanup(func() { c.close() })
	return c
}

func (c *mclient) close() {
	c.once.Do(func() {
		c.s.Close()
		c.s.Conn().Close()
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			c.t.Errorf("mellium session did not stop")
		}
	})
}

func (c *mclient) sendRaw(s string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.s.Send(ctx, xml.NewDecoder(strings.NewReader(s))); err != nil {
		c.t.Fatalf("send %s: %v", s, err)
	}
}

// waitFor returns the first received stanza containing every one of parts, skipping others.
func (c *mclient) waitFor(parts ...string) string {
	c.t.Helper()
	deadline := time.After(5 * time.Second)
	var skipped []string
	for {
		select {
		case s := <-c.in:
			skipped = append(skipped, s)
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(s, p)
			}
			if ok {
				return s
			}
		case <-deadline:
			c.t.Fatalf("%s: nothing containing %q arrived; got:\n%s", c.s.LocalAddr(), parts, strings.Join(skipped, "\n"))
			return ""
		}
	}
}

func TestMelliumSession(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "switch.db")
	db, err := store.OpenBolt(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	addAccount(t, db, "alice", "wonderland")
	addAccount(t, db, "bob", "builder")
	ts := startServer(t, func(c *Config) { c.Store = db; c.RequireTLS = true })

	alice := melliumLogin(t, ts, "alice", "wonderland", "phone", sasl.ScramSha256)
	bob := melliumLogin(t, ts, "bob", "builder", "desk", sasl.ScramSha1)
	if !alice.s.ConnectionState().HandshakeComplete {
		t.Fatal("alice's session is not encrypted")
	}
	// mellium asks for no resource: the server makes one up.
	aliceJID, bobJID := alice.s.LocalAddr().String(), bob.s.LocalAddr().String()
	if !strings.HasPrefix(aliceJID, "alice@localhost/stanzascope-") {
		t.Fatalf("bound %s", aliceJID)
	}
	if ts.srv.Sessions() != 2 {
		t.Fatalf("Sessions() = %d, want 2", ts.srv.Sessions())
	}
	ctx := context.Background()

	// Roster: empty, then a set is answered and pushed.
	iter := roster.Fetch(ctx, alice.s)
	for iter.Next() {
		t.Errorf("unexpected roster item %v", iter.Item())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	iter.Close()
	if err := roster.Set(ctx, alice.s, roster.Item{JID: jid.MustParse("bob@localhost"), Name: "Bob", Group: []string{"Builders"}}); err != nil {
		t.Fatal(err)
	}
	alice.waitFor(`type="set"`, `jid="bob@localhost"`, `name="Bob"`, `subscription="none"`, ">Builders</group>")

	// Subscription handshake, with initial presence on both sides.
	alice.sendRaw("<presence/>")
	bob.sendRaw("<presence/>")
	alice.waitFor(`from="` + aliceJID + `"`)
	alice.sendRaw("<presence to='bob@localhost' type='subscribe'/>")
	alice.waitFor(`ask="subscribe"`)
	bob.waitFor(`type="subscribe"`, `from="alice@localhost"`)
	bob.sendRaw("<presence to='alice@localhost' type='subscribed'/>")
	alice.waitFor(`subscription="to"`) // the roster push comes first (RFC 6121 3.1.6)
	alice.waitFor(`type="subscribed"`, `from="bob@localhost"`)
	alice.waitFor("<presence", `from="`+bobJID+`"`)

	// Chat both ways; a spoofed from is replaced.
	alice.sendRaw("<message to='bob@localhost' type='chat' from='mallory@localhost/x'><body>Can we fix it?</body></message>")
	bob.waitFor(`from="`+aliceJID+`"`, "Can we fix it?")
	bob.sendRaw("<message to='" + aliceJID + "' type='chat'><body>Yes we can &amp; will</body></message>")
	alice.waitFor(`from="`+bobJID+`"`, "Yes we can &amp; will")

	// An iq to a full JID is routed; to an unknown resource it gets service-unavailable.
	bob.sendRaw("<iq id='v1' type='get' to='alice@localhost/nowhere'><query xmlns='jabber:iq:version'/></iq>")
	bob.waitFor(`id="v1"`, `type="error"`, "service-unavailable")

	// Offline delivery across a restart: bob leaves, alice writes, the server restarts.
	bob.close()
	alice.waitFor(`from="`+bobJID+`"`, `type="unavailable"`)
	alice.sendRaw("<message to='bob@localhost' type='chat'><body>are you there?</body></message>")
	time.Sleep(100 * time.Millisecond)
	alice.close()
	ts.stop(t)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db2, err := store.OpenBolt(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	ts2 := startServer(t, func(c *Config) { c.Store = db2 })
	bob = melliumLogin(t, ts2, "bob", "builder", "desk", sasl.ScramSha256)
	it, err := db2.RosterItem(ctx, "alice", "bob@localhost")
	if err != nil || it.Subscription != store.SubTo {
		t.Fatalf("alice's roster item for bob after restart: %+v, %v", it, err)
	}
	bob.sendRaw("<presence/>")
	bob.waitFor("<message", `from="`+aliceJID+`"`, "are you there?", `xmlns="urn:xmpp:delay"`, `xmlns="jabber:x:delay"`)
	ts2.stop(t)
}
