package proxy

import (
	"bytes"

	"github.com/stanzascope/stanzascope/inspect"
)

var bindNS = []byte(inspect.NSBind)

// s2c is the server-to-client pipe: it reads the upstream and writes the client.
func (s *session) s2c() error {
	return s.pipe(inspect.ServerToClient, s.ur, s.serverOpen, s.serverStanza)
}

// serverOpen handles a new stream header from the upstream.
func (s *session) serverOpen(ev inspect.Event) error {
	const dir = inspect.ServerToClient
	s.mu.Lock()
	s.replayHdr = append([]byte(nil), ev.Raw...)
	s.mu.Unlock()
	if s.direct && !s.upTLSTried && !s.up.isTLS() {
		if s.ur.Header().Legacy() {
			// A pre-1.0 stream has no features, so no STARTTLS: the upstream leg
			// cannot be TLS.
			s.upTLSTried = true
			if !s.p.cfg.AllowPlaintextUpstream {
				if s.p.cfg.Sink != nil {
					r := s.rec(ev, dir)
					r.Verdict = inspect.Dropped
					s.emit(r)
				}
				return s.refusePlainUpstream("the client uses Direct TLS")
			}
			s.allowPlainUpstream("the client uses Direct TLS")
			s.settleUpstream()
			return s.passthrough(ev, dir)
		}
		// The client already speaks TLS: hold the header until the features say
		// whether the proxy can secure the upstream leg before the client sees
		// anything.
		s.held = append(s.held[:0], ev.Raw...)
		if s.p.cfg.Sink != nil {
			s.heldRec = s.rec(ev, dir)
		}
		return nil
	}
	return s.passthrough(ev, dir)
}

// serverStanza handles one stanza from the upstream, acting on the milestones.
func (s *session) serverStanza(ev inspect.Event) error {
	const dir = inspect.ServerToClient
	switch {
	case ev.NS == inspect.NSStreams && ev.Name == "features":
		return s.features(ev)
	case inspect.After(ev.Name, ev.NS) == inspect.NextTLS:
		if s.takeAwait(awaitTLS) {
			return s.interceptTLS(ev)
		}
	case ev.NS == inspect.NSTLS && ev.Name == "failure":
		_, err := s.stanza(ev, dir, nil)
		if s.takeAwait(awaitTLS) {
			// The client asked for TLS and cannot have it; RFC 6120 section 5.4.2.2
			// says the stream ends here, and the proxy makes sure it does, so that
			// nothing more of the client's crosses the plaintext legs.
			// The c2s pipe is not resumed: it ends when this pipe does.
			s.fail("the upstream refused STARTTLS (<failure/> forwarded to the client): connection closed")
			if err != nil {
				return err
			}
			s.closeStreamTo(s.up)
			return errHandled
		}
		return err
	case inspect.After(ev.Name, ev.NS) == inspect.NextRestart:
		_, err := s.stanza(ev, dir, nil)
		s.milestone(inspect.Milestone{Kind: inspect.MilestoneSASL, Result: inspect.SASLSuccess}, "SASL: success")
		s.mu.Lock()
		s.authenticated = true
		s.mu.Unlock()
		// Both sides start new streams on the same connections (RFC 6120 6.4.6).
		s.ur.Restart()
		s.up.restarted()
		s.client.restarted()
		if s.takeAwait(awaitSASL) {
			s.resumeC2S(func() error { s.cr.Restart(); return nil })
		}
		return err
	case ev.NS == inspect.NSSASL && (ev.Name == "challenge" || ev.Name == "failure"):
		_, err := s.stanza(ev, dir, nil)
		if ev.Name == "failure" {
			cond := saslCondition(ev.Raw, s.ur.Header())
			s.milestone(inspect.Milestone{Kind: inspect.MilestoneSASL, Result: inspect.SASLFailure, Condition: cond}, "SASL: failure %s", cond)
		}
		if s.takeAwait(awaitSASL) {
			s.resumeC2S(nil)
		}
		return err
	case ev.NS == inspect.NSStreams && ev.Name == "error":
		s.note("upstream sent a stream error: %s", saslCondition(ev.Raw, s.ur.Header()))
	case ev.Name == "iq" && bytes.Contains(ev.Raw, bindNS):
		s.checkBind(ev)
	}
	_, err := s.stanza(ev, dir, nil)
	return err
}

// checkBind notes the JID the server bound (RFC 6120 section 7.6.1).
func (s *session) checkBind(ev inspect.Event) {
	if inspect.TopAttr(ev.Raw, "type") != "result" {
		return
	}
	el, err := inspect.ParseElement(ev.Raw, s.ur.Header())
	if err != nil {
		return
	}
	b := el.Child(inspect.NSBind, "bind")
	if b == nil {
		return
	}
	j := b.Child(inspect.NSBind, "jid")
	if j == nil {
		return
	}
	jid := j.Text()
	s.mu.Lock()
	s.bound = jid
	s.mu.Unlock()
	s.milestone(inspect.Milestone{Kind: inspect.MilestoneBound, JID: jid}, "bound JID %s", jid)
}

// saslCondition returns the name of the first child element (the condition of a SASL
// failure or stream error), for the log.
func saslCondition(raw []byte, h *inspect.Header) string {
	el, err := inspect.ParseElement(raw, h)
	if err != nil {
		return "(unparsable)"
	}
	if c := el.FirstElement(); c != nil {
		return c.Local
	}
	return "(no condition)"
}
