package server

import (
	"context"

	"github.com/stanzascope/stanzascope/inspect"
)

// What a session accepted but did not write (its client stopped reading, its outbox
// overflowed, its connection failed) is not lost. Once the session has left the directory,
// each routed stanza it held is handled as the router handles one for a resource that is
// not bound (RFC 6121 section 8.5.3.2): a chat or normal message goes to the account's
// other available resources or to offline storage, a groupchat message is bounced,
// headline and error messages are dropped; an iq request routed from another user is
// answered with service-unavailable, never silence. Presences and roster pushes are not
// kept: the client gets the current state when it comes back. Messages stored this way
// come after those its senders stored directly once the session stopped taking them.

// rescue handles the routed stanzas lost, which the session c did not write.
func (c *conn) rescue(lost [][]byte) {
	if len(lost) == 0 {
		return
	}
	kept, bounced := c.srv.Reroute(c.JID(), lost)
	c.srv.logf("switch: conn %d: %d stanzas for %s were not written: %d messages delivered elsewhere or kept, %d bounced, the rest (presences, pushes, headlines) dropped",
		c.info.ID, len(lost), c.JID(), kept, bounced)
}

// Reroute handles stanzas routed to the session of the full JID owner that it did not
// deliver, as the switch handles those its own sessions did not write (see above): a
// Directory whose sessions live elsewhere (another node of a cluster) calls it for a
// stanza whose session ended before it arrived there. It returns how many messages were
// delivered to other resources or kept, and how many stanzas were bounced.
func (s *Server) Reroute(owner inspect.JID, lost [][]byte) (kept, bounced int) {
	for _, b := range lost {
		switch inspect.TopName(b) {
		case "message":
			from, _ := inspect.ParseJID(inspect.TopAttr(b, "from"))
			st := ready(b)
			e, bounce := s.toAccount(context.Background(), routedType(inspect.TopAttr(b, "type")), owner.Bare(), &st, from, nil)
			if bounce {
				s.bounceRouted(b, "message", e)
				bounced++
			} else {
				kept++
			}
		case "iq":
			if t := inspect.TopAttr(b, "type"); t == "get" || t == "set" {
				s.bounceRouted(b, "iq", errServiceUnavailable)
				bounced++
			}
		}
	}
	return kept, bounced
}

// routedType is the type a message was routed as: RFC 6121 section 5.2.2 treats unknown
// types as normal. The result is a constant, never typ itself, so typ may be a view on
// bytes that change afterwards (the router compares the type where the Reader found it).
func routedType(typ string) string {
	switch typ {
	case "chat":
		return "chat"
	case "headline":
		return "headline"
	case "groupchat":
		return "groupchat"
	case "error":
		return "error"
	}
	return "normal"
}

// bounceRouted returns the stanza error e to the sender of the routed stanza b (of element
// name), if it is a user's session that is still bound; stanzas from the server itself and
// errors are not answered.
func (s *Server) bounceRouted(b []byte, name string, e stanzaError) {
	if inspect.TopAttr(b, "type") == "error" {
		return
	}
	from := inspect.TopAttr(b, "from")
	sender, err := inspect.ParseJID(from)
	if err != nil || sender.Local == "" || sender.Resource == "" {
		return
	}
	if sess := s.dir.Lookup(sender); sess != nil {
		sess.Deliver(errorStanza(name, inspect.TopAttr(b, "id"), inspect.TopAttr(b, "to"), from, nil, e))
	}
}
