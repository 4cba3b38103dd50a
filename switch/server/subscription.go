package server

import (
	"context"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/switch/store"
)

// The subscription state machine of RFC 6121 section 3 and appendix A. Both ends live on
// this server, so an outbound request updates the sender's roster and is then processed as
// inbound at the contact's end in the same store transaction (pairtx.go). What the change
// delivers is held and written after the transaction committed.

// subscriptionStanza builds the presence delivered for a subscription change, from the
// sender's bare JID (RFC 6121 section 3.1.2), keeping what the sender added (status, nick).
func subscriptionStanza(raw []byte, from, to inspect.JID, typ string) []byte {
	if raw != nil {
		if b, err := restamp(raw, []kv{{"from", from.String()}, {"to", to.String()}, {"type", typ}}, nil, nil); err == nil {
			return b
		}
	}
	return appendOpen(nil, "presence", true, "from", from.String(), "to", to.String(), "type", typ)
}

// outboundSubscription handles a subscription presence of type typ that user sends to
// contact (both bare).
func (s *Server) outboundSubscription(ctx context.Context, user, contact inspect.JID, typ string, raw []byte) {
	if contact.Domain != s.domain.Domain || contact.Local == "" {
		return // no federation: nothing to subscribe to
	}
	err := s.changePair(ctx, user, contact, func(p *pairTx, out sender) error {
		s.outboundSubscriptionTx(p, out, user, contact, typ, raw)
		return nil
	})
	if err != nil {
		s.logf("switch: subscription %s from %s to %s: %v", typ, user, contact, err)
	}
}

func (s *Server) outboundSubscriptionTx(p *pairTx, out sender, user, contact inspect.JID, typ string, raw []byte) {
	it, exists := p.item(user)
	stanza := subscriptionStanza(raw, user, contact, typ)
	wasHidden := exists && hidden(it)
	changed := false
	switch typ {
	case "subscribe":
		if !exists {
			it = store.RosterItem{JID: contact.String(), Subscription: store.SubNone}
		}
		if sub := subOf(it); (sub == store.SubNone || sub == store.SubFrom) && !it.AskOut {
			it.AskOut, changed = true, true
		}
	case "subscribed":
		if !exists || !it.PendingIn {
			return // no request to approve; pre-approval (RFC 6121 3.4) is not supported
		}
		it.PendingIn, it.PendingStanza, changed = false, nil, true
		switch subOf(it) {
		case store.SubNone:
			it.Subscription = store.SubFrom
		case store.SubTo:
			it.Subscription = store.SubBoth
		}
	case "unsubscribe":
		if exists {
			switch subOf(it) {
			case store.SubTo:
				it.Subscription, changed = store.SubNone, true
			case store.SubBoth:
				it.Subscription, changed = store.SubFrom, true
			}
			if it.AskOut {
				it.AskOut, changed = false, true
			}
		}
	case "unsubscribed":
		if !exists {
			return
		}
		switch subOf(it) {
		case store.SubFrom:
			it.Subscription, changed = store.SubNone, true
		case store.SubBoth:
			it.Subscription, changed = store.SubTo, true
		}
		if it.PendingIn {
			it.PendingIn, it.PendingStanza, changed = false, nil, true
		}
		if changed {
			s.sendUnavailableFrom(out, user, contact)
		}
	}
	if changed {
		s.saveItem(p, out, user, it, wasHidden)
	}
	s.inboundSubscription(p, out, contact, user, typ, stanza)
	if typ == "subscribed" && changed {
		s.sendPresencesTo(out, user, contact)
	}
}

// saveItem stores it (or deletes a pending-only record that no longer pends) and pushes it.
func (s *Server) saveItem(p *pairTx, out sender, user inspect.JID, it store.RosterItem, wasHidden bool) {
	if wasHidden && !it.PendingIn && subOf(it) == store.SubNone && !it.AskOut {
		p.del(user)
		return
	}
	if err := p.put(user, it); err != nil {
		s.logf("switch: roster of %s: %v", user, err)
		return
	}
	if !hidden(it) {
		s.push(out, user, it, false)
	}
}

// inboundSubscription processes a subscription presence from sender arriving at the
// account contact (both bare), inside the pair's transaction.
func (s *Server) inboundSubscription(p *pairTx, out sender, contact, sender inspect.JID, typ string, stanza []byte) {
	if stanza == nil {
		stanza = subscriptionStanza(nil, sender, contact, typ)
	}
	if !p.hasAccount(contact) {
		if typ == "subscribe" {
			// RFC 6121 section 3.1.3: no such contact, the request is refused.
			s.inboundSubscription(p, out, sender, contact, "unsubscribed", nil)
		}
		return
	}
	it, exists := p.item(contact)
	wasHidden := exists && hidden(it)
	switch typ {
	case "subscribe":
		if exists && (subOf(it) == store.SubFrom || subOf(it) == store.SubBoth) {
			// Already approved: answer for the contact (RFC 6121 section 3.1.3).
			s.inboundSubscription(p, out, sender, contact, "subscribed", nil)
			s.sendPresencesTo(out, contact, sender)
			return
		}
		if !exists {
			it = store.RosterItem{JID: sender.String(), Subscription: store.SubNone}
		}
		it.PendingIn, it.PendingStanza = true, stanza
		if err := p.put(contact, it); err != nil {
			s.logf("switch: roster of %s: %v", contact, err)
			return
		}
		s.deliverAvailable(out, contact, stanza)
	case "subscribed":
		if !exists || !it.AskOut {
			return
		}
		it.AskOut = false
		switch subOf(it) {
		case store.SubNone:
			it.Subscription = store.SubTo
		case store.SubFrom:
			it.Subscription = store.SubBoth
		}
		// RFC 6121 section 3.1.6: the approval reaches the user's interested resources
		// before the roster push, so a client sees why its roster changed.
		s.deliverInterested(out, contact, stanza)
		s.saveItem(p, out, contact, it, wasHidden)
	case "unsubscribe":
		if !exists {
			return
		}
		changed := it.PendingIn
		it.PendingIn, it.PendingStanza = false, nil
		switch subOf(it) {
		case store.SubFrom:
			it.Subscription, changed = store.SubNone, true
		case store.SubBoth:
			it.Subscription, changed = store.SubTo, true
		}
		if !changed {
			return
		}
		s.saveItem(p, out, contact, it, wasHidden)
		s.deliverAvailable(out, contact, stanza)
		s.sendUnavailableFrom(out, contact, sender)
	case "unsubscribed":
		if !exists {
			return
		}
		changed := it.AskOut
		it.AskOut = false
		switch subOf(it) {
		case store.SubTo:
			it.Subscription, changed = store.SubNone, true
		case store.SubBoth:
			it.Subscription, changed = store.SubFrom, true
		}
		if !changed {
			return
		}
		s.saveItem(p, out, contact, it, wasHidden)
		s.deliverAvailable(out, contact, stanza)
	}
}
