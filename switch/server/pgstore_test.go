package server

import (
	"context"
	"encoding/base64"
	"testing"

	"github.com/stanzascope/stanzascope/switch/store/pgstore"
	"github.com/stanzascope/stanzascope/switch/store/pgtest"
)

// startPG runs a switch on a fresh PostgreSQL database of the package's cluster.
func startPG(t *testing.T) (*testServer, *pgtest.Cluster) {
	t.Helper()
	db, err := pgstore.Open(context.Background(), pgtest.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() }) // after the server stopped
	return startServer(t, func(c *Config) { c.Store = db }), pgtest.Shared(t)
}

// TestStoreUnavailable stops the database under a running switch: a login fails with the
// stream error internal-server-error and a text that says why, a message for an offline
// user is bounced as an internal-server-error instead of being taken (so nothing is
// acknowledged that is not stored), the sessions already open keep working, and once the
// database is back what was stored before is delivered. (The package's tests run one at a
// time, so the shared cluster can be stopped here.)
func TestStoreUnavailable(t *testing.T) {
	ts, pg := startPG(t)
	registerRaw(t, ts.addr, "jane", "pw")
	registerRaw(t, ts.addr, "dana", "pw")
	jane := legacyLogin(t, ts.addr, "jane", "pw", "Home")
	jane.send("<message id='m1' to='dana@localhost'><body>before</body></message>")
	// The ping's answer comes after the message was handled: it is stored.
	jane.send("<iq id='p1' type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	jane.expect("<iq id='p1' type='result' from='localhost' to='jane@localhost/Home'/>")

	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	const down = "<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>the account database is unavailable; try again later</text>"
	jane.send("<message id='m2' to='dana@localhost'><body>during</body></message>")
	jane.expect("<message id='m2' type='error' from='dana@localhost' to='jane@localhost/Home'><error code='500' type='wait'><internal-server-error xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>" + down + "</error></message>")
	c := dialRaw(t, ts.addr)
	c.send(legacyHeader)
	c.expectRe(headerRe)
	c.send("<iq id='a' type='set'><query xmlns='jabber:iq:auth'><username>dana</username><password>pw</password><resource>r</resource></query></iq>")
	c.expect("<stream:error><internal-server-error xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>the account database is unavailable; try again later</text></stream:error></stream:stream>")
	c.expectEOF()
	// SASL, PLAIN and SCRAM alike.
	for _, auth := range []string{
		"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + base64.StdEncoding.EncodeToString([]byte("\x00dana\x00pw")) + "</auth>",
		"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>" + base64.StdEncoding.EncodeToString([]byte("n,,n=dana,r=fyko+d2lbbFgONRv9qkxdawL")) + "</auth>",
	} {
		c := dialRaw(t, ts.addr)
		c.send(header10)
		c.readStanza()
		c.readStanza() // features
		c.send(auth)
		c.expect("<stream:error><internal-server-error xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>the account database is unavailable; try again later</text></stream:error></stream:stream>")
		c.expectEOF()
	}
	jane.send("<iq id='p2' type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	jane.expect("<iq id='p2' type='result' from='localhost' to='jane@localhost/Home'/>")

	if err := pg.Restart(); err != nil {
		t.Fatal(err)
	}
	dana := legacyLogin(t, ts.addr, "dana", "pw", "Home")
	dana.send("<presence/>")
	dana.expectRe(`<message id='m1' to='dana@localhost' from='jane@localhost/Home'><body>before</body><delay .*</message>`)
}
