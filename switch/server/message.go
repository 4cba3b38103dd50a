package server

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/switch/store"
)

// onMessage routes a message (RFC 6121 section 8): from is always stamped by the server,
// to is kept as written, the body and any extension pass through byte for byte.
// It needs only the top-level attributes, so no tree is built: to is the message's to
// (unescaped), typ the type it is routed as (routedType), and attr reads the others.
func (c *conn) onMessage(ctx context.Context, raw []byte, to, typ string, attr func(string) string) error {
	// m is built from locals: ParseJID(m.to) would move attr (and its closure) to the heap.
	m := msgAttrs{attr: attr, to: to, typ: typ}
	full := c.jid         // the reader's own: it alone binds (conn.mu is for the others)
	target := full.Bare() // no to: the user's own account (RFC 6121 section 8.1.1.1)
	if c.route == nil {
		c.route = &routeState{resources: make([]Session, 0, 4)} // once per session that sends a message
	}
	if to != "" {
		var err error
		if target, err = c.route.parseTo(to); err != nil {
			return c.bounce(m, errJIDMalformed)
		}
	}
	switch {
	case target.Domain != c.srv.domain.Domain:
		return c.bounce(m, errRemoteNotFound.WithText("this server does not federate"))
	case target.Local == "":
		return c.bounce(m, errServiceUnavailable)
	}
	st, err := stampFrom(raw, c.fromAttr)
	if err == errTwoFroms {
		var b []byte // both go, as restamp drops them
		b, err = restamp(raw, nil, []kv{{"from", full.String()}}, nil)
		st = ready(b)
	}
	if err != nil {
		return newStreamErr("internal-server-error", "message: "+err.Error())
	}
	if target.Resource != "" {
		if s := c.srv.dir.Lookup(target); s != nil && deliverStamped(s, &st) {
			return nil
		}
		// Not bound, or the session did not take it (it stopped reading and is being
		// dropped, or ended meanwhile): as if the resource were gone.
		switch typ {
		case "groupchat":
			return c.bounce(m, errServiceUnavailable)
		case "headline", "error":
			return nil
		}
		// chat and normal to a resource that is gone: as if to the bare JID (8.5.3.2.1).
	}
	return c.toAccount(ctx, m, target.Bare(), &st, full)
}

// routeState is what a session's reader keeps from one message it routes to the next: a
// buffer for the sessions of the recipient's account (see Server.toAccount), emptied after
// each message, and the last to it parsed, since a client mostly writes to the same
// contact several times in a row: the to is then neither copied nor parsed again.
type routeState struct {
	resources []Session
	to        string      // the last to parsed without error, as written (unescaped)...
	target    inspect.JID // ...and what it parsed to
}

// toText returns v, the to of a message as written without references, as a string: the
// last one's if it is the same.
func (r *routeState) toText(v []byte) string {
	if r != nil && string(v) == r.to {
		return r.to
	}
	return string(v)
}

// parseTo is inspect.ParseJID(to), for the last to without parsing it again.
func (r *routeState) parseTo(to string) (inspect.JID, error) {
	if to == r.to {
		return r.target, nil
	}
	j, err := inspect.ParseJID(to)
	if err == nil {
		r.to, r.target = to, j
	}
	return j, err
}

// toAccount delivers a message to the account bare (see Server.toAccount) and bounces it
// to its sender when it can be neither delivered nor kept.
func (c *conn) toAccount(ctx context.Context, m msgAttrs, bare inspect.JID, st *stamped, full inspect.JID) error {
	r := c.route
	e, bounce := c.srv.toAccount(ctx, m.typ, bare, st, full, r.resources)
	clear(r.resources[:cap(r.resources)]) // hold no session past the message
	if bounce {
		return c.bounce(m, e)
	}
	return nil
}

// toAccount delivers a routed message of type typ (as routed: chat, normal, headline,
// groupchat or error) from the full JID from to the account's available resources of
// highest non-negative priority (all of them for equal priority, all non-negative ones for
// headlines), or keeps chat and normal messages for later when none is available or none
// takes it. It returns the error to bounce to the sender, if one is due. The account's
// sessions are listed in scratch (which may be nil): a buffer of the caller's, since one of
// its own would escape through the Directory interface, an allocation per message.
func (s *Server) toAccount(ctx context.Context, typ string, bare inspect.JID, st *stamped, from inspect.JID, scratch []Session) (e stanzaError, bounce bool) {
	sessions := s.dir.Resources(scratch, bare)
	best := -1
	for _, sess := range sessions {
		if p := sess.Presence(); p.Available && p.Priority > best {
			best = p.Priority
		}
	}
	if best >= 0 && typ != "groupchat" && typ != "error" {
		delivered := false
		for _, sess := range sessions {
			if p := sess.Presence(); p.Available && p.Priority >= 0 && (p.Priority == best || typ == "headline") {
				delivered = deliverStamped(sess, st) || delivered
			}
		}
		if delivered {
			return stanzaError{}, false
		}
		// No session took it (each is ending): keep it as for a user who is offline, so
		// that it is not lost.
	}
	if typ == "error" || typ == "headline" {
		return stanzaError{}, false
	}
	if _, err := s.store.Account(ctx, bare.Local); errors.Is(err, store.ErrNotFound) {
		return errServiceUnavailable, true
	} else if err != nil {
		s.logf("switch: account lookup for %s: %v", bare, err)
		return storeError(err), true
	}
	if typ == "groupchat" {
		return errServiceUnavailable, true
	}
	// The store counts the queue (across restarts, and across nodes sharing a database).
	om := store.OfflineMessage{Stanza: st.bytes(), From: from.String(), Stamp: s.now()}
	switch err := s.store.AddOffline(ctx, bare.Local, om); {
	case err == nil:
		s.cfg.Stats.OfflineStored.Add(1)
		return stanzaError{}, false
	case errors.Is(err, store.ErrFull):
		// RFC 6120 8.3.3.18: the server lacks the resources to take the stanza.
		return errOfflineFull, true
	default:
		s.logf("switch: offline message for %s: %v", bare, err)
		return storeError(err), true
	}
}

// errOfflineFull answers a message for a user whose offline queue is full.
var errOfflineFull = inspect.NewStanzaError(inspect.CondResourceConstraint).WithText("offline storage full")

// bounce returns a message error to the sender, unless the message was itself an error.
func (c *conn) bounce(m msgAttrs, e stanzaError) error {
	if m.typ == "error" {
		return nil
	}
	return c.send(errorStanza("message", m.attr("id"), m.to, c.JID().String(), nil, e), "message", inspect.NSClient)
}

// msgAttrs is what the router keeps of a message: to as written, the type as routed, and
// attr to read the id only when an error is sent back.
type msgAttrs struct {
	attr    func(string) string
	to, typ string
}

// A delivery of offline messages confirms to the store what was written one chunk at a
// time: at most offlineChunk messages (and offlineChunkBytes, or one larger message) are
// written and not yet confirmed at any moment, which is what a crash delivers twice.
// A chunk costs one store write (a bbolt fsync, a PostgreSQL round trip).
const (
	offlineChunk      = 16
	offlineChunkBytes = 64 << 10
)

// deliverOffline sends the messages kept for the user at initial presence (deliverClaimed),
// then leaves a follow-up (followOffline) to deliver, in this login, those that another
// delivery held meanwhile and releases later.
func (c *conn) deliverOffline(ctx context.Context) error {
	c.off.deliver.Lock()
	_, err := c.deliverClaimed(ctx)
	c.off.deliver.Unlock()
	switch err {
	case nil:
		c.followOffline()
	case errDeliveryStopped:
		return nil // the session goes on; the rest is another delivery's, or the next login's
	}
	return err
}

// errDeliveryStopped is deliverClaimed's when a renewal of its claim failed: it wrote no
// more, and no follow-up takes the rest in this session (another delivery got it, or the
// store fails).
var errDeliveryStopped = errors.New("server: offline delivery stopped")

// offlineState is a session's deliveries of offline messages: the reader's at initial
// presence and its follow-up's.
type offlineState struct {
	deliver sync.Mutex // held by a delivery: one at a time, so that they come in order
	mu      sync.Mutex // guards the rest
	stop    context.CancelFunc
	done    chan struct{} // closed when the follow-up has ended; nil: none was started
	ended   bool          // the session ended: no follow-up starts
}

// followOffline starts the session's follow-up of offline deliveries, unless one runs:
// while the user's messages are all claimed by another delivery (a session of the user
// that is ending, here or on another node, or still writing them to its client), it
// waits for that claim to end (store.WaitOffline: woken by the release, at the latest
// when the lease runs out), then claims and delivers what was left. A user who logs in
// again at once after losing a connection in the middle of a delivery gets the rest in
// this login, not at the next. The claims keep it from writing a message another delivery
// writes. It ends when none is stored, when the session is no longer available or ends
// (stopOffline), or when a delivery could not write (the session is ending).
func (c *conn) followOffline() {
	o := &c.off
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ended || (o.done != nil && !closed(o.done)) {
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	o.stop, o.done = stop, make(chan struct{})
	go func(done chan struct{}) {
		defer close(done)
		defer stop()
		for empty := 0; empty < maxEmptyFollowUps; {
			more, err := c.srv.store.WaitOffline(ctx, c.user)
			if err != nil && ctx.Err() == nil {
				c.srv.logf("switch: offline messages of %s: %v", c.user, err)
			}
			if err != nil || !more {
				return
			}
			o.deliver.Lock()
			if ctx.Err() != nil || !c.Presence().Available {
				o.deliver.Unlock()
				return // the next initial presence delivers them
			}
			// Not cut short by stopOffline: a claim whose answer a cancelled query lost
			// would hide the messages for a lease. A delivery ends with the writer.
			n, err := c.deliverClaimed(context.WithoutCancel(ctx))
			o.deliver.Unlock()
			if err != nil {
				return
			}
			if empty++; n > 0 {
				empty = 0
			}
		}
	}(o.done)
}

// maxEmptyFollowUps bounds the rounds in a row in which a follow-up was told that messages
// may be claimable and claimed none (another delivery was quicker each time, or the store
// failed): it ends then, and the messages go to that delivery or to the next login.
const maxEmptyFollowUps = 3

// closed reports whether ch is closed.
func closed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// stopOffline ends the session's follow-up of offline deliveries and waits for it, so that
// it settles its claim (releasing what it did not write) while the session ends.
func (c *conn) stopOffline() {
	o := &c.off
	o.mu.Lock()
	o.ended = true
	stop, done := o.stop, o.done
	o.mu.Unlock()
	if done != nil {
		stop()
		<-done
	}
}

// deliverClaimed sends the messages kept for the user, oldest first, each with both delay
// stamps. They are claimed, not taken, and sent a chunk at a time: the store deletes those
// the writer reports written after each chunk, and keeps the rest (a crash meanwhile
// loses none; the client may get the last chunk twice, never none). The claim is renewed
// at each chunk and every third of the store's lease while the delivery waits on the
// client, so that however slow the client, no other delivery (another session, another
// node) gets the messages meanwhile; when a renewal fails (the claim was lost, or the
// store failed), the delivery stops before the next message and leaves the rest to a
// later one: a delay, never a message written twice by two deliveries. It returns how
// many messages it claimed, and errClosed when the session could not take them,
// errDeliveryStopped when it stopped.
func (c *conn) deliverClaimed(ctx context.Context) (int, error) {
	msgs, settle, err := c.srv.store.ClaimOffline(ctx, c.user)
	if err != nil {
		c.srv.logf("switch: offline messages of %s: %v", c.user, err)
		return 0, nil
	}
	var stopped atomic.Bool // a renewal failed: write no more
	// The session may be ending: what it delivered is deleted all the same.
	confirm := func(n int, final bool) {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		err := settle(sctx, n, final)
		switch {
		case err == nil:
		case final:
			c.srv.logf("switch: offline messages of %s: %d delivered but not deleted (they will be delivered again): %v", c.user, n, err)
		case stopped.CompareAndSwap(false, true):
			c.srv.logf("switch: offline messages of %s: delivery stopped, the rest is left to a later one: %v", c.user, err)
		}
	}
	if len(msgs) > 0 {
		end := make(chan struct{})
		renewed := make(chan struct{})
		go func() {
			defer close(renewed)
			t := time.NewTicker(max(c.srv.store.ClaimLease()/3, time.Millisecond))
			defer t.Stop()
			for !stopped.Load() {
				select {
				case <-end:
					return
				case <-t.C:
					confirm(0, false) // renews only: a smaller count deletes nothing
				}
			}
		}()
		defer func() {
			close(end)
			<-renewed
		}()
	}
	done := 0 // the messages before this one were written (or dropped) and confirmed
	seqs := make([]uint64, 0, min(len(msgs), offlineChunk))
	for done < len(msgs) {
		// Queue a chunk: seqs[k] is the outbox sequence number of msgs[done+k], 0 for a
		// damaged message, dropped (deleted with the delivered ones: it never could be).
		seqs = seqs[:0]
		size, refused := 0, false
		for end := done; end < len(msgs) && end-done < offlineChunk && size < offlineChunkBytes; end++ {
			if stopped.Load() {
				break // the claim may be another delivery's now
			}
			b, err := restamp(msgs[end].Stanza, nil, nil, appendDelay(nil, c.srv.domain.Domain, msgs[end].Stamp))
			if err != nil {
				c.srv.logf("switch: offline message for %s dropped: %v", c.user, err)
				seqs = append(seqs, 0)
				continue
			}
			seq := c.enqueue(outItem{b: b, kind: inspect.KindStanza, flags: routed | stored}, true)
			if seq == 0 {
				refused = true
				break
			}
			seqs = append(seqs, seq)
			size += len(b)
		}
		written := done
		for _, seq := range seqs {
			if seq != 0 {
				if !c.waitWritten(seq) {
					refused = true
					break
				}
				c.srv.cfg.Stats.OfflineDelivered.Add(1)
			}
			written++
		}
		if refused || written == len(msgs) || stopped.Load() {
			confirm(written, true)
			switch {
			case refused && written < len(msgs):
				return len(msgs), errClosed
			case stopped.Load():
				return len(msgs), errDeliveryStopped
			}
			return len(msgs), nil
		}
		confirm(written, false) // and renews the claim on the rest
		done = written
	}
	confirm(done, true) // no messages
	return 0, nil
}
