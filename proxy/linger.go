package proxy

import (
	"crypto/tls"
	"io"
	"time"
)

// After the proxy ends a connection itself with a stream error, the peer may still be
// sending. Closing a socket whose input has not all been read makes the kernel answer
// with a reset and throw away what the proxy wrote and the peer has not received yet: the
// stream error that says why. So the side that got a stream error is not closed with the
// other: kill only cuts its reads short, and once both pipes have ended the session
// lingers on it: it half-closes (TLS close_notify, then TCP FIN after the error), reads
// and discards what the peer still sends, and closes when the peer closes or a bound is
// reached. The bounds keep an attacker who never stops sending from holding connections:
// lingerTime in all for the connection's sides, and lingerBytes read from each.
const (
	lingerTime  = 2 * time.Second
	lingerBytes = 64 << 10
)

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
	s.raw.Close()
}

// linger closes a side that lingers, gracefully, by the deadline: half-close, drain
// at most lingerBytes, close. It is called once both pipes ended, so nothing else reads
// the connection; a shutdown meanwhile closes it (kill), which ends the drain.
func (s *side) linger(deadline time.Time) {
	defer s.raw.Close()
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	if tc, ok := c.(*tls.Conn); ok {
		tc.CloseWrite() // close_notify, within crypto/tls's own write deadline
	}
	if cw, ok := s.raw.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite() // FIN after the stream error: the peer reads it, then the end
	}
	s.raw.SetReadDeadline(deadline)
	io.CopyN(io.Discard, s.raw, lingerBytes)
}

// lingerSides closes the sides that linger, within lingerTime together.
func (s *session) lingerSides() {
	if s.shutting.Load() {
		return // kill closed every connection
	}
	deadline := time.Now().Add(lingerTime)
	s.mu.Lock()
	up := s.up
	s.mu.Unlock()
	for _, d := range []*side{s.client, up} {
		if d != nil && d.lingers() {
			d.linger(deadline)
		}
	}
}
