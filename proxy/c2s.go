package proxy

import (
	"github.com/stanzascope/stanzascope/inspect"
)

// c2s is the client-to-server pipe: it reads the client and writes the upstream until
// the client's stream ends or something fails.
func (s *session) c2s() error {
	if err := s.waitUpstream(); err != nil {
		return err
	}
	return s.pipe(inspect.ClientToServer, s.cr, s.clientOpen, s.clientStanza)
}

// clientOpen handles a new stream header from the client.
func (s *session) clientOpen(ev inspect.Event) error {
	if s.replayPending {
		s.replayPending = false
		return s.replayToClient(ev)
	}
	s.mu.Lock()
	s.clientHdr = append(s.clientHdr[:0], ev.Raw...)
	s.mu.Unlock()
	return s.passthrough(ev, inspect.ClientToServer)
}

// pipe reads the events of direction dir from r until the stream ends or something
// fails, handing stream headers to open and stanzas to stanza and passing the rest on.
func (s *session) pipe(dir inspect.Direction, r *inspect.Reader, open, stanza func(inspect.Event) error) error {
	st := &s.stats[dir]
	for {
		ev, err := r.Next()
		if err != nil {
			if ferr := s.flushErr[dir]; ferr != nil {
				return ferr
			}
			return err
		}
		st.bytes += int64(len(ev.Raw))
		switch ev.Kind {
		case inspect.KindStreamOpen:
			s.hdr[dir].Store(r.Header())
			err = open(ev)
		case inspect.KindStanza:
			st.stanzas++
			err = stanza(ev)
		default:
			if ev.Kind == inspect.KindStreamClose {
				s.closedBy[dir].Store(true)
			}
			err = s.passthrough(ev, dir)
		}
		if err != nil {
			return err
		}
	}
}

// clientStanza handles one stanza from the client, waiting for the upstream's answer to
// STARTTLS and SASL elements before reading on.
func (s *session) clientStanza(ev inspect.Event) error {
	const dir = inspect.ClientToServer
	switch inspect.After(ev.Name, ev.NS) {
	case inspect.NextMaybeTLS:
		return s.clientStartTLS(ev)
	case inspect.NextMaybeRestart:
		if ev.Name == "auth" {
			mech := inspect.TopAttr(ev.Raw, "mechanism")
			s.milestone(inspect.Milestone{Kind: inspect.MilestoneSASL, Mechanism: mech, Result: inspect.SASLChosen},
				"SASL: client chose mechanism %s", mech)
		}
		s.setAwait(awaitSASL)
		fwd, err := s.stanza(ev, dir, nil)
		if err != nil {
			return err
		}
		if !fwd {
			s.setAwait(awaitNone)
			return nil
		}
		return s.waitResume()
	}
	_, err := s.stanza(ev, dir, nil)
	return err
}

func (s *session) setAwait(k awaitKind) {
	s.mu.Lock()
	s.await = k
	s.mu.Unlock()
}

// takeAwait reports whether the c2s pipe waits for an answer of kind k, and if so stops
// waiting for another.
func (s *session) takeAwait(k awaitKind) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.await != k {
		return false
	}
	s.await = awaitNone
	return true
}

// waitResume blocks the c2s pipe until the s2c pipe has seen the answer and runs what
// it sent (a reader Reset or Restart, in this goroutine, which owns the reader).
func (s *session) waitResume() error {
	if err := s.up.flush(); err != nil {
		return &writeError{"upstream", err}
	}
	select {
	case act := <-s.resume:
		if act != nil {
			return act()
		}
		return nil
	case <-s.s2cDone:
		return errPeerGone
	}
}

// resumeC2S hands the c2s pipe what to do once it may read again.
func (s *session) resumeC2S(act func() error) {
	s.resume <- act
}

// replayToClient answers the client's new stream header after TLS that the proxy
// negotiated itself: the upstream's stream goes on, so the client gets a copy of the
// upstream's header and features instead of a new stream.
func (s *session) replayToClient(ev inspect.Event) error {
	const dir = inspect.ClientToServer
	s.intercepted(ev, dir)
	s.note("stream restart after TLS with the proxy: header not forwarded, the upstream's header and features are repeated to the client")
	s.mu.Lock()
	hdr, feat := s.replayHdr, s.replayFeat
	s.mu.Unlock()
	if err := s.client.writeOpen(hdr, s.ownRec(inspect.ServerToClient, inspect.KindStreamOpen, hdr)); err != nil {
		return &writeError{"client", err}
	}
	r := s.ownRec(inspect.ServerToClient, inspect.KindStanza, feat)
	if r != nil {
		r.NS = inspect.NSStreams
	}
	if err := s.client.write(feat, r); err != nil {
		return &writeError{"client", err}
	}
	return nil
}
