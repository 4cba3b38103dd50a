package proxy

import (
	"github.com/stanzascope/stanzascope/inspect"
)

var bindNS = []byte(inspect.NSBind)

// s2c is the server-to-client pipe: it reads the upstream and writes the client.
func (s *session) s2c() error {
	return s.pipe(inspect.ServerToClient, s.ur, s.serverEvent)
}

// serverEvent hands a header, a stanza or whitespace from the upstream to the negotiator.
func (s *session) serverEvent(ev inspect.Event) error {
	k := evStanza
	switch ev.Kind {
	case inspect.KindStreamOpen:
		k = evHeader
	case inspect.KindWhitespace:
		k = evWhitespace
	}
	return s.negotiate(legUpstream, ev, nevent{kind: k, from: legUpstream, name: ev.Name, ns: ev.NS, raw: ev.Raw, hdr: s.ur.Header()})
}
