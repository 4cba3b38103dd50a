package proxy

import (
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// After the proxy ends a connection itself with a stream error, the side that got it is not
// closed with the other (see inspect.Linger for why): kill only cuts its reads short, and
// once both pipes have ended the session lingers on it, all of the connection's sides
// within inspect.LingerTime together.

// lingers reports whether the connection toward this peer is to be closed gracefully
// (see linger) rather than at once: a stream error was written to it, and it is a TCP or
// TLS connection of the proxy's own (a WebSocket client's leg ends with its own close
// handshake).
func (s *side) lingers() bool { return s.erred.Load() && s.ws == nil }

// stop ends the reads from this peer so that the pipe reading it ends: at once by closing
// the connection, or, when it lingers and the proxy does not shut down, by an expired
// read deadline that leaves the connection open for linger.
func (s *side) stop(shutting bool) {
	if s.lingers() && !shutting {
		s.raw.SetReadDeadline(time.Now())
		return
	}
	s.closeCounted()
}

// linger closes a side that lingers, gracefully, by the deadline: half-close, drain
// at most inspect.LingerBytes, close. It is called once both pipes ended, so nothing else reads
// the connection; a shutdown meanwhile closes it (kill), which ends the drain.
func (s *side) linger(deadline time.Time) {
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	s.markEnd() // the close_notify that Linger sends is no record's
	inspect.Linger(c, s.raw, deadline)
	s.closeCounted()
}

// lingerSides closes the sides that linger, within inspect.LingerTime together.
func (s *session) lingerSides() {
	if s.shutting.Load() {
		return // kill closed every connection
	}
	deadline := time.Now().Add(inspect.LingerTime)
	s.mu.Lock()
	up := s.up
	s.mu.Unlock()
	for _, d := range []*side{s.client, up} {
		if d != nil && d.lingers() {
			d.linger(deadline)
		}
	}
}
