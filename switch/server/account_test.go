package server

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stanzascope/stanzascope/switch/store"
)

func TestRosterByteLevel(t *testing.T) {
	ts := startServer(t, nil)
	jane, dana := pair(t, ts)
	jane.send("<iq id='g1' type='get'><query xmlns='jabber:iq:roster'/></iq>")
	jane.expect("<iq id='g1' type='result' to='jane@localhost/Home'><query xmlns='jabber:iq:roster'></query></iq>")
	jane.send("<iq id='s1' type='set'><query xmlns='jabber:iq:roster'><item jid='Dana@localhost' name='Dana &amp; co'><group>Friends</group></item></query></iq>")
	jane.expect("<iq id='s1' type='result' to='jane@localhost/Home'/>")
	jane.expectRe(`<iq id='push\d+' type='set' to='jane@localhost/Home'><query xmlns='jabber:iq:roster'><item jid='dana@localhost' name='Dana &amp; co' subscription='none'><group>Friends</group></item></query></iq>`)
	jane.send("<presence to='dana@localhost' type='subscribe'/>")
	jane.expectRe(`<iq id='push\d+' type='set' to='jane@localhost/Home'><query xmlns='jabber:iq:roster'><item jid='dana@localhost' name='Dana &amp; co' subscription='none' ask='subscribe'><group>Friends</group></item></query></iq>`)
	dana.expect("<presence from='jane@localhost' to='dana@localhost' type='subscribe'/>")

	// Dana is offline when she approves later: the request waits across her logins.
	dana.send("</stream:stream>")
	dana.expect("</stream:stream>")
	dana = legacyLogin(t, ts.addr, "dana", "pw", "Home")
	dana.send("<presence/>")
	dana.expect("<presence from='jane@localhost' to='dana@localhost' type='subscribe'/>")
	dana.send("<presence to='jane@localhost' type='subscribed'/>")
	// RFC 6121 section 3.1.6: the approval first, then the roster push.
	jane.expect("<presence from='dana@localhost' to='jane@localhost' type='subscribed'/>")
	jane.expectRe(`<iq id='push\d+' type='set' to='jane@localhost/Home'><query xmlns='jabber:iq:roster'><item jid='dana@localhost' name='Dana &amp; co' subscription='to'><group>Friends</group></item></query></iq>`)
	jane.expect("<presence from='dana@localhost/Home' to='jane@localhost/Home'/>")

	// Errors: two items, a bad JID, removing what is not there.
	jane.send("<iq id='e1' type='set'><query xmlns='jabber:iq:roster'><item jid='a@localhost'/><item jid='b@localhost'/></query></iq>")
	jane.expectRe(`<iq id='e1' type='error' to='jane@localhost/Home'><error code='400' type='modify'><bad-request .*</error></iq>`)
	jane.send("<iq id='e2' type='set'><query xmlns='jabber:iq:roster'><item jid='nobody@localhost' subscription='remove'/></query></iq>")
	jane.expect("<iq id='e2' type='error' to='jane@localhost/Home'><error code='404' type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")

	// Removing the item cancels the subscription: dana hears unsubscribe, jane sees dana go.
	jane.send("<iq id='r1' type='set'><query xmlns='jabber:iq:roster'><item jid='dana@localhost' subscription='remove'/></query></iq>")
	jane.expect("<iq id='r1' type='result' to='jane@localhost/Home'/>")
	jane.expectRe(`<iq id='push\d+' type='set' to='jane@localhost/Home'><query xmlns='jabber:iq:roster'><item jid='dana@localhost' name='Dana &amp; co' subscription='remove'><group>Friends</group></item></query></iq>`)
	dana.expect("<presence from='jane@localhost' to='dana@localhost' type='unsubscribe'/>")
	if it, err := ts.srv.store.RosterItem(context.Background(), "dana", "jane@localhost"); err == nil && it.Subscription != store.SubNone {
		t.Fatalf("dana's item for jane after the removal: %+v", it)
	}
}

func TestPriorityAndDirectedPresence(t *testing.T) {
	ts := startServer(t, nil)
	jane, dana := pair(t, ts)
	work := legacyLogin(t, ts.addr, "dana", "pw", "Work")
	work.send("<presence><priority>10</priority></presence>")
	dana.expect("<presence from='dana@localhost/Work' to='dana@localhost/Home'><priority>10</priority></presence>")
	work.expectRe(`<presence from='dana@localhost/Home' to='dana@localhost/Work'>` + delays("dana@localhost/Home") + `</presence>`)
	// A message to the bare JID goes to the highest priority only.
	jane.send("<message to='dana@localhost' type='chat'><body>1</body></message>")
	work.expect("<message to='dana@localhost' type='chat' from='jane@localhost/Home'><body>1</body></message>")
	dana.expectNothingBefore(jane, "jane@localhost/Home", "dana@localhost/Home")
	// A negative priority never gets bare-JID messages; equal priorities both do.
	work.send("<presence><priority>-1</priority></presence>")
	dana.expect("<presence from='dana@localhost/Work' to='dana@localhost/Home'><priority>-1</priority></presence>")
	jane.send("<message to='dana@localhost' type='chat'><body>2</body></message>")
	dana.expect("<message to='dana@localhost' type='chat' from='jane@localhost/Home'><body>2</body></message>")
	work.expectNothingBefore(jane, "jane@localhost/Home", "dana@localhost/Work")
	// A full JID reaches that resource whatever its priority.
	jane.send("<message to='dana@localhost/Work'><body>3</body></message>")
	work.expect("<message to='dana@localhost/Work' from='jane@localhost/Home'><body>3</body></message>")

	// Directed presence, then the sender drops its TCP connection: the target hears it left.
	jane.send("<presence to='dana@localhost/Home'><status>hi</status></presence>")
	dana.expect("<presence to='dana@localhost/Home' from='jane@localhost/Home'><status>hi</status></presence>")
	jane.conn.Close()
	dana.expect("<presence from='jane@localhost/Home' to='dana@localhost/Home' type='unavailable'/>")
}

func TestServerQueries(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Version = "1.2.3" })
	jane, _ := pair(t, ts)
	jane.send("<iq id='p1' type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	jane.expect("<iq id='p1' type='result' from='localhost' to='jane@localhost/Home'/>")
	jane.send("<iq id='v1' type='get' to='localhost'><query xmlns='jabber:iq:version'/></iq>")
	jane.expect("<iq id='v1' type='result' from='localhost' to='jane@localhost/Home'><query xmlns='jabber:iq:version'><name>stanzascope</name><version>1.2.3</version></query></iq>")
	jane.send("<iq id='d1' type='get' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	s := jane.readStanza()
	for _, want := range []string{"<identity category='server' type='im' name='stanzascope'/>", "<feature var='urn:xmpp:ping'/>", "<feature var='jabber:iq:register'/>", "<feature var='http://jabber.org/protocol/disco#items'/>"} {
		if !strings.Contains(s, want) {
			t.Errorf("disco#info %q lacks %q", s, want)
		}
	}
	jane.send("<iq id='d2' type='get' to='localhost'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>")
	jane.expect("<iq id='d2' type='result' from='localhost' to='jane@localhost/Home'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>")
	jane.send("<iq id='d3' type='get' to='dana@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	jane.expectRe(`<iq id='d3' type='result' from='dana@localhost' to='jane@localhost/Home'><query xmlns='http://jabber.org/protocol/disco#info'><identity category='account' type='registered'/>.*</query></iq>`)
	jane.send("<iq id='d4' type='get' to='ghost@localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
	jane.expect("<iq id='d4' type='error' from='ghost@localhost' to='jane@localhost/Home'><error code='503' type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")
	jane.send("<iq id='n1' type='get'/>")
	jane.expectRe(`<iq id='n1' type='error' to='jane@localhost/Home'><error code='400' type='modify'><bad-request .*</error></iq>`)
}

func TestPasswordChangeAndCancel(t *testing.T) {
	ts := startServer(t, nil)
	jane, dana := pair(t, ts)
	jane.send("<presence to='dana@localhost' type='subscribe'/>")
	dana.expect("<presence from='jane@localhost' to='dana@localhost' type='subscribe'/>")
	dana.send("<presence to='jane@localhost' type='subscribed'/>")
	jane.readStanza()
	jane.readStanza()

	jane.send("<iq id='g' type='get'><query xmlns='jabber:iq:register'/></iq>")
	jane.expect("<iq id='g' type='result' to='jane@localhost/Home'><query xmlns='jabber:iq:register'><registered/><username>jane</username><password/></query></iq>")
	jane.send("<iq id='c' type='set'><query xmlns='jabber:iq:register'><username>jane</username><password>new-pw</password></query></iq>")
	jane.expect("<iq id='c' type='result' to='jane@localhost/Home'/>")
	jane.send("<iq id='c2' type='set'><query xmlns='jabber:iq:register'><username>dana</username><password>mine now</password></query></iq>")
	jane.expectRe(`<iq id='c2' type='error' to='jane@localhost/Home'><error code='405' type='cancel'><not-allowed .*</error></iq>`)
	j2 := legacyLogin(t, ts.addr, "jane", "new-pw", "Other")

	// Cancel: the result, then not-authorized to every session; dana's subscription ends.
	jane.send("<iq id='x' type='set'><query xmlns='jabber:iq:register'><remove/></query></iq>")
	jane.expect("<iq id='x' type='result' to='jane@localhost/Home'/>")
	jane.expectRe(`<presence from='dana@localhost/Home' to='jane@localhost' type='unavailable'/>`)
	expectStreamError(t, jane, "not-authorized")
	expectStreamError(t, j2, "not-authorized")
	dana.expect("<presence from='jane@localhost' to='dana@localhost' type='unsubscribe'/>")
	if _, err := ts.srv.store.Account(context.Background(), "jane"); err == nil {
		t.Fatal("the account survived its cancellation")
	}
	if it, err := ts.srv.store.RosterItem(context.Background(), "dana", "jane@localhost"); err == nil && it.Subscription != store.SubNone {
		t.Fatalf("dana still subscribed to a deleted account: %+v", it)
	}
	c := dialRaw(t, ts.addr)
	c.send(legacyHeader)
	c.expectRe(headerRe)
	c.send("<iq id='a' type='set'><query xmlns='jabber:iq:auth'><username>jane</username><password>new-pw</password><resource>r</resource></query></iq>")
	c.expect("<iq id='a' type='error'><error code='401' type='auth'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")
}

// TestOfflineQuota fills a user's offline queue to the store's limit (lowered to 3) and
// checks that the next message gets resource-constraint (RFC 6120 8.3.3.18), also after the
// switch restarted on the same database: the store counts the queue, not the server.
func TestOfflineQuota(t *testing.T) {
	path := filepath.Join(t.TempDir(), "switch.db")
	var db *store.Bolt
	start := func() *testServer {
		var err error
		if db, err = store.OpenBolt(path, store.WithLimits(store.Limits{Offline: 3})); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() }) // after the server stopped: cleanups run last first
		return startServer(t, func(c *Config) { c.Store = db })
	}
	const full = "<message id='full' type='error' from='dana@localhost' to='jane@localhost/Home'><error code='500' type='wait'><resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>offline storage full</text></error></message>"
	ts := start()
	registerRaw(t, ts.addr, "dana", "pw")
	registerRaw(t, ts.addr, "jane", "pw")
	jane := legacyLogin(t, ts.addr, "jane", "pw", "Home")
	jane.send(strings.Repeat("<message to='dana@localhost'><body>x</body></message>", 3))
	jane.send("<message id='full' to='dana@localhost'><body>one too many</body></message>")
	jane.expect(full)

	ts.stop(t)
	db.Close()
	ts = start()
	jane = legacyLogin(t, ts.addr, "jane", "pw", "Home")
	jane.send("<message id='full' to='dana@localhost'><body>still too many</body></message>")
	jane.expect(full)
	dana := legacyLogin(t, ts.addr, "dana", "pw", "Home")
	dana.send("<presence/>")
	for i := range 3 {
		if s := dana.readStanza(); !strings.HasPrefix(s, "<message to='dana@localhost' from='jane@localhost/Home'><body>x</body><delay") {
			t.Fatalf("offline message %d: %q", i, s)
		}
	}
	jane.send("<message id='ok' to='dana@localhost'><body>room again</body></message>")
	dana.expect("<message id='ok' to='dana@localhost' from='jane@localhost/Home'><body>room again</body></message>")
}

// TestApprovalReachesInterestedResource: a resource that asked for the roster but sent no
// presence is an interested resource (RFC 6121 section 2.2); it gets the subscription
// approval, before the roster push that it explains (section 3.1.6).
func TestApprovalReachesInterestedResource(t *testing.T) {
	ts := startServer(t, nil)
	registerRaw(t, ts.addr, "jane", "pw")
	registerRaw(t, ts.addr, "dana", "pw")
	jane := legacyLogin(t, ts.addr, "jane", "pw", "Home")
	dana := legacyLogin(t, ts.addr, "dana", "pw", "Home")
	dana.send("<presence/>")
	jane.send("<iq id='g1' type='get'><query xmlns='jabber:iq:roster'/></iq>")
	jane.expect("<iq id='g1' type='result' to='jane@localhost/Home'><query xmlns='jabber:iq:roster'></query></iq>")
	jane.send("<presence to='dana@localhost' type='subscribe'/>")
	jane.expectRe(`<iq id='push\d+' type='set' to='jane@localhost/Home'><query xmlns='jabber:iq:roster'><item jid='dana@localhost' subscription='none' ask='subscribe'/></query></iq>`)
	dana.expect("<presence from='jane@localhost' to='dana@localhost' type='subscribe'/>")
	dana.send("<presence to='jane@localhost' type='subscribed'/>")
	jane.expect("<presence from='dana@localhost' to='jane@localhost' type='subscribed'/>")
	jane.expectRe(`<iq id='push\d+' type='set' to='jane@localhost/Home'><query xmlns='jabber:iq:roster'><item jid='dana@localhost' subscription='to'/></query></iq>`)
}
