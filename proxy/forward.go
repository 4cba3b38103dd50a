package proxy

import (
	"time"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/rules"
)

// dest returns the side that bytes travelling in dir are written to.
func (s *session) dest(dir inspect.Direction) *side {
	if dir == inspect.ClientToServer {
		return s.up
	}
	return s.client
}

// passthrough forwards a non-stanza event (header, whitespace, closing tag) unchanged and
// records it.
func (s *session) passthrough(ev inspect.Event, dir inspect.Direction) error {
	if ev.Kind == inspect.KindWhitespace && s.p.cfg.Hook != nil {
		return s.keepalive(ev, dir)
	}
	to := s.dest(dir)
	rec := s.recOf(ev, dir)
	var err error
	switch ev.Kind {
	case inspect.KindStreamOpen:
		err = to.queueOpen(ev.Raw, rec)
	case inspect.KindStreamClose:
		err = to.queueClose(ev.Raw, rec)
	default:
		err = to.queue(ev.Raw, rec)
	}
	if err != nil {
		return &writeError{to.name, err}
	}
	return nil
}

// keepalive offers whitespace between stanzas to the hook, which may drop it, tag it or
// hide it from the log (rules with keepalive: true); other outcomes do not apply to it.
func (s *session) keepalive(ev inspect.Event, dir inspect.Direction) error {
	to := s.dest(dir)
	rec := s.rec(ev, dir)
	o := s.p.cfg.Hook.Apply(rules.Input{Conn: s.info, Dir: dir, BoundJID: s.boundJID(), Record: rec})
	var err error
	rec.SetRuleOutcome(o.Tags, o.Matched)
	show := rec
	if s.p.cfg.Sink == nil || o.Hide {
		show = nil
	}
	if o.Verdict == rules.Forward {
		err = to.queue(ev.Raw, show)
	} else if show != nil {
		rec.Verdict = inspect.Dropped
		to.record(rec)
	}
	if err != nil {
		return &writeError{to.name, err}
	}
	return nil
}

// stanza offers a stanza to the hook and does what it says: injections before, the stanza
// (the received bytes, edited when non-nil, or the hook's replacement), injections after.
// It reports whether the stanza itself was forwarded.
func (s *session) stanza(ev inspect.Event, dir inspect.Direction, edited []byte) (bool, error) {
	to := s.dest(dir)
	send := ev.Raw
	if edited != nil {
		send = edited
	}
	armed := edited == nil && s.p.ctl.armed() && holdable(ev)
	if !armed && s.p.cfg.Hook == nil && s.p.cfg.Sink == nil {
		if err := to.queue(send, nil); err != nil {
			return false, &writeError{to.name, err}
		}
		return true, nil
	}
	rec := s.rec(ev, dir)
	if armed {
		if b := s.p.ctl.match(rec, s.boundJID()); b != nil {
			id, d, err := s.hold(dir, rec, b)
			if err != nil {
				if err == errHandled && s.p.cfg.Sink != nil {
					rec.Verdict = inspect.Dropped
					rec.SetNote("not delivered: the connection ended while the stanza was held")
					to.record(rec)
				}
				return false, err
			}
			var fwd bool
			if edited, fwd, err = s.decided(dir, rec, id, d); !fwd || err != nil {
				return false, err
			}
			if edited != nil {
				send = edited
				rec.Name = inspect.TopName(edited)
			}
			rec.SetElement(nil) // the rules see the stanza that is forwarded
		}
	}
	if edited != nil {
		rec.SetOriginal(rec.Raw)
		rec.Raw = append([]byte(nil), edited...)
	}
	var o rules.Outcome
	if s.p.cfg.Hook != nil {
		o = s.p.cfg.Hook.Apply(rules.Input{Conn: s.info, Dir: dir, BoundJID: s.boundJID(), Record: rec})
	}
	if o.Delay > 0 {
		if err := to.flush(); err != nil { // what came before is not held back
			return false, &writeError{to.name, err}
		}
		t := time.NewTimer(o.Delay)
		select {
		case <-t.C:
		case <-s.dead:
			t.Stop()
			return false, errHandled
		}
	}
	for _, inj := range o.Inject {
		if inj.Before {
			if err := s.inject(dir, inj); err != nil {
				return false, err
			}
		}
	}
	forwarded := false
	var werr error
	rec.SetRuleOutcome(o.Tags, o.Matched)
	show := rec
	if s.p.cfg.Sink == nil || o.Hide {
		show = nil
	}
	switch o.Verdict {
	case rules.Forward:
		if o.Replaced != nil {
			if rec.Original() == nil {
				rec.SetOriginal(rec.Raw)
			}
			rec.Raw, send = o.Replaced, o.Replaced
			rec.SetElement(nil)
		}
		if o.Delay > 0 {
			rec.Verdict = inspect.Delayed
		}
		if err := to.queue(send, show); err != nil {
			werr = &writeError{to.name, err}
		}
		forwarded = true
	case rules.Drop, rules.Reject:
		rec.Verdict = o.Verdict
		if show != nil {
			to.record(rec)
		}
	}
	if werr != nil {
		return forwarded, werr
	}
	for _, inj := range o.Inject {
		if !inj.Before {
			if err := s.inject(dir, inj); err != nil {
				return forwarded, err
			}
		}
	}
	return forwarded, nil
}

// inject sends a stanza a rule made. A failed write toward the other direction is left
// for that direction's pipe to notice; only a failure on this pipe's own writer ends it.
func (s *session) inject(dir inspect.Direction, inj rules.Injection) error {
	d := inj.Dir
	if d == inspect.DirNone {
		d = dir
	}
	to := s.dest(d)
	var r *inspect.Record
	if s.p.cfg.Sink != nil {
		r = s.proxyRec(d, inspect.KindStanza, inj.Raw)
	}
	err := to.write(inj.Raw, r)
	if err != nil && d == dir {
		return &writeError{to.name, err}
	}
	return nil
}

// boundJID returns the JID the connection is bound to, "" before binding.
func (s *session) boundJID() string {
	if b := s.bound.Load(); b != nil {
		return *b
	}
	return ""
}
