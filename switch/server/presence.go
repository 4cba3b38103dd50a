package server

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/switch/store"
)

// onPresence handles a presence from a bound session (RFC 6121 sections 3 and 4).
func (c *conn) onPresence(ctx context.Context, raw []byte, el *inspect.Element) error {
	typ, to := el.Attr("type"), el.Attr("to")
	var target inspect.JID
	if to != "" {
		var err error
		if target, err = inspect.ParseJID(to); err != nil {
			return c.send(errorStanza("presence", el.Attr("id"), to, c.JID().String(), nil, errJIDMalformed), "presence", inspect.NSClient)
		}
	}
	switch typ {
	case "subscribe", "subscribed", "unsubscribe", "unsubscribed":
		if to == "" {
			return c.send(errorStanza("presence", el.Attr("id"), "", c.JID().String(), nil, errBadRequest.WithText("a subscription request needs a to")), "presence", inspect.NSClient)
		}
		c.srv.outboundSubscription(ctx, c.bareJID(), target.Bare(), typ, raw)
		return nil
	case "probe":
		if to != "" {
			c.onProbe(ctx, target.Bare())
		}
		return nil
	case "error":
		if to != "" && target.Resource != "" {
			if s := c.srv.dir.Lookup(target); s != nil {
				if b, err := restamp(raw, nil, []kv{{"from", c.JID().String()}}, nil); err == nil {
					s.Deliver(b)
				}
			}
		}
		return nil
	case "", "unavailable":
	default:
		return c.send(errorStanza("presence", el.Attr("id"), to, c.JID().String(), nil, errBadRequest.WithText("unknown presence type")), "presence", inspect.NSClient)
	}
	if to != "" {
		return c.directedPresence(ctx, raw, target, typ == "unavailable")
	}
	if typ == "unavailable" {
		c.goUnavailable(ctx, raw)
		return nil
	}
	return c.broadcastAvailable(ctx, raw, el)
}

// broadcastAvailable handles available presence without a to: the initial presence (which
// also probes the contacts and delivers what waited for the user) or an update.
func (c *conn) broadcastAvailable(ctx context.Context, raw []byte, el *inspect.Element) error {
	full := c.JID()
	last, err := restamp(raw, []kv{{"from", full.String()}, {"to", ""}}, nil, nil)
	if err != nil {
		return newStreamErr("internal-server-error", "presence: "+err.Error())
	}
	prio := 0
	if p := el.Child("", "priority"); p != nil {
		if n, err := strconv.Atoi(strings.TrimSpace(p.Text())); err == nil && n >= -128 && n <= 127 {
			prio = n
		}
	}
	c.mu.Lock()
	initial := !c.available
	c.available, c.priority, c.last, c.lastStamp = true, prio, last, c.srv.now()
	legacy := c.legacy
	c.mu.Unlock()
	c.srv.presenceChanged(c)

	items, err := c.srv.store.Roster(ctx, c.user)
	if err != nil {
		c.srv.logf("switch: roster of %s: %v", c.user, err)
	}
	if !legacy {
		// RFC 6121 section 4.2.2: the user's own resource gets its presence back too. A
		// pre-1.0 (textbook) session does not, so its transcript stays as the textbook shows.
		c.sendRouted(last)
	}
	me := full.Bare()
	for _, s := range c.srv.dir.Resources(nil, me) {
		if s != Session(c) && s.Presence().Available {
			s.Deliver(withTo(last, s.JID()))
		}
	}
	for _, it := range items {
		if sub := subOf(it); sub == store.SubFrom || sub == store.SubBoth {
			if j, err := inspect.ParseJID(it.JID); err == nil {
				c.srv.deliverAvailable(direct{}, j, withTo(last, j))
			}
		}
	}
	if !initial {
		return nil
	}
	// Initial presence: the contacts' presences (a local probe), the other resources',
	// pending subscription requests, then the messages kept while offline.
	for _, it := range items {
		if sub := subOf(it); sub == store.SubTo || sub == store.SubBoth {
			if j, err := inspect.ParseJID(it.JID); err == nil {
				c.srv.deliverPresencesOf(self{c}, j, c, true)
			}
		}
	}
	for _, s := range c.srv.dir.Resources(nil, me) {
		if s != Session(c) {
			if p := s.Presence(); p.Available {
				c.sendRouted(delayed(p, s.JID(), full))
			}
		}
	}
	for _, it := range items {
		if !it.PendingIn {
			continue
		}
		st := it.PendingStanza
		if st == nil {
			j, err := inspect.ParseJID(it.JID)
			if err != nil {
				continue
			}
			st = subscriptionStanza(nil, j, me, "subscribe")
		}
		c.sendRouted(st)
	}
	return c.deliverOffline(ctx)
}

// delayed returns the last presence of a resource addressed to to, with both delay stamps.
func delayed(p PresenceState, from, to inspect.JID) []byte {
	extra := appendDelay(nil, from.String(), time.Unix(0, p.Stamp))
	b, err := restamp(p.Last, []kv{{"from", from.String()}, {"to", to.String()}}, nil, extra)
	if err != nil {
		return nil
	}
	return b
}

// withTo returns presence with to set (after from).
func withTo(presence []byte, to inspect.JID) []byte {
	b, err := restamp(presence, []kv{{"from", inspect.TopAttr(presence, "from")}, {"to", to.String()}}, nil, nil)
	if err != nil {
		return presence
	}
	return b
}

// deliverAvailable delivers stanza to every available resource of the account bare, as out
// decides (after the commit inside a roster transaction: sender.deliverResources).
func (s *Server) deliverAvailable(out sender, bare inspect.JID, stanza []byte) {
	out.deliverResources(s.dir, bare, stanza, false)
}

// deliverInterested delivers stanza to every resource of the account bare that is available
// or asked for the roster (an "interested resource", RFC 6121 section 2.2), as out decides.
func (s *Server) deliverInterested(out sender, bare inspect.JID, stanza []byte) {
	out.deliverResources(s.dir, bare, stanza, true)
}

// deliverPresencesOf sends the current presence of every available resource of contact to
// the session dst (with delay stamps when stamp is true: answers to a probe).
func (s *Server) deliverPresencesOf(out sender, contact inspect.JID, dst Session, stamp bool) {
	var buf [8]Session
	to := dst.JID()
	for _, sess := range s.dir.Resources(buf[:0], contact) {
		p := sess.Presence()
		if !p.Available {
			continue
		}
		if stamp {
			out.deliver(dst, delayed(p, sess.JID(), to))
		} else if b, err := restamp(p.Last, []kv{{"from", sess.JID().String()}, {"to", to.String()}}, nil, nil); err == nil {
			out.deliver(dst, b)
		}
	}
}

// sendPresencesTo sends the presence of every available resource of contact to every
// available resource of user (after a subscription was approved).
func (s *Server) sendPresencesTo(out sender, contact, user inspect.JID) {
	var buf [8]Session
	for _, dst := range s.dir.Resources(buf[:0], user) {
		if dst.Presence().Available {
			s.deliverPresencesOf(out, contact, dst, false)
		}
	}
}

// sendUnavailableFrom tells contact that every available resource of user went away for it
// (a subscription was cancelled).
func (s *Server) sendUnavailableFrom(out sender, user, contact inspect.JID) {
	var buf [8]Session
	for _, sess := range s.dir.Resources(buf[:0], user) {
		if sess.Presence().Available {
			s.deliverAvailable(out, contact, appendOpen(nil, "presence", true, "from", sess.JID().String(), "to", contact.String(), "type", "unavailable"))
		}
	}
}

// onProbe answers a client's probe for a contact it is subscribed to.
func (c *conn) onProbe(ctx context.Context, contact inspect.JID) {
	it, err := c.srv.store.RosterItem(ctx, c.user, contact.String())
	if err != nil {
		return
	}
	if sub := subOf(it); sub == store.SubTo || sub == store.SubBoth {
		c.srv.deliverPresencesOf(self{c}, contact, c, true)
	}
}

// directedPresence sends presence to one entity (RFC 6121 section 4.6) and remembers it, so
// the entity hears when the session ends.
func (c *conn) directedPresence(ctx context.Context, raw []byte, target inspect.JID, unavailable bool) error {
	if target.Domain != c.srv.domain.Domain || target.Local == "" {
		return nil // no federation; presence to the server itself means nothing here
	}
	b, err := restamp(raw, nil, []kv{{"from", c.JID().String()}}, nil)
	if err != nil {
		return nil
	}
	if target.Resource != "" {
		if s := c.srv.dir.Lookup(target); s != nil {
			s.Deliver(b)
		}
	} else {
		c.srv.deliverAvailable(direct{}, target, b)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if unavailable {
		delete(c.directed, target)
		return nil
	}
	if c.directed == nil {
		c.directed = make(map[inspect.JID]struct{}, 1)
	}
	if len(c.directed) < maxDirected {
		c.directed[target] = struct{}{}
	}
	return nil
}

// goUnavailable broadcasts unavailable presence from the session to its contacts, its
// other resources and whoever got directed presence, and marks it unavailable.
func (c *conn) goUnavailable(ctx context.Context, raw []byte) {
	c.mu.Lock()
	if !c.available {
		c.mu.Unlock()
		return
	}
	c.available = false
	c.last = nil
	directed := c.directed
	c.directed = nil
	full := c.jid
	c.mu.Unlock()
	c.srv.presenceChanged(c)
	var b []byte
	if raw != nil {
		b, _ = restamp(raw, []kv{{"from", full.String()}, {"to", ""}}, nil, nil)
	}
	if b == nil {
		b = appendOpen(nil, "presence", true, "from", full.String(), "type", "unavailable")
	}
	items, err := c.srv.store.Roster(ctx, full.Local)
	if err != nil {
		c.srv.logf("switch: roster of %s: %v", full.Local, err)
	}
	for _, it := range items {
		if sub := subOf(it); sub == store.SubFrom || sub == store.SubBoth {
			if j, err := inspect.ParseJID(it.JID); err == nil {
				delete(directed, j)
				c.srv.deliverAvailable(direct{}, j, withTo(b, j))
			}
		}
	}
	for _, s := range c.srv.dir.Resources(nil, full.Bare()) {
		// A session that took over this full JID (a new login with the same resource)
		// is not another resource: it must not get its predecessor's unavailable.
		if s != Session(c) && s.JID() != full && s.Presence().Available {
			s.Deliver(withTo(b, s.JID()))
		}
	}
	for j := range directed {
		if j.Resource != "" {
			if s := c.srv.dir.Lookup(j); s != nil {
				s.Deliver(withTo(b, j))
			}
		} else {
			c.srv.deliverAvailable(direct{}, j, withTo(b, j))
		}
	}
}

// presenceChanged tells a directory that watches presence (PresenceWatcher) that c's
// presence changed.
func (s *Server) presenceChanged(c *conn) {
	if w, ok := s.dir.(PresenceWatcher); ok {
		w.PresenceChanged(c)
	}
}

// sessionEnded cleans up after a connection: the session leaves the directory and its
// contacts see it go unavailable (closing tag, TCP drop, timeout or kick alike).
func (s *Server) sessionEnded(c *conn) {
	c.mu.Lock()
	bound := c.bound
	c.mu.Unlock()
	if !bound {
		return
	}
	s.dir.Unbind(c)
	c.goUnavailable(context.Background(), nil)
}
