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

// clientEvent hands a header or a stanza from the client to the negotiator.
func (s *session) clientEvent(ev inspect.Event) error {
	k := evStanza
	if ev.Kind == inspect.KindStreamOpen {
		k = evHeader
	}
	return s.negotiate(legClient, ev, nevent{kind: k, from: legClient, name: ev.Name, ns: ev.NS, raw: ev.Raw, hdr: s.cr.Header()})
}

// pipe reads the events of direction dir from r until the stream ends or something
// fails, handing headers and stanzas to handle and passing the rest on. The upstream's
// whitespace goes to handle too: it may not reach a client whose stream is not open yet.
func (s *session) pipe(dir inspect.Direction, r *inspect.Reader, handle func(inspect.Event) error) error {
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
			err = handle(ev)
		case inspect.KindStanza:
			st.stanzas++
			err = handle(ev)
		case inspect.KindWhitespace:
			if dir == inspect.ServerToClient {
				err = handle(ev)
			} else {
				err = s.passthrough(ev, dir)
			}
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
