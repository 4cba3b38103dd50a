package proxy

import (
	"crypto/tls"
	"fmt"

	"github.com/stanzascope/stanzascope/inspect"
)

// negotiate hands an event to the negotiator and executes what it returns, in the pipe of
// leg by. ev is the reader's event the operations refer to (forward it, record it as
// intercepted, hold it).
func (s *session) negotiate(by legID, ev inspect.Event, e nevent) error {
	s.mu.Lock()
	ops := s.neg.handle(by, e)
	s.mu.Unlock()
	return s.exec(by, ev, ops)
}

// exec executes the negotiator's operations. A TLS handshake is always the last one: its
// result is the next event, handed to the negotiator in turn. So is a wait for the
// upstream's answer.
func (s *session) exec(by legID, ev inspect.Event, ops []op) error {
	dir := inspect.ClientToServer
	if by == legUpstream {
		dir = inspect.ServerToClient
	}
	forwarded := false // the last opForward's event left
	for _, o := range ops {
		switch o.kind {
		case opForward:
			fwd, err := s.forward(ev, dir, o)
			if err != nil {
				return err
			}
			forwarded = fwd
		case opSpace:
			if err := s.forwardBufferedSpace(); err != nil {
				return err
			}
		case opAwait:
			return s.await(forwarded)
		case opIntercept:
			if s.p.cfg.Sink != nil {
				r := s.rec(ev, dir)
				r.Verdict = o.verdict
				s.dest(dir).record(r)
			}
		case opHold:
			s.held = append(s.held[:0], ev.Raw...)
			s.heldRec = s.recOf(ev, dir)
		case opRelease:
			r := s.heldRec
			s.heldRec = nil
			if err := s.client.writeOpen(s.held, r); err != nil {
				return &writeError{"client", err}
			}
			s.held = nil
		case opDropHeld:
			s.emitHeld(o.verdict)
			s.held = nil
		case opWrite:
			to := s.sideOf(o.leg)
			kind := inspect.KindStanza
			if o.open {
				kind = inspect.KindStreamOpen
			}
			r := s.ownRec(towards(o.leg), kind, o.raw)
			if r != nil && r.Name == "features" {
				r.NS = inspect.NSStreams
			}
			var err error
			if o.open {
				err = to.writeOpen(o.raw, r)
			} else {
				err = to.write(o.raw, r)
			}
			if err != nil {
				return &writeError{to.name, err}
			}
		case opStartTLS:
			return s.startTLS(by, ev, o)
		case opResetReader:
			if o.leg == legUpstream {
				s.ur.Reset(s.source(s.upTC, false))
			} else {
				s.cr.Reset(s.source(s.clientTC, true)) // only in the client's own pipe
			}
		case opRestartReader:
			s.ur.Restart()
		case opRestarted:
			s.sideOf(o.leg).restarted()
		case opResume:
			switch o.then {
			case opResetReader:
				tc := s.clientTC
				s.resumeC2S(func() error { s.cr.Reset(s.source(tc, true)); return nil })
			case opRestartReader:
				s.resumeC2S(func() error { s.cr.Restart(); return nil })
			default:
				s.resumeC2S(nil)
			}
		case opSettle:
			s.settleUpstream()
		case opMilestone:
			switch o.m.Kind {
			case inspect.MilestoneSASL:
				s.saslOn.Store(o.m.Result == inspect.SASLChosen)
			case inspect.MilestoneBound:
				jid := o.m.JID
				s.bound.Store(&jid)
			}
			s.milestone(o.m, "%s", milestoneText(o.m))
		case opNote:
			s.note("%s", o.text)
		case opFail:
			s.fail("%s", o.text)
		case opPlainUpstream:
			s.allowPlainUpstream(o.text)
		case opStreamError:
			s.streamErrorTo(s.sideOf(o.leg), o.cond, o.text)
		case opClose:
			s.closeStreamTo(s.sideOf(o.leg))
		case opEnd:
			return errHandled
		}
	}
	return nil
}

// forward passes ev on in direction dir: a stanza through the rules (edited bytes when
// o.raw is set), anything else as it is. It reports whether the event left (a rule may
// drop a stanza).
func (s *session) forward(ev inspect.Event, dir inspect.Direction, o op) (bool, error) {
	if ev.Kind != inspect.KindStanza {
		return true, s.passthrough(ev, dir)
	}
	return s.stanza(ev, dir, o.raw)
}

// await blocks the client's pipe until the upstream's answer to the stanza it forwarded
// (the negotiator already waits for it: it may come before this pipe goes on). A stanza
// that did not leave gets no answer: the negotiator stops waiting.
func (s *session) await(forwarded bool) error {
	if !forwarded {
		s.mu.Lock()
		s.neg.notForwarded()
		s.mu.Unlock()
		return nil
	}
	return s.waitResume()
}

// startTLS runs a handshake on a leg and hands its result to the negotiator.
func (s *session) startTLS(by legID, ev inspect.Event, o op) error {
	s.handshaking.Add(1)
	defer s.handshaking.Add(-1)
	if o.leg == legUpstream {
		if s.p.cfg.UpstreamInProcess {
			// The server in this process takes the link as secured after its <proceed/>
			// too (server.Config.InProcessLink): no handshake, the stream starts over.
			s.upTC = s.up.securedInProcess()
			return s.negotiate(by, ev, nevent{kind: evTLS, from: legUpstream, inProcess: true})
		}
		tc, err := s.handshakeUpstream()
		if err == nil {
			s.upTC = tc
		}
		return s.negotiate(by, ev, nevent{kind: evTLS, from: legUpstream, tlsErr: err, tlsState: s.up.tlsState()})
	}
	var r *inspect.Record
	if s.p.cfg.Sink != nil {
		r = s.proxyRec(inspect.ServerToClient, inspect.KindStanza, o.raw)
		if o.fwd { // the upstream's own <proceed/>, forwarded
			r.Origin, r.Verdict = inspect.OriginServer, inspect.Forwarded
		}
	}
	tc, err := s.handshakeClient(o.raw, r)
	s.clientTC = tc
	return s.negotiate(by, ev, nevent{kind: evTLS, from: legClient, tlsErr: err, tlsState: s.client.tlsState()})
}

// sideOf returns the side of a leg.
func (s *session) sideOf(l legID) *side {
	if l == legClient {
		return s.client
	}
	return s.up
}

// towards returns the direction of bytes written to leg l.
func towards(l legID) inspect.Direction {
	if l == legClient {
		return inspect.ServerToClient
	}
	return inspect.ClientToServer
}

// milestoneText is the sentence of a milestone, for a person.
func milestoneText(m inspect.Milestone) string {
	switch m.Kind {
	case inspect.MilestoneTLS:
		if m.InProcess {
			return "STARTTLS with " + m.Leg + ": secured as an in-process link, not encrypted (nothing leaves this process)"
		}
		t := fmt.Sprintf("TLS with %s: %s, %s", m.Leg, m.Version, m.Cipher)
		if m.SNI != "" {
			t += ", SNI " + m.SNI
		}
		if m.Direct {
			t += " (Direct TLS)"
		}
		return t
	case inspect.MilestoneSASL:
		switch m.Result {
		case inspect.SASLChosen:
			return "SASL: client chose mechanism " + m.Mechanism
		case inspect.SASLFailure:
			return "SASL: failure " + m.Condition
		}
		return "SASL: " + m.Result
	case inspect.MilestoneBound:
		return "bound JID " + m.JID
	}
	return string(m.Kind)
}

// tlsState returns the state of the leg's TLS connection, or nil.
func (s *side) tlsState() *tls.ConnectionState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tls
}
