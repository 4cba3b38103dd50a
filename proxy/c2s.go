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
	return s.pipe(inspect.ClientToServer, s.cr, s.clientEvent)
}

// clientEvent hands a header, a stanza or whitespace from the client to the negotiator.
func (s *session) clientEvent(ev inspect.Event) error {
	k := evStanza
	switch ev.Kind {
	case inspect.KindStreamOpen:
		k = evHeader
	case inspect.KindWhitespace:
		k = evWhitespace
	}
	return s.negotiate(legClient, ev, nevent{kind: k, from: legClient, name: ev.Name, ns: ev.NS, raw: ev.Raw, hdr: s.cr.Header()})
}

// pipe reads the events of direction dir from r until the stream ends or something
// fails, handing headers, stanzas and whitespace to handle and passing the rest on.
// Whitespace goes to the negotiator too: the upstream's may not reach a client whose
// stream is not open yet, and the client's must not cross a stream restart.
func (s *session) pipe(dir inspect.Direction, r *inspect.Reader, handle func(inspect.Event) error) error {
	st := &s.stats[dir]
	defer s.stopAhead(dir)
	for {
		s.waitQuiet(dir, r)
		ev, err := s.next(dir, r)
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
			err = handle(ev)
		case inspect.KindStanza:
			st.stanzas++
			err = handle(ev)
		case inspect.KindWhitespace:
			err = handle(ev)
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

// forwardBufferedSpace forwards the client's whitespace already read behind the stanza
// just forwarded (opSpace), before the c2s pipe waits for the upstream's answer.
// go-sendxmpp sends "<auth>...</auth>\n" in one write: held until after <success/>, the
// "\n" would reach the server on its restarted stream, before the new XML declaration,
// where it is not well-formed (Prosody closes the stream). Forwarded now, it leaves in
// the same flush as the stanza, as the client sent it.
func (s *session) forwardBufferedSpace() error {
	for s.cr.SpaceBuffered() {
		ev, err := s.cr.Next()
		if err != nil {
			return err
		}
		s.stats[inspect.ClientToServer].bytes += int64(len(ev.Raw))
		if err := s.passthrough(ev, inspect.ClientToServer); err != nil {
			return err
		}
	}
	return nil
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
