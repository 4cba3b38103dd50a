package server

import (
	"context"
	"fmt"
	"hash/fnv"
	"sync"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/switch/store"
)

// Roster and subscription changes run in store transactions: store.UpdateRoster reads both
// accounts' items about each other, the state machine changes them, and the store writes
// them together. Concurrent changes of one pair neither interleave nor lose an update, on
// one switch or on several sharing a database, and changes of other pairs go on at the
// same time (a server-wide mutex serialised them all before).
//
// What a change delivers is recorded while the transaction runs (it may run more than once)
// and put in its recipients' outboxes only once it committed, under a lock of the pair: so
// a recipient sees the changes of one pair in the order they were stored. Putting a stanza
// in an outbox never waits (outbox.go), so a client that does not read cannot hold the
// lock.

// sender delivers stanzas to sessions: at once (direct, self), or once a transaction
// committed (*pending).
type sender interface {
	deliver(s Session, stanza []byte)
	// deliverResources delivers stanza to the resources of the account bare that are
	// available or, with interested, that asked for the roster too (RFC 6121 section
	// 2.2). Which those are, the sender looks up in dir when it delivers: direct and self
	// at once, *pending once its transaction committed. A resource that becomes available
	// meanwhile reads the roster after setting its presence, so it finds the committed
	// change (a pending subscription request) when a lookup before the commit would have
	// missed it; looked up before the commit, both could miss it.
	deliverResources(dir Directory, bare inspect.JID, stanza []byte, interested bool)
}

// eachResource calls f with each resource of bare in dir that is available or, with
// interested, asked for the roster.
func eachResource(dir Directory, bare inspect.JID, interested bool, f func(Session)) {
	var buf [8]Session
	for _, sess := range dir.Resources(buf[:0], bare) {
		if p := sess.Presence(); p.Available || interested && p.Interested {
			f(sess)
		}
	}
}

// direct delivers at once, never waiting: for code outside a roster or subscription change.
type direct struct{}

func (direct) deliver(s Session, stanza []byte) { s.Deliver(stanza) }

func (d direct) deliverResources(dir Directory, bare inspect.JID, stanza []byte, interested bool) {
	eachResource(dir, bare, interested, func(s Session) { d.deliver(s, stanza) })
}

// self is direct, except that what goes to the session c itself waits for room in its
// outbox: for the reader of c, which may deliver to its own client in bulk (the presences
// of all its contacts at login) and must not end its own session for it.
type self struct{ c *conn }

func (s self) deliver(to Session, stanza []byte) {
	if to == Session(s.c) {
		s.c.sendRouted(stanza)
		return
	}
	to.Deliver(stanza)
}

func (s self) deliverResources(dir Directory, bare inspect.JID, stanza []byte, interested bool) {
	eachResource(dir, bare, interested, func(to Session) { s.deliver(to, stanza) })
}

// delivery is one stanza for one session.
type delivery struct {
	to     Session
	stanza []byte
	// Or, when to is nil: the resources of bare that are available (or, with interested,
	// that asked for the roster), looked up after the transaction committed.
	bare       inspect.JID
	interested bool
}

// pairTx is the state of one pair of accounts inside a store transaction: each owner's
// roster item about the other. A contact that is not an account of this server has no slot.
type pairTx struct {
	owners []inspect.JID // bare JIDs
	slots  []*store.RosterSlot
}

// slot returns owner's slot, or nil when owner is not an account of this pair.
func (p *pairTx) slot(owner inspect.JID) *store.RosterSlot {
	for i, o := range p.owners {
		if o == owner {
			return p.slots[i]
		}
	}
	return nil
}

// hasAccount reports whether owner is an account of this server.
func (p *pairTx) hasAccount(owner inspect.JID) bool {
	sl := p.slot(owner)
	return sl != nil && sl.HasAccount
}

// item returns owner's roster item about the other and whether it exists.
func (p *pairTx) item(owner inspect.JID) (store.RosterItem, bool) {
	sl := p.slot(owner)
	if sl == nil || !sl.Exists {
		return store.RosterItem{}, false
	}
	return sl.Item, true
}

// put stores it as owner's item about the other when the transaction commits.
func (p *pairTx) put(owner inspect.JID, it store.RosterItem) error {
	sl := p.slot(owner)
	if sl == nil || !sl.HasAccount {
		return fmt.Errorf("%w: account %s", store.ErrNotFound, owner)
	}
	sl.Exists, sl.Item = true, it
	return nil
}

// del deletes owner's item about the other when the transaction commits.
func (p *pairTx) del(owner inspect.JID) {
	if sl := p.slot(owner); sl != nil {
		sl.Exists = false
	}
}

// pending records the deliveries decided inside a transaction.
type pending []delivery

func (p *pending) deliver(s Session, stanza []byte) { *p = append(*p, delivery{to: s, stanza: stanza}) }

// deliverResources records the delivery; who gets it is looked up by flush, after the
// commit.
func (p *pending) deliverResources(_ Directory, bare inspect.JID, stanza []byte, interested bool) {
	*p = append(*p, delivery{bare: bare, stanza: stanza, interested: interested})
}

// flush delivers what was recorded, once the transaction committed.
func (p pending) flush(dir Directory) {
	for _, d := range p {
		if d.to != nil {
			d.to.Deliver(d.stanza)
		} else {
			direct{}.deliverResources(dir, d.bare, d.stanza, d.interested)
		}
	}
}

// pairLocks order the deliveries of the changes of one pair (see above); a pair hashes to
// one of them, so unrelated pairs rarely share one.
type pairLocks [64]sync.Mutex

func (l *pairLocks) of(a, b inspect.JID) *sync.Mutex {
	x, y := a.String(), b.String()
	if x > y {
		x, y = y, x
	}
	h := fnv.New32a()
	h.Write([]byte(x))
	h.Write([]byte{0})
	h.Write([]byte(y))
	return &l[h.Sum32()%uint32(len(l))]
}

// changePair runs change on the items of user and contact (bare JIDs; user is an account
// of this server) about each other in one store transaction, then delivers what it
// delivered. It returns the transaction's error: change's own, or the store's (nothing
// was stored and nothing is delivered then).
func (s *Server) changePair(ctx context.Context, user, contact inspect.JID, change func(p *pairTx, out sender) error) error {
	owners := []inspect.JID{user}
	keys := []store.RosterKey{{User: user.Local, JID: contact.String()}}
	if contact.Domain == s.domain.Domain && contact.Local != "" {
		owners = append(owners, contact)
		keys = append(keys, store.RosterKey{User: contact.Local, JID: user.String()})
	}
	var rec pending
	mu := s.pairs.of(user, contact)
	mu.Lock()
	err := s.store.UpdateRoster(ctx, keys, func(slots []*store.RosterSlot) error {
		rec = rec[:0] // a run that is retried delivers nothing
		return change(&pairTx{owners: owners, slots: slots}, &rec)
	})
	if err == nil {
		rec.flush(s.dir)
	}
	mu.Unlock()
	return err
}
