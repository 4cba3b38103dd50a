package server

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/switch/store"
)

// Limits on what a client may put in its roster.
const (
	maxRosterItems = 1000
	maxGroups      = 32
	maxNameLen     = 1024
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
	c.interested = true
	c.mu.Unlock()
	b := []byte("<query xmlns='" + inspect.NSRoster + "'>")
	for _, it := range items {
		if !hidden(it) {
			b = appendItem(b, it, false)
		}
	}
	b = append(b, "</query>"...)
	return c.send(iqResult(id, from, to, b), "iq", inspect.NSClient)
}

// onRosterSet adds, updates or removes one item (RFC 6121 sections 2.3 and 2.5). The
// answer and the pushes are decided under subMu and written after it (hold.go).
func (c *conn) onRosterSet(ctx context.Context, id, from, to string, q *inspect.Element) error {
	els := q.Elements()
	if len(els) != 1 || els[0].Local != "item" || els[0].Space != inspect.NSRoster {
		return c.send(errorStanza("iq", id, from, to, nil, errBadRequest.withText("a roster set carries exactly one item")), "iq", inspect.NSClient)
	}
	item := els[0]
	j, err := inspect.ParseJID(item.Attr("jid"))
	if err != nil || !j.IsBare() {
		return c.send(errorStanza("iq", id, from, to, nil, errBadRequest.withText("the item needs a valid bare JID")), "iq", inspect.NSClient)
	}
	c.srv.withSubscriptions(func(out *batch) {
		if e, ok := c.rosterSetLocked(ctx, out, id, from, to, j, item); !ok {
			out.deliver(c, errorStanza("iq", id, from, to, nil, e))
		}
	})
	return nil
}

// rosterSetLocked applies a roster set under subMu; it returns the error to answer with
// and false, or true when it answered (and pushed) itself.
func (c *conn) rosterSetLocked(ctx context.Context, out *batch, id, from, to string, j inspect.JID, item *inspect.Element) (stanzaError, bool) {
	user := c.bareJID()
	old, err := c.srv.store.RosterItem(ctx, c.user, j.String())
	exists := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return errInternal, false
	}
	if item.Attr("subscription") == "remove" {
		if !exists || hidden(old) {
			return errItemNotFound, false
		}
		out.deliver(c, iqResult(id, from, to, nil))
		c.srv.removeRosterItem(ctx, out, user, old)
		return stanzaError{}, true
	}
	it := old
	if !exists {
		it = store.RosterItem{JID: j.String(), Subscription: store.SubNone}
		if n, _ := c.srv.store.Roster(ctx, c.user); len(n) >= maxRosterItems {
			return stanzaError{"wait", "resource-constraint", "roster full"}, false
		}
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
			return errNotAcceptable.withText("empty group name"), false
		}
		if seen[name] || len(it.Groups) >= maxGroups {
			return errBadRequest.withText("duplicate group or too many groups"), false
		}
		seen[name] = true
		it.Groups = append(it.Groups, clipString(name, maxNameLen))
	}
	if err := c.srv.store.PutRosterItem(ctx, c.user, it); err != nil {
		c.srv.logf("switch: roster set for %s: %v", c.user, err)
		return errInternal, false
	}
	out.deliver(c, iqResult(id, from, to, nil))
	c.srv.push(out, user, it, false)
	return stanzaError{}, true
}

var pushSeq atomic.Uint64

// push sends a roster push to every resource of user that asked for the roster.
func (s *Server) push(out sender, user inspect.JID, it store.RosterItem, remove bool) {
	var buf [8]Session
	for _, sess := range s.dir.Resources(buf[:0], user) {
		c, ok := sess.(*conn)
		if ok {
			c.mu.Lock()
			ok = c.interested
			c.mu.Unlock()
		}
		if !ok {
			continue
		}
		b := appendOpen(nil, "iq", false, "id", "push"+strconv.FormatUint(pushSeq.Add(1), 10), "type", "set", "to", sess.JID().String())
		b = append(b, "<query xmlns='"+inspect.NSRoster+"'>"...)
		b = appendItem(b, it, remove)
		b = append(b, "</query></iq>"...)
		out.deliver(sess, b)
	}
}

// removeRosterItem deletes it from user's roster, cancelling the subscriptions both ways
// as RFC 6121 section 2.5.2 asks. The caller holds subMu.
func (s *Server) removeRosterItem(ctx context.Context, out *batch, user inspect.JID, it store.RosterItem) {
	contact, err := inspect.ParseJID(it.JID)
	if err != nil {
		s.store.DeleteRosterItem(ctx, user.Local, it.JID)
		return
	}
	sub := subOf(it)
	if sub == store.SubFrom || sub == store.SubBoth {
		s.sendUnavailableFrom(out, user, contact)
	}
	// ErrNotFound: the account was deleted first (cancellation); the contacts still need
	// to hear about it.
	if err := s.store.DeleteRosterItem(ctx, user.Local, it.JID); err != nil && !errors.Is(err, store.ErrNotFound) {
		s.logf("switch: roster remove for %s: %v", user, err)
		return
	}
	if !hidden(it) {
		s.push(out, user, it, true)
	}
	if sub == store.SubTo || sub == store.SubBoth || it.AskOut {
		s.inboundSubscription(ctx, out, contact, user, "unsubscribe", nil)
	}
	if sub == store.SubFrom || sub == store.SubBoth || it.PendingIn {
		s.inboundSubscription(ctx, out, contact, user, "unsubscribed", nil)
	}
}
