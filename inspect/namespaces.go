package inspect

// Namespaces of the extensions that more than one package reads or writes. The core
// namespaces (streams, client, SASL, TLS, bind, session, stanza errors) are in event.go.
const (
	NSRoster          = "jabber:iq:roster"                       // RFC 6121 §2
	NSRegister        = "jabber:iq:register"                     // XEP-0077
	NSRegisterFeature = "http://jabber.org/features/iq-register" // XEP-0077 §4
	NSAuth            = "jabber:iq:auth"                         // XEP-0078
	NSAuthFeature     = "http://jabber.org/features/iq-auth"     // XEP-0078 §4
	NSDiscoInfo       = "http://jabber.org/protocol/disco#info"  // XEP-0030
	NSDiscoItems      = "http://jabber.org/protocol/disco#items" // XEP-0030
	NSPing            = "urn:xmpp:ping"                          // XEP-0199
	NSVersion         = "jabber:iq:version"                      // XEP-0092
	NSDelay           = "urn:xmpp:delay"                         // XEP-0203
	NSLegacyDelay     = "jabber:x:delay"                         // XEP-0091
	NSCompressFeature = "http://jabber.org/features/compress"    // XEP-0138 §2
)
