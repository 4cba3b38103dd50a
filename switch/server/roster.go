package server

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/switch/store"
)

// Limits on what a client may put in a roster item (the number of items is the store's
// limit, store.MaxRosterItems), and on the directed-presence targets a session remembers.
const (
	maxGroups   = 32
	maxNameLen  = 1024
	maxDirected = 1000
)

// hidden reports whether item is only a pending inbound subscription request, not a contact
// the user added: RFC 6121 section 3.1.3 forbids adding it to the roster, so it is kept in
// the store for redelivery but not shown in roster results or pushes.
func hidden(it store.RosterItem) bool {
	return it.Subscription == store.SubNone && !it.AskOut && it.PendingIn && it.Name == "" && len(it.Groups) == 0
}

func subOf(it store.RosterItem) string {
	if it.Subscription == "" {
		return store.SubNone
	}
	return it.Subscription
}

// appendItem appends a roster <item/> (RFC 6121 section 2.1.2).
func appendItem(b []byte, it store.RosterItem, remove bool) []byte {
	sub := subOf(it)
	ask := ""
	if remove {
		sub = "remove"
	} else if it.AskOut {
		ask = "subscribe"
	}
	b = appendOpen(b, "item", len(it.Groups) == 0, "jid", it.JID, "name", it.Name, "subscription", sub, "ask", ask)
	if len(it.Groups) == 0 {
		return b
	}
	for _, g := range it.Groups {
		b = append(b, "<group>"...)
		b = appendText(b, g)
		b = append(b, "</group>"...)
	}
	return appendClose(b, "item")
}

// onRosterGet returns the roster and marks the session interested in pushes.
func (c *conn) onRosterGet(ctx context.Context, id, from, to string) error {
	items, err := c.srv.store.Roster(ctx, c.user)
	if err != nil {
		c.srv.logf("switch: roster of %s: %v", c.user, err)
		return c.send(errorStanza("iq", id, from, to, nil, errInternal), "iq", inspect.NSClient)
	}
	c.mu.Lock()
	first := !c.interested
	c.interested = true
	c.mu.Unlock()
	if first {
		c.srv.presenceChanged(c) // a shared directory tells the other nodes: pushes reach it there too
	}
	b := []byte("<query xmlns='" + inspect.NSRoster + "'>")
	for _, it := range items {
		if !hidden(it) {
			b = appendItem(b, it, false)
		}
	}
	b = append(b, "</query>"...)
	return c.send(iqResult(id, from, to, b), "iq", inspect.NSClient)
}

// onRosterSet adds, updates or removes one item (RFC 6121 sections 2.3 and 2.5), in one
// store transaction with the contact's item about the user (pairtx.go): a removal
// cancels the subscriptions at both ends. The answer and the pushes are written after it.
func (c *conn) onRosterSet(ctx context.Context, id, from, to string, q *inspect.Element) error {
	els := q.Elements()
	if len(els) != 1 || els[0].Local != "item" || els[0].Space != inspect.NSRoster {
		return c.send(errorStanza("iq", id, from, to, nil, errBadRequest.WithText("a roster set carries exactly one item")), "iq", inspect.NSClient)
	}
	item := els[0]
	j, err := inspect.ParseJID(item.Attr("jid"))
	if err != nil || !j.IsBare() {
		return c.send(errorStanza("iq", id, from, to, nil, errBadRequest.WithText("the item needs a valid bare JID")), "iq", inspect.NSClient)
	}
	err = c.srv.changePair(ctx, c.bareJID(), j, func(p *pairTx, out sender) error {
		return c.rosterSetTx(p, out, id, from, to, j, item)
	})
	var refused refusal
	switch {
	case err == nil:
		return nil
	case errors.As(err, &refused):
	case errors.Is(err, store.ErrFull):
		refused.e = inspect.NewStanzaError(inspect.CondResourceConstraint).WithText("roster full")
	default:
		c.srv.logf("switch: roster set for %s: %v", c.user, err)
		refused.e = storeError(err)
	}
	return c.send(errorStanza("iq", id, from, to, nil, refused.e), "iq", inspect.NSClient)
}

// refusal is the stanza error a roster set is answered with; it ends the transaction
// without storing anything.
type refusal struct{ e stanzaError }

func (r refusal) Error() string { return "roster set refused: " + string(r.e.Condition) }

// rosterSetTx applies a roster set to the user's slot of p, answering and pushing, or
// returns the refusal.
func (c *conn) rosterSetTx(p *pairTx, out sender, id, from, to string, j inspect.JID, item *inspect.Element) error {
	user := c.bareJID()
	old, exists := p.item(user)
	if item.Attr("subscription") == "remove" {
		if !exists || hidden(old) {
			return refusal{errItemNotFound}
		}
		out.deliver(c, iqResult(id, from, to, nil))
		c.srv.removeRosterItem(p, out, user, j, old)
		return nil
	}
	it := old
	if !exists {
		// The store refuses a new item beyond its roster limit (ErrFull).
		it = store.RosterItem{JID: j.String(), Subscription: store.SubNone}
	}
	it.Name = clipString(item.Attr("name"), maxNameLen)
	it.Groups = it.Groups[:0:0]
	seen := map[string]bool{}
	for _, g := range item.Elements() {
		if g.Local != "group" {
			continue
		}
		name := g.Text()
		if name == "" {
			return refusal{errNotAcceptable.WithText("empty group name")}
		}
		if seen[name] || len(it.Groups) >= maxGroups {
			return refusal{errBadRequest.WithText("duplicate group or too many groups")}
		}
		seen[name] = true
		it.Groups = append(it.Groups, clipString(name, maxNameLen))
	}
	if err := p.put(user, it); err != nil {
		return err
	}
	out.deliver(c, iqResult(id, from, to, nil))
	c.srv.push(out, user, it, false)
	return nil
}

var pushSeq atomic.Uint64

// push sends a roster push to every resource of user that asked for the roster.
func (s *Server) push(out sender, user inspect.JID, it store.RosterItem, remove bool) {
	var buf [8]Session
	for _, sess := range s.dir.Resources(buf[:0], user) {
		if !sess.Presence().Interested {
			continue
		}
		b := appendOpen(nil, "iq", false, "id", "push"+strconv.FormatUint(pushSeq.Add(1), 10), "type", "set", "to", sess.JID().String())
		b = append(b, "<query xmlns='"+inspect.NSRoster+"'>"...)
		b = appendItem(b, it, remove)
		b = append(b, "</query></iq>"...)
		out.deliver(sess, b)
	}
}

// removeRosterItem deletes it, user's item about contact, cancelling the subscriptions
// both ways as RFC 6121 section 2.5.2 asks, inside the pair's transaction.
func (s *Server) removeRosterItem(p *pairTx, out sender, user, contact inspect.JID, it store.RosterItem) {
	sub := subOf(it)
	if sub == store.SubFrom || sub == store.SubBoth {
		s.sendUnavailableFrom(out, user, contact)
	}
	// The account may be gone already (cancellation); the contacts still need to hear.
	p.del(user)
	if !hidden(it) {
		s.push(out, user, it, true)
	}
	if sub == store.SubTo || sub == store.SubBoth || it.AskOut {
		s.inboundSubscription(p, out, contact, user, "unsubscribe", nil)
	}
	if sub == store.SubFrom || sub == store.SubBoth || it.PendingIn {
		s.inboundSubscription(p, out, contact, user, "unsubscribed", nil)
	}
}
