package inspect

import "strings"

// knownNamespaces names extensions the catalogue does not explain in detail, so that an
// unknown element still tells a student where to read.
var knownNamespaces = map[string]string{
	"urn:xmpp:sm:3":                           "stream management (XEP-0198)",
	"urn:xmpp:receipts":                       "delivery receipts (XEP-0184)",
	"urn:xmpp:carbons:2":                      "message carbons (XEP-0280)",
	"urn:xmpp:forward:0":                      "stanza forwarding (XEP-0297)",
	"urn:xmpp:mam:2":                          "message archive management (XEP-0313)",
	"urn:xmpp:csi:0":                          "client state indication (XEP-0352)",
	"urn:xmpp:time":                           "entity time (XEP-0202)",
	"urn:xmpp:blocking":                       "blocking command (XEP-0191)",
	"urn:xmpp:hints":                          "message processing hints (XEP-0334)",
	"urn:xmpp:sid:0":                          "unique and stable stanza ids (XEP-0359)",
	"urn:xmpp:jingle:1":                       "Jingle sessions (XEP-0166)",
	"jabber:iq:last":                          "last activity (XEP-0012)",
	"jabber:iq:private":                       "private XML storage (XEP-0049)",
	"jabber:iq:privacy":                       "privacy lists (XEP-0016)",
	"jabber:x:data":                           "data forms (XEP-0004)",
	"jabber:x:oob":                            "out-of-band data (XEP-0066)",
	"jabber:x:event":                          "message events (XEP-0022, obsolete)",
	"jabber:x:delay":                          "legacy delayed delivery (XEP-0091)",
	"urn:xmpp:delay":                          "delayed delivery (XEP-0203)",
	"vcard-temp":                              "vCard profiles (XEP-0054)",
	"vcard-temp:x:update":                     "vCard avatars (XEP-0153)",
	"http://jabber.org/protocol/caps":         "entity capabilities (XEP-0115)",
	"http://jabber.org/protocol/chatstates":   "chat states (XEP-0085)",
	"http://jabber.org/protocol/muc":          "multi-user chat (XEP-0045)",
	"http://jabber.org/protocol/muc#user":     "multi-user chat (XEP-0045)",
	"http://jabber.org/protocol/muc#admin":    "multi-user chat administration (XEP-0045)",
	"http://jabber.org/protocol/muc#owner":    "multi-user chat room configuration (XEP-0045)",
	"http://jabber.org/protocol/pubsub":       "publish-subscribe (XEP-0060)",
	"http://jabber.org/protocol/pubsub#event": "publish-subscribe notifications (XEP-0060)",
	"http://jabber.org/protocol/ibb":          "in-band bytestreams (XEP-0047)",
	"http://jabber.org/protocol/bytestreams":  "SOCKS5 bytestreams (XEP-0065)",
	"http://jabber.org/protocol/nick":         "user nickname (XEP-0172)",
	"http://jabber.org/protocol/compress":     "stream compression (XEP-0138)",
	"http://jabber.org/protocol/commands":     "ad-hoc commands (XEP-0050)",
	"http://jabber.org/protocol/xhtml-im":     "XHTML-IM (XEP-0071, obsolete)",
}

// namespaceName returns what knownNamespaces says of ns, or "".
func namespaceName(ns string) string { return knownNamespaces[ns] }

// extensionsOf lists the known extensions among e's children, for a suffix such as
// "; also carries delivery receipts (XEP-0184)".
func extensionsOf(e *Element, skip ...string) string {
	var names []string
	seen := map[string]bool{}
	for _, s := range skip {
		seen[s] = true
	}
	for _, c := range e.Elements() {
		n := namespaceName(c.Space)
		if n == "" || seen[c.Space] || seen[n] {
			continue
		}
		seen[c.Space], seen[n] = true, true
		names = append(names, n)
	}
	if len(names) == 0 {
		return ""
	}
	return "; also carries " + strings.Join(names, ", ")
}
