package server

import (
	"testing"
	"time"
)

const delayRe = `<delay xmlns='urn:xmpp:delay' from='%s' stamp='\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ'/><x xmlns='jabber:x:delay' from='%s' stamp='\d{8}T\d\d:\d\d:\d\d'/>`

func delays(from string) string {
	q := regexpQuote(from)
	return sprintf(delayRe, q, q)
}

// TestTextbookSession walks docs/textbook-session.md byte for byte over TCP.
func TestTextbookSession(t *testing.T) {
	ts := startServer(t, nil)

	// 1. Ringing the phone: a pre-1.0 header gets ours at once, and no features.
	p := dialRaw(t, ts.addr)
	p.send("<stream:stream to='localhost' xmlns='jabber:client'\n     xmlns:stream='http://etherx.jabber.org/streams'>")
	p.expectRe(headerRe)

	// 2. Asking how to register.
	p.send("<iq id='AnythingYouWantHere' type='get'><query xmlns='jabber:iq:register'/></iq>")
	p.expect("<iq id='AnythingYouWantHere' type='result'><query xmlns='jabber:iq:register'><instructions>Choose a username and password to register with this server.</instructions><username/><password/><name/><email/></query></iq>")

	// 3. Registering, and registering again: 409 with the query echoed.
	reg := "<iq id='WhateverYouWantHere' type='set'><query xmlns='jabber:iq:register'><username>Mr_Praline</username><password>NorwegianBlue</password><name>Mr_Praline</name><email>Mr_Praline@python.com</email></query></iq>"
	p.send(reg)
	p.expect("<iq id='WhateverYouWantHere' type='result'/>")
	p.send(reg)
	p.expect("<iq id='WhateverYouWantHere' type='error'><query xmlns='jabber:iq:register'><username>Mr_Praline</username><password>NorwegianBlue</password><name>Mr_Praline</name><email>Mr_Praline@python.com</email></query><error code='409' type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>Username Not Available</text></error></iq>")
	for _, u := range []string{"jane", "dana"} {
		p.send("<iq id='reg-" + u + "' type='set'><query xmlns='jabber:iq:register'><username>" + u + "</username><password>pw-" + u + "</password></query></iq>")
		p.expect("<iq id='reg-" + u + "' type='result'/>")
	}

	// 4. Logging in the old way: the fields, a wrong password, no resource, then success.
	p.send("<iq id='auth0' type='get'><query xmlns='jabber:iq:auth'><username>Mr_Praline</username></query></iq>")
	p.expect("<iq id='auth0' type='result'><query xmlns='jabber:iq:auth'><username>Mr_Praline</username><password/><resource/></query></iq>")
	p.send("<iq id='bad' type='set'><query xmlns='jabber:iq:auth'><username>Mr_Praline</username><password>wrong</password><resource>telnet</resource></query></iq>")
	p.expect("<iq id='bad' type='error'><error code='401' type='auth'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")
	p.send("<iq id='nores' type='set'><query xmlns='jabber:iq:auth'><username>Mr_Praline</username><password>NorwegianBlue</password></query></iq>")
	p.expectRe(`<iq id='nores' type='error'><error code='406' type='modify'><not-acceptable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>.*</error></iq>`)
	p.send("<iq id='auth1' type='set'><query xmlns='jabber:iq:auth'>\n  <username>Mr_Praline</username><password>NorwegianBlue</password><resource>telnet</resource>\n</query></iq>")
	p.expect("<iq id='auth1' type='result'/>")

	// Jane and Dana come online, and everyone subscribes to everyone by hand.
	// Each initial presence is followed by a ping whose answer says the presence was
	// handled: otherwise Mr_Praline's subscription request could race with it, reaching
	// dana once directly and once more as a pending request at her initial presence.
	jane := legacyLogin(t, ts.addr, "jane", "pw-jane", "Home")
	jane.send("<presence/><iq id='sync' type='get'><ping xmlns='urn:xmpp:ping'/></iq>")
	jane.expectRe(`<iq[^>]* id='sync'[^>]*/>`)
	dana := legacyLogin(t, ts.addr, "dana", "pw-dana", "Home")
	dana.send("<presence/><iq id='sync' type='get'><ping xmlns='urn:xmpp:ping'/></iq>")
	dana.expectRe(`<iq[^>]* id='sync'[^>]*/>`)
	p.send("<presence/>")
	for _, c := range []struct {
		who  *rawClient
		name string
	}{{jane, "jane"}, {dana, "dana"}} {
		p.send("<presence to='" + c.name + "@localhost' type='subscribe'/>")
		c.who.expect("<presence from='mr_praline@localhost' to='" + c.name + "@localhost' type='subscribe'/>")
		c.who.send("<presence to='Mr_Praline@localhost' type='subscribed'/>")
		p.expect("<presence from='" + c.name + "@localhost' to='mr_praline@localhost' type='subscribed'/>")
		p.expect("<presence from='" + c.name + "@localhost/Home' to='mr_praline@localhost/telnet'/>")
		c.who.send("<presence to='Mr_Praline@localhost' type='subscribe'/>")
		p.expect("<presence from='" + c.name + "@localhost' to='mr_praline@localhost' type='subscribe'/>")
		p.send("<presence to='" + c.name + "@localhost' type='subscribed'/>")
		c.who.expect("<presence from='mr_praline@localhost' to='" + c.name + "@localhost' type='subscribed'/>")
		c.who.expect("<presence from='mr_praline@localhost/telnet' to='" + c.name + "@localhost/Home'/>")
	}
	p.send("</stream:stream>")
	p.expect("</stream:stream>")
	p.expectEOF()
	jane.expect("<presence from='mr_praline@localhost/telnet' to='jane@localhost' type='unavailable'/>")
	dana.expect("<presence from='mr_praline@localhost/telnet' to='dana@localhost' type='unavailable'/>")

	// 5. Initial presence: the roster's presences come back, with both delay forms.
	p = legacyLogin(t, ts.addr, "Mr_Praline", "NorwegianBlue", "telnet")
	p.send("<presence/>")
	got := map[string]bool{}
	var read []string
	for range 2 {
		s := p.readStanza()
		read = append(read, s)
		for _, who := range []string{"jane", "dana"} {
			from := who + "@localhost/Home"
			if matchRe(`<presence from='`+regexpQuote(from)+`' to='mr_praline@localhost/telnet'>`+delays(from)+`</presence>`, s) {
				got[who] = true
			}
		}
	}
	if !got["jane"] || !got["dana"] {
		t.Fatalf("initial presence did not return both contacts' presences: %v\nread: %q", got, read)
	}
	for _, c := range []*rawClient{jane, dana} {
		c.expectRe(`<presence from='mr_praline@localhost/telnet' to='(jane|dana)@localhost'/>`)
	}

	// 6. Chat messages: from stamped by the server, extensions and escaping untouched.
	p.send("<message from='Mr_Praline@localhost' to='dana@localhost' type='chat'>\n<body>I wish to complain about this parrot what I purchased not half an hour ago\nfrom this very boutique.</body></message>")
	dana.expect("<message to='dana@localhost' type='chat' from='mr_praline@localhost/telnet'>\n<body>I wish to complain about this parrot what I purchased not half an hour ago\nfrom this very boutique.</body></message>")
	dana.send("<message id='jcl_52' to='Mr_Praline@localhost' type='chat'><thread>parrot</thread><body>Oh yes, the, uh, the Norwegian Blue...What&apos;s,uh...What&apos;s wrong with it?</body><x xmlns='jabber:x:event'><composing/></x></message>")
	p.expect("<message id='jcl_52' to='Mr_Praline@localhost' type='chat' from='dana@localhost/Home'><thread>parrot</thread><body>Oh yes, the, uh, the Norwegian Blue...What&apos;s,uh...What&apos;s wrong with it?</body><x xmlns='jabber:x:event'><composing/></x></message>")

	// Closing: ours at once, and the contacts see the user go.
	p.send("</stream:stream>")
	p.expect("</stream:stream>")
	p.expectEOF()
	dana.expect("<presence from='mr_praline@localhost/telnet' to='dana@localhost' type='unavailable'/>")
	jane.expect("<presence from='mr_praline@localhost/telnet' to='jane@localhost' type='unavailable'/>")

	// An offline message waits, and comes with both delay stamps after initial presence.
	dana.send("<message to='Mr_Praline@localhost' type='chat'><body>'E&apos;s dead, that&apos;s what&apos;s wrong with it!</body></message>")
	syncWith(dana, "dana@localhost/Home") // the switch has stored it before the user returns
	p = legacyLogin(t, ts.addr, "Mr_Praline", "NorwegianBlue", "telnet2")
	p.send("<presence/>")
	// The contacts' two presences and the stored message, in whatever order the switch
	// sends them (RFC 6121 does not order presences against offline messages).
	offline := `<message to='Mr_Praline@localhost' type='chat' from='dana@localhost/Home'><body>'E&apos;s dead, that&apos;s what&apos;s wrong with it!</body>` + delays("localhost") + `</message>`
	read = read[:0]
	found := false
	for range 3 {
		s := p.readStanza()
		read = append(read, s)
		found = found || matchRe(offline, s)
	}
	if !found {
		t.Fatalf("the stored message did not come after initial presence; read: %q", read)
	}
}

// TestLoginTimeout: a stream that does not log in is closed; a 1.0 stream is told why.
func TestLoginTimeout(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.LoginTimeout = 300 * time.Millisecond })
	legacy := dialRaw(t, ts.addr)
	legacy.send(legacyHeader)
	legacy.expectRe(headerRe)
	modern := dialRaw(t, ts.addr)
	modern.send("<stream:stream to='localhost' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")
	modern.readStanza()
	modern.readStanza() // features
	legacy.expect("</stream:stream>")
	legacy.expectEOF()
	modern.expect("<stream:error><connection-timeout xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>not logged in within the time limit</text></stream:error></stream:stream>")
	modern.expectEOF()
}
