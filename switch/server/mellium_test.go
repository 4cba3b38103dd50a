package server

import (
	"context"
	"crypto/tls"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/roster"

	"github.com/stanzascope/stanzascope/switch/store"
	"github.com/stanzascope/stanzascope/switch/switchtest"
)

// melliumLogin connects, negotiates STARTTLS, SCRAM and resource binding with mellium.
func melliumLogin(t testing.TB, ts *testServer, user, pass, res string, mech sasl.Mechanism) *switchtest.Client {
	t.Helper()
	conn, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	return switchtest.Login(t, conn, user+"@localhost/"+res,
		xmpp.StartTLS(&tls.Config{ServerName: "localhost", RootCAs: ts.pool}),
		xmpp.SASL("", pass, mech),
		xmpp.BindResource(),
	)
}

func TestMelliumSession(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "switch.db")
	db, err := store.OpenBolt(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	switchtest.AddAccount(t, db, "alice", "wonderland")
	switchtest.AddAccount(t, db, "bob", "builder")
	ts := startServer(t, func(c *Config) { c.Store = db; c.RequireTLS = true })

	alice := melliumLogin(t, ts, "alice", "wonderland", "phone", sasl.ScramSha256)
	bob := melliumLogin(t, ts, "bob", "builder", "desk", sasl.ScramSha1)
	if !alice.Session().ConnectionState().HandshakeComplete {
		t.Fatal("alice's session is not encrypted")
	}
	// mellium asks for no resource: the server makes one up.
	aliceJID, bobJID := alice.Session().LocalAddr().String(), bob.Session().LocalAddr().String()
	if !strings.HasPrefix(aliceJID, "alice@localhost/stanzascope-") {
		t.Fatalf("bound %s", aliceJID)
	}
	if ts.srv.Sessions() != 2 {
		t.Fatalf("Sessions() = %d, want 2", ts.srv.Sessions())
	}
	ctx := context.Background()

	// Roster: empty, then a set is answered and pushed.
	iter := roster.Fetch(ctx, alice.Session())
	for iter.Next() {
		t.Errorf("unexpected roster item %v", iter.Item())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	iter.Close()
	if err := roster.Set(ctx, alice.Session(), roster.Item{JID: jid.MustParse("bob@localhost"), Name: "Bob", Group: []string{"Builders"}}); err != nil {
		t.Fatal(err)
	}
	alice.WaitFor(`type="set"`, `jid="bob@localhost"`, `name="Bob"`, `subscription="none"`, ">Builders</group>")

	// Subscription handshake, with initial presence on both sides.
	alice.SendRaw("<presence/>")
	bob.SendRaw("<presence/>")
	alice.WaitFor(`from="` + aliceJID + `"`)
	// bob's initial presence handled too: a request that reaches bob's account while
	// bob's initial presence is being handled can miss both the live delivery and the
	// redelivery at login (see the report of issue 13).
	bob.WaitFor(`from="` + bobJID + `"`)
	alice.SendRaw("<presence to='bob@localhost' type='subscribe'/>")
	alice.WaitFor(`ask="subscribe"`)
	bob.WaitFor(`type="subscribe"`, `from="alice@localhost"`)
	bob.SendRaw("<presence to='alice@localhost' type='subscribed'/>")
	alice.WaitFor(`type="subscribed"`, `from="bob@localhost"`) // before the roster push (RFC 6121 3.1.6)
	alice.WaitFor(`subscription="to"`)
	alice.WaitFor("<presence", `from="`+bobJID+`"`)

	// Chat both ways; a spoofed from is replaced.
	alice.SendRaw("<message to='bob@localhost' type='chat' from='mallory@localhost/x'><body>Can we fix it?</body></message>")
	bob.WaitFor(`from="`+aliceJID+`"`, "Can we fix it?")
	bob.SendRaw("<message to='" + aliceJID + "' type='chat'><body>Yes we can &amp; will</body></message>")
	alice.WaitFor(`from="`+bobJID+`"`, "Yes we can &amp; will")

	// An iq to a full JID is routed; to an unknown resource it gets service-unavailable.
	bob.SendRaw("<iq id='v1' type='get' to='alice@localhost/nowhere'><query xmlns='jabber:iq:version'/></iq>")
	bob.WaitFor(`id="v1"`, `type="error"`, "service-unavailable")

	// Offline delivery across a restart: bob leaves, alice writes, the server restarts.
	bob.Close()
	alice.WaitFor(`from="`+bobJID+`"`, `type="unavailable"`)
	alice.SendRaw("<message to='bob@localhost' type='chat'><body>are you there?</body></message>")
	// The answer to a ping comes after the message is stored.
	alice.SendRaw("<iq id='sync' type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	alice.WaitFor(`id="sync"`, `type="result"`)
	alice.Close()
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
	bob.SendRaw("<presence/>")
	bob.WaitFor("<message", `from="`+aliceJID+`"`, "are you there?", `xmlns="urn:xmpp:delay"`, `xmlns="jabber:x:delay"`)
	ts2.stop(t)
}
