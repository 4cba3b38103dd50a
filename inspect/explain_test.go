package inspect

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// rec builds a stanza record from XML, as the reader would.
func rec(t testing.TB, dir Direction, xml string) *Record {
	t.Helper()
	e, err := ParseElement([]byte(xml), nil)
	if err != nil {
		t.Fatalf("ParseElement(%s): %v", xml, err)
	}
	return &Record{Kind: KindStanza, Dir: dir, Raw: []byte(xml), Name: e.Local, NS: e.Space}
}

func TestExplain(t *testing.T) {
	c, s := ClientToServer, ServerToClient
	cases := []struct {
		name string
		dir  Direction
		xml  string
		want []string // substrings
	}{
		{"features", s, `<stream:features xmlns:stream='http://etherx.jabber.org/streams'><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism><mechanism>SCRAM-SHA-1</mechanism></mechanisms><register xmlns='http://jabber.org/features/iq-register'/></stream:features>`,
			[]string{"Stream features", "STARTTLS (required)", "PLAIN, SCRAM-SHA-1", "in-band registration", "RFC 6120 §4.3.2"}},
		{"empty features", s, `<stream:features xmlns:stream='http://etherx.jabber.org/streams'/>`, []string{"nothing left"}},
		{"starttls", c, `<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`, []string{"STARTTLS request", "§5.4.2.1"}},
		{"proceed", s, `<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`, []string{"proceed", "§5.4.2.3"}},
		{"tls failure", s, `<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`, []string{"STARTTLS failure", "§5.4.2.2"}},
		{"sasl auth", c, `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>biwsbj1q</auth>`, []string{"SASL auth", "SCRAM-SHA-256", "§6.4.2", "RFC 7677"}},
		{"sasl challenge", s, `<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>cj1m</challenge>`, []string{"SASL challenge", "§6.4.3"}},
		{"sasl response", c, `<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>Yz1i</response>`, []string{"SASL response", "§6.4.3"}},
		{"sasl success", s, `<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`, []string{"SASL success", "new stream", "§6.4.6"}},
		{"sasl failure", s, `<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/><text>bad</text></failure>`, []string{"SASL failure", "not-authorized", "§6.5.10"}},
		{"bind request", c, `<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`, []string{"Resource binding request", "choose", "§7.6.1"}},
		{"bind result", s, `<iq type='result' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>juliet@localhost/balcony</jid></bind></iq>`, []string{"juliet@localhost/balcony", "§7.6.1"}},
		{"session", c, `<iq type='set' id='s'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>`, []string{"Session", "RFC 3921"}},
		{"roster get", c, `<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>`, []string{"Roster get", "RFC 6121 §2.1.3"}},
		{"roster result", s, `<iq type='result' id='r'><query xmlns='jabber:iq:roster'><item jid='a@b'/><item jid='c@d'/></query></iq>`, []string{"Roster result", "2 contacts", "§2.1.4"}},
		{"roster set", c, `<iq type='set' id='r'><query xmlns='jabber:iq:roster'><item jid='a@b' name='A'/></query></iq>`, []string{"Roster set", "a@b", "§2.1.5"}},
		{"roster push", s, `<iq type='set' id='p'><query xmlns='jabber:iq:roster'><item jid='a@b' subscription='to'/></query></iq>`, []string{"Roster push", "a@b (subscription to)", "§2.1.6"}},
		{"initial presence", c, `<presence/>`, []string{"Available presence", "initial presence", "§4.2"}},
		{"presence show", s, `<presence from='a@b/c'><show>xa</show><status>gone</status><priority>-1</priority></presence>`, []string{"a@b/c is online", "show xa", "status 'gone'", "priority -1"}},
		{"unavailable", c, `<presence type='unavailable'/>`, []string{"Unavailable", "§4.5"}},
		{"subscribe", c, `<presence to='a@b' type='subscribe'/>`, []string{"Subscription request", "a@b", "§3.1"}},
		{"subscribed", c, `<presence to='a@b' type='subscribed'/>`, []string{"approval", "a@b"}},
		{"unsubscribe", c, `<presence to='a@b' type='unsubscribe'/>`, []string{"Unsubscribe", "§3.3"}},
		{"unsubscribed", c, `<presence to='a@b' type='unsubscribed'/>`, []string{"cancelled", "§3.2"}},
		{"probe", s, `<presence from='localhost' to='a@b' type='probe'/>`, []string{"probe", "§4.3"}},
		{"directed", c, `<presence to='a@b/r'/>`, []string{"Directed presence", "a@b/r", "§4.6"}},
		{"chat", c, `<message to='a@b' type='chat'><body>hi</body></message>`, []string{"Message (chat)", "one-to-one"}},
		{"normal", c, `<message to='a@b'><body>hi</body></message>`, []string{"Message (normal)", "standalone"}},
		{"groupchat", s, `<message from='r@muc/n' type='groupchat'><body>hi</body></message>`, []string{"groupchat", "XEP-0045"}},
		{"headline", s, `<message type='headline'><body>news</body></message>`, []string{"headline", "no reply"}},
		{"chat state", s, `<message type='chat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`, []string{"chat state (composing, XEP-0085)"}},
		{"message error", s, `<message type='error'><error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`, []string{"Message error", "item-not-found", "§8.3.3.7", "do not retry"}},
		{"delayed message", s, `<message type='chat'><body>x</body><delay xmlns='urn:xmpp:delay' stamp='2002-09-10T23:08:25Z'/></message>`, []string{"2002-09-10T23:08:25Z", "XEP-0203"}},
		{"legacy delay", s, `<presence><x xmlns='jabber:x:delay' stamp='20020910T23:08:25'/></presence>`, []string{"XEP-0091"}},
		{"register get", c, `<iq type='get' id='r'><query xmlns='jabber:iq:register'/></iq>`, []string{"Registration form request", "XEP-0077"}},
		{"register form", s, `<iq type='result' id='r'><query xmlns='jabber:iq:register'><instructions>x</instructions><username/><password/></query></iq>`, []string{"username, password"}},
		{"register submit", c, `<iq type='set' id='r'><query xmlns='jabber:iq:register'><username>bob</username><password>x</password></query></iq>`, []string{"'bob'", "XEP-0077"}},
		{"register remove", c, `<iq type='set' id='r'><query xmlns='jabber:iq:register'><remove/></query></iq>`, []string{"Account removal", "§3.2"}},
		{"register conflict", s, `<iq type='error' id='r'><query xmlns='jabber:iq:register'/><error code='409' type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`, []string{"failed", "conflict", "§8.3.3.2", "legacy code 409"}},
		{"legacy error text", s, `<iq type='error' id='r'><error code='409'>Username Not Available</error></iq>`, []string{"Username Not Available", "409"}},
		{"legacy auth get", c, `<iq type='get' id='a'><query xmlns='jabber:iq:auth'><username>bob</username></query></iq>`, []string{"Legacy login", "XEP-0078"}},
		{"legacy auth set", c, `<iq type='set' id='a'><query xmlns='jabber:iq:auth'><username>bob</username><digest>abc</digest><resource>tel</resource></query></iq>`, []string{"'bob'", "'tel'", "digest", "XEP-0078"}},
		{"legacy auth not authorized", s, `<iq type='error' id='a'><error code='401' type='auth'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`, []string{"not-authorized", "authenticate first"}},
		{"disco info", c, `<iq type='get' id='d' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`, []string{"Service discovery", "localhost", "XEP-0030 §3"}},
		{"disco info result", s, `<iq type='result' id='d'><query xmlns='http://jabber.org/protocol/disco#info'><identity category='server' type='im'/><feature var='a'/><feature var='b'/></query></iq>`, []string{"server/im", "2 features"}},
		{"disco items", c, `<iq type='get' id='d'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`, []string{"items", "XEP-0030 §4"}},
		{"ping", s, `<iq type='get' id='p' from='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`, []string{"Ping", "XEP-0199"}},
		{"version", s, `<iq type='result' id='v'><query xmlns='jabber:iq:version'><name>stanzascope</name><version>1</version></query></iq>`, []string{"stanzascope 1", "XEP-0092"}},
		{"empty result", s, `<iq type='result' id='x'/>`, []string{"'x' succeeded", "§8.2.3"}},
		{"unknown iq", c, `<iq type='get' id='u'><query xmlns='urn:example:q'/></iq>`, []string{"urn:example:q", "'u'"}},
		{"stream error", s, `<stream:error xmlns:stream='http://etherx.jabber.org/streams'><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>`, []string{"Stream error", "host-unknown", "§4.9.3.6"}},
		{"known namespace", c, `<r xmlns='urn:xmpp:sm:3'/>`, []string{"<r/>", "stream management (XEP-0198)"}},
		{"unknown", c, `<r xmlns='urn:example:x'/>`, []string{"<r/>", "urn:example:x", "does not explain"}},
		{"known iq payload", c, `<iq type='get' id='l'><query xmlns='jabber:iq:last'/></iq>`, []string{"last activity (XEP-0012)", "'l'"}},
		{"message extensions", c, `<message to='a@b' type='chat'><body>x</body><request xmlns='urn:xmpp:receipts'/><active xmlns='http://jabber.org/protocol/chatstates'/></message>`, []string{"also carries delivery receipts (XEP-0184)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Explain(rec(t, tc.dir, tc.xml))
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("Explain = %q\nwant it to contain %q", got, w)
				}
			}
		})
	}
}

func TestExplainStreamEvents(t *testing.T) {
	legacy := &Header{To: "localhost", ContentNS: NSClient}
	modern := &Header{From: "localhost", ID: "abc", Version: "1.0", ContentNS: NSClient}
	cases := []struct {
		name string
		r    *Record
		want []string
	}{
		{"legacy header", &Record{Kind: KindStreamOpen, Dir: ClientToServer, Header: legacy}, []string{"client opens an XML stream to localhost", "§4.2", "pre-XMPP-1.0"}},
		{"modern header", &Record{Kind: KindStreamOpen, Dir: ServerToClient, Header: modern}, []string{"server answers", "stream id abc", "version 1.0"}},
		{"header from raw", &Record{Kind: KindStreamOpen, Raw: []byte(`<?xml version='1.0'?><stream:stream to='example.org' version='1.0'>`)}, []string{"to example.org", "version 1.0"}},
		{"close", &Record{Kind: KindStreamClose, Dir: ClientToServer}, []string{"Stream close", "§4.4"}},
		{"whitespace", &Record{Kind: KindWhitespace}, []string{"keep-alive"}},
		{"reader error", (&Record{Kind: KindError}).WithErr(&StreamError{Condition: CondRestrictedXML}), []string{"restricted-xml", "§4.9.3.18"}},
		{"cut short", (&Record{Kind: KindError}).WithErr(fmt.Errorf("x: %w", io.ErrUnexpectedEOF)), []string{"ended in the middle"}},
	}
	for _, tc := range cases {
		got := Explain(tc.r)
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: Explain = %q, want %q in it", tc.name, got, w)
			}
		}
	}
	for _, r := range []*Record{{Kind: KindConnOpen}, (&Record{Kind: KindNote}).WithNote("x"), {Kind: KindGap}, (&Record{Kind: KindError}).WithErr(errors.New("x"))} {
		if got := Explain(r); got != "" {
			t.Errorf("Explain(%v) = %q, want nothing", r.Kind, got)
		}
	}
}
