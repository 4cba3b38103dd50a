package server

// Roster pushes and subscription deliveries are decided in a store transaction and put in
// order under a lock of the pair of accounts (pairtx.go), but never written under it: a
// client that does not read would hold the lock for a whole write timeout. They are held
// instead: each one takes its place in the recipient's queue while the lock is held (so a
// recipient sees them in the order the state changed), and is written once the lock is
// released. (The per-session outbox of issue 13 generalises this to every delivery;
// with it, a batch can be flushed before the lock is released, and hold goes away.)

// sender delivers stanzas to sessions: at once (direct), after the pair's lock is released
// (*batch), or once a transaction committed (*pending, pairtx.go).
type sender interface {
	deliver(s Session, stanza []byte)
}

// direct delivers at once: for code outside a roster or subscription change.
type direct struct{}

func (direct) deliver(s Session, stanza []byte) { s.Deliver(stanza) }

// batch holds the deliveries decided under a pair's lock until flush.
type batch struct {
	conns  []*conn    // local sessions with held stanzas, each once
	others []delivery // sessions of another kind, in order
}

type delivery struct {
	to     Session
	stanza []byte
}

func (b *batch) deliver(s Session, stanza []byte) {
	c, ok := s.(*conn)
	if !ok {
		b.others = append(b.others, delivery{s, stanza})
		return
	}
	c.hold(stanza)
	for _, o := range b.conns {
		if o == c {
			return
		}
	}
	b.conns = append(b.conns, c)
}

// flush writes what was held. It must be called without the pair's lock; a recipient that
// does not read blocks only this goroutine, for at most WriteTimeout per recipient.
func (b *batch) flush() {
	for _, c := range b.conns {
		c.writeHeld()
	}
	for _, d := range b.others {
		d.to.Deliver(d.stanza)
	}
}

// hold queues stanza for c; it is written by writeHeld, or before the next Deliver.
func (c *conn) hold(stanza []byte) {
	c.heldMu.Lock()
	c.held = append(c.held, stanza)
	c.nheld.Store(int32(len(c.held)))
	c.heldMu.Unlock()
}

// writeHeld writes the held stanzas, in order.
func (c *conn) writeHeld() {
	if c.nheld.Load() == 0 {
		return
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.writeHeldLocked()
}

// writeHeldLocked writes the held stanzas; the caller holds wmu, so nothing else is
// written in between and a later Deliver comes after them.
func (c *conn) writeHeldLocked() {
	if c.nheld.Load() == 0 {
		return
	}
	c.heldMu.Lock()
	held := c.held
	c.held = nil
	c.nheld.Store(0)
	c.heldMu.Unlock()
	for _, b := range held {
		c.deliverLocked(b)
	}
}
