package proxy

import (
	"fmt"
	"slices"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/rules"
)

// Intercept (breakpoints) on the pipes. A stanza that matches a breakpoint is held in its
// pipe's own goroutine: the pipe waits for a decision, so the stanzas behind it in that
// direction wait too (order is kept) while the other direction goes on. While it waits,
// the pipe goes on reading what arrives behind the held stanza, into a queue it handles
// after the decision, up to Config.MaxHeld bytes per direction; then it stops reading, and
// TCP slows the sender down. Reading ahead also stops after any element after which the
// reader may have to restart or turn to TLS (<starttls/>, SASL), and after a stream header
// or closing tag: the reader must not read bytes it cannot frame yet.
//
// Reading ahead needs the reader in another goroutine (the pipe's is waiting for the
// decision). That helper is started at a direction's first hold and from then on serves
// every read of the direction, one event per permit, so that the pipe still decides when
// the reader may read (a reset or restart happens only while no read is outstanding).

// readAhead is a pipe's reader running in a helper goroutine. It is owned by the pipe's
// goroutine.
type readAhead struct {
	permit      chan struct{} // one read per value; closed when the pipe ends
	ch          chan aheadEv  // the event of each read
	queue       []aheadEv     // read, not handled yet
	outstanding bool          // a permit was given and its event not received
}

type aheadEv struct {
	ev  inspect.Event // owns its bytes
	err error
}

// holdable reports whether a stanza may be held: stanzas proper (message, presence, iq),
// not the negotiation's elements, which the negotiator must see in order.
func holdable(ev inspect.Event) bool {
	return ev.Name == "message" || ev.Name == "presence" || ev.Name == "iq"
}

// next returns the next event of direction dir: what was read ahead first, then from the
// helper once there is one, else from r.
func (s *session) next(dir inspect.Direction, r *inspect.Reader) (inspect.Event, error) {
	a := s.ahead[dir]
	if a == nil {
		return r.Next()
	}
	if len(a.queue) > 0 {
		x := a.queue[0]
		a.queue[0] = aheadEv{}
		a.queue = a.queue[1:]
		return x.ev, x.err
	}
	if a.outstanding {
		// The helper was already reading when the queue was handled: write what the
		// queue's events left pending before waiting for more input.
		if to := s.dest(dir); to != nil {
			if err := to.flush(); err != nil {
				return inspect.Event{}, &writeError{to.name, err}
			}
		}
	} else {
		a.permit <- struct{}{}
	}
	x := <-a.ch
	a.outstanding = false
	return x.ev, x.err
}

// startAhead starts the helper reading r for direction dir.
func (s *session) startAhead(dir inspect.Direction, r *inspect.Reader) *readAhead {
	a := &readAhead{permit: make(chan struct{}), ch: make(chan aheadEv, 1)}
	s.ahead[dir] = a
	s.helpers.Add(1)
	go func() {
		defer s.helpers.Done()
		for range a.permit {
			ev, err := r.Next()
			if err == nil {
				ev.Raw = append([]byte(nil), ev.Raw...)
				ev.Violations = slices.Clone(ev.Violations)
			}
			a.ch <- aheadEv{ev: ev, err: err}
			if err != nil {
				return
			}
		}
	}()
	return a
}

// stopAhead ends the helper of direction dir, if any, when its pipe ends. A helper still
// reading ends when the session closes its connections.
func (s *session) stopAhead(dir inspect.Direction) {
	if a := s.ahead[dir]; a != nil {
		close(a.permit)
	}
}

// stopsReading reports whether the reader must not read past ev before ev is handled.
func stopsReading(ev inspect.Event) bool {
	switch ev.Kind {
	case inspect.KindStreamOpen, inspect.KindStreamClose:
		return true
	case inspect.KindStanza:
		return inspect.After(ev.Name, ev.NS) != inspect.NextStanza
	}
	return false
}

// hold holds the stanza of rec at breakpoint b until a controller decides, the hold times
// out (released unchanged) or the connection ends (errHandled). Meanwhile it reads ahead.
func (s *session) hold(dir inspect.Direction, rec *inspect.Record, b *breakpoint) (uint64, Decision, error) {
	to := s.dest(dir)
	if err := to.flush(); err != nil { // what came before is not held back
		return 0, Decision{}, &writeError{to.name, err}
	}
	from, _ := s.sides(dir)
	timeout := s.p.cfg.HoldTimeout
	h := s.p.ctl.hold(s, rec, b, timeout)
	s.controlNote(dir, "held stanza %d (breakpoint %d: %s): the %s's stream waits for a decision (released unchanged after %v)",
		h.ID, b.id, b.f.String(), from.name, timeout)
	a := s.ahead[dir]
	if a == nil {
		r := s.cr
		if dir == inspect.ServerToClient {
			r = s.ur
		}
		a = s.startAhead(dir, r)
	}
	held := len(rec.Raw)
	reading := true
	for _, x := range a.queue {
		held += len(x.ev.Raw)
		if x.err != nil || stopsReading(x.ev) {
			reading = false
		}
	}
	max := s.p.cfg.MaxHeld
	if reading && held >= max {
		reading = false
		s.maxHeldNote(dir, from.name, held)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		if reading && !a.outstanding {
			a.permit <- struct{}{}
			a.outstanding = true
		}
		var ch <-chan aheadEv
		if a.outstanding {
			ch = a.ch
		}
		select {
		case d := <-h.decided:
			return h.ID, d, nil
		case x := <-ch:
			a.outstanding = false
			a.queue = append(a.queue, x)
			held += len(x.ev.Raw)
			switch {
			case x.err != nil || stopsReading(x.ev):
				reading = false
			case held >= max:
				reading = false
				s.maxHeldNote(dir, from.name, held)
			}
		case <-timer.C:
			h.decide(Decision{Action: Release, By: ByTimeout}) // the decision arrives next
		case <-s.dead:
			h.decide(Decision{Action: Drop, By: ByTimeout}) // forgets it
			return h.ID, Decision{}, errHandled
		}
	}
}

func (s *session) maxHeldNote(dir inspect.Direction, from string, held int) {
	s.controlNote(dir, "%d bytes held in this direction (--max-held %d): the proxy stops reading from the %s until the held stanza is decided (TCP backpressure)",
		held, s.p.cfg.MaxHeld, from)
}

// controlNote records what a controller or the proxy's control did, with origin proxy.
func (s *session) controlNote(dir inspect.Direction, format string, args ...any) {
	if s.p.cfg.Sink == nil {
		return
	}
	r := s.noteRec(inspect.KindNote, format, args...)
	r.Origin, r.Dir = inspect.OriginProxy, dir
	s.emit(r)
}

// decided carries out a decision about the held stanza of rec, for stanza (forward.go):
// it returns the bytes to forward instead (edit), or forward false when the stanza goes
// no further (drop, reject), the records written.
func (s *session) decided(dir inspect.Direction, rec *inspect.Record, id uint64, d Decision) (edited []byte, forward bool, err error) {
	who := d.By
	switch d.Action {
	case Edit:
		s.controlNote(dir, "held stanza %d edited and released by %s (the record shows the original and the edit)", id, who)
		return d.Stanza, true, nil
	case Drop:
		s.controlNote(dir, "held stanza %d dropped by %s", id, who)
		rec.Verdict = inspect.Dropped
		if s.p.cfg.Sink != nil {
			s.dest(dir).record(rec)
		}
		return nil, false, nil
	case Reject:
		raw, _ := rules.BounceError(rec, inspect.StanzaError{Condition: d.Condition, Text: d.Text})
		s.controlNote(dir, "held stanza %d rejected by %s with %s", id, who, d.Condition)
		rec.Verdict = inspect.Rejected
		if s.p.cfg.Sink != nil {
			s.dest(dir).record(rec)
		}
		if raw != nil {
			if err := s.inject(dir, rules.Injection{Dir: dir.Reverse(), Raw: raw}); err != nil {
				return nil, false, err
			}
		}
		return nil, false, nil
	}
	if who == ByTimeout {
		s.controlNote(dir, "held stanza %d released unchanged: nobody decided within %v (hold timeout)", id, s.p.cfg.HoldTimeout)
	} else {
		s.controlNote(dir, "held stanza %d released by %s", id, who)
	}
	return nil, true, nil
}

// send writes a stanza of a controller's into the connection, toward the client (dir
// s2c) or the server (c2s).
func (s *session) send(dir inspect.Direction, raw []byte, by string) error {
	if err := checkStanza(raw, s.hdr[dir].Load()); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	s.mu.Lock()
	busy := s.busy()
	to := s.dest(dir)
	s.mu.Unlock()
	if busy != "" {
		return fmt.Errorf("connection %d: %s: %w", s.id, busy, ErrBusy)
	}
	if to == nil {
		return fmt.Errorf("connection %d: no upstream yet: %w", s.id, ErrBusy)
	}
	r := s.ownRec(dir, inspect.KindStanza, raw)
	if err := to.writeIfOpen(raw, r); err != nil {
		if err == errNoStream {
			return fmt.Errorf("connection %d: no stream is open toward the %s (it is being negotiated or has ended): %w", s.id, to.name, ErrBusy)
		}
		return fmt.Errorf("connection %d: writing to the %s: %w", s.id, to.name, err)
	}
	peer := "server"
	if dir == inspect.ServerToClient {
		peer = "client"
	}
	s.controlNote(dir, "the stanza above was sent to the %s by %s", peer, by)
	return nil
}

// busy says why nothing can be sent into the connection now: a TLS or SASL negotiation in
// progress. s.mu must be held.
func (s *session) busy() string {
	n := s.neg
	switch {
	case n.await == awaitTLS || n.await == awaitOwnTLS || n.proceed != nil || n.holding || n.replay || s.handshaking.Load() > 0:
		return "TLS negotiation in progress"
	case n.await == awaitSASL || s.saslOn.Load():
		return "SASL negotiation in progress"
	}
	return ""
}
