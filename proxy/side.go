package proxy

import (
	"crypto/tls"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// side is one leg of a proxied connection as seen by the writers toward it. Writes are
// serialised by mu, so a stanza from one pipe and an injection from the other never
// interleave, and the stream state (is a stream open toward this peer) changes with the
// bytes that change it.
type side struct {
	name   string // "client" or "upstream", for log lines
	server bool   // true when we speak as a server toward this peer (the client leg)
	raw    net.Conn

	mu         sync.Mutex
	conn       net.Conn // raw, or the TLS connection on top of it
	tls        *tls.ConnectionState
	open       bool // a stream header was sent and the stream is not closed yet
	headerSent bool // a header was sent on this connection at some point (stream errors need one)
	written    int64
}

func newSide(name string, server bool, c net.Conn) *side {
	return &side{name: name, server: server, raw: c, conn: c}
}

// write sends b as is.
func (s *side) write(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writeLocked(b)
}

func (s *side) writeLocked(b []byte) error {
	n, err := s.conn.Write(b)
	s.written += int64(n)
	return err
}

// writeOpen sends a stream header and marks the stream open.
func (s *side) writeOpen(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open, s.headerSent = true, true
	return s.writeLocked(b)
}

// writeClose sends a closing tag received from the other side and marks the stream closed.
func (s *side) writeClose(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open = false
	return s.writeLocked(b)
}

// restarted records that the stream toward this peer was replaced (STARTTLS, SASL success)
// and no closing tag must be sent until the next header.
func (s *side) restarted() {
	s.mu.Lock()
	s.open = false
	s.mu.Unlock()
}

// closeStream sends </stream:stream> when a stream is open toward this peer. It reports
// whether it sent one.
func (s *side) closeStream() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.open {
		return false
	}
	s.open = false
	s.raw.SetWriteDeadline(time.Now().Add(shutdownGrace))
	s.writeLocked([]byte("</stream:stream>"))
	return true
}

// streamError sends a stream error and closes the stream, preceded by a stream header
// when none was sent on this connection (RFC 6120 section 4.9.1.2). domain names us
// in that header.
func (s *side) streamError(cond, text, domain, contentNS string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.raw.SetWriteDeadline(time.Now().Add(shutdownGrace))
	var b []byte
	if !s.headerSent {
		b = appendHeader(b, s.server, domain, contentNS)
	}
	if s.open || !s.headerSent {
		b = appendStreamError(b, cond, text)
		b = append(b, "</stream:stream>"...)
	}
	s.open, s.headerSent = false, true
	if len(b) > 0 {
		s.writeLocked(b)
	}
}

// setTLS switches the writer to the TLS connection once its handshake is done.
func (s *side) setTLS(c *tls.Conn) {
	st := c.ConnectionState()
	s.conn, s.tls = c, &st
}

// isTLS reports whether this leg is encrypted.
func (s *side) isTLS() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tls != nil
}

// closeWrite half-closes the connection toward this peer (TLS close_notify and TCP FIN),
// telling it we will send nothing more while still reading what it sends.
func (s *side) closeWrite() {
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

// bytesWritten returns what was written toward this peer.
func (s *side) bytesWritten() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.written
}

// deadlineReader sets a read deadline before each read, for the idle timeout.
type deadlineReader struct {
	c    net.Conn
	d    time.Duration
	stop *atomic.Bool // set once the connection is draining: the close deadline must stay
}

func (r deadlineReader) Read(p []byte) (int, error) {
	if !r.stop.Load() {
		r.c.SetReadDeadline(time.Now().Add(r.d))
	}
	return r.c.Read(p)
}

// source returns what a reader of a leg reads from. The idle timeout applies to the
// client leg only: a server is silent whenever its client is.
func (sess *session) source(c net.Conn, client bool) io.Reader {
	if sess.p.cfg.IdleTimeout <= 0 || !client {
		return c
	}
	return deadlineReader{c: c, d: sess.p.cfg.IdleTimeout, stop: &sess.draining}
}
