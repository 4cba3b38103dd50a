package inspect

// Next says what follows an element on the stream that carried it.
type Next uint8

// What may follow an element. The first three are certain for a stream seen from both
// ends; the last two tell a reader of one direction only (a client's XML console, one
// side of a transcript) that a new stream header may come next, since the answer that
// decides it travels the other way.
const (
	NextStanza       Next = iota // more stanzas: the stream goes on
	NextRestart                  // a new stream header on the same bytes: SASL <success/> (RFC 6120 §6.4.6)
	NextTLS                      // a TLS handshake, then a new stream header: STARTTLS <proceed/> (RFC 6120 §5.4.3.3)
	NextMaybeRestart             // the client's SASL <auth/> or <response/>: a new header if the server succeeds
	NextMaybeTLS                 // the client's <starttls/>: TLS if the server proceeds
)

// After returns what follows the top-level element name in namespace ns on its stream.
// It is the one decision of when a stream restarts, shared by the reader, the capture
// path, the proxy and the switch.
func After(name, ns string) Next {
	switch ns {
	case NSSASL:
		switch name {
		case "success":
			return NextRestart
		case "auth", "response":
			return NextMaybeRestart
		}
	case NSTLS:
		switch name {
		case "proceed":
			return NextTLS
		case "starttls":
			return NextMaybeTLS
		}
	}
	return NextStanza
}

// NewStream reports whether a new stream header may follow.
func (n Next) NewStream() bool { return n != NextStanza }
