package proxy

import (
	"crypto/tls"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// side is one leg of a proxied connection as seen by the writers toward it. Writes are
// serialised by mu, so a stanza from one pipe and an injection from the other never
// interleave, and the stream state (is a stream open toward this peer) changes with the
// bytes that change it.
//
// Every write has a deadline: the write timeout, or once the proxy ends the stream toward
// this peer, the deadline set for the end (endAt). The end's deadline is set without mu, so
// that it also cuts short a write stuck on a peer that stopped reading, which holds mu.
type side struct {
	name   string        // "client" or "upstream", for log lines
	server bool          // true when we speak as a server toward this peer (the client leg)
	raw    net.Conn      // the TCP connection (deadlines are set on it)
	wto    time.Duration // write timeout
	endAt  atomic.Int64  // deadline of every write from the end on (Unix ns); 0 until then

	mu         sync.Mutex
	conn       net.Conn // raw, or the TLS connection on top of it
	pend       *[]byte  // forwarded bytes not written yet (see queue), nil when none
	tls        *tls.ConnectionState
	open       bool   // a stream header was sent and the stream is not closed yet
	headerSent bool   // a header was sent on this connection at some point (stream errors need one)
	prefix     string // the streams prefix of the last header sent (streamPrefix)
	written    int64
	// werr is the first failed write. Later writes return it without writing: a write cut
	// by its deadline may have sent part of a stanza, and nothing may follow that.
	werr error
}

func newSide(name string, server bool, c net.Conn, writeTimeout time.Duration) *side {
	return &side{name: name, server: server, raw: c, conn: c, wto: writeTimeout}
}

// ending bounds every write toward this peer from now on, the one in progress included,
// to d from now. It takes no lock.
func (s *side) ending(d time.Duration) {
	t := time.Now().Add(d)
	s.endAt.Store(t.UnixNano())
	s.raw.SetWriteDeadline(t)
}

// isEnding reports whether the proxy ends the stream toward this peer, so that a write cut
// by the end's deadline is a consequence, not a cause.
func (s *side) isEnding() bool { return s.endAt.Load() != 0 }

// send writes b with a deadline. s.mu must be held.
func (s *side) send(b []byte) error {
	if s.werr != nil {
		return s.werr
	}
	s.raw.SetWriteDeadline(time.Now().Add(s.wto))
	// Read after the set: when ending runs concurrently, either this sees its deadline or
	// its SetWriteDeadline comes after ours.
	if end := s.endAt.Load(); end != 0 {
		s.raw.SetWriteDeadline(time.Unix(0, end))
	}
	n, err := s.conn.Write(b)
	s.written += int64(n)
	if err != nil {
		s.werr = err
	}
	return err
}

// maxPending is how much forwarded data may wait for one write.
const maxPending = 32 << 10

// pendPool recycles the buffers of pending bytes, so an idle connection holds none.
var pendPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// write sends b now, after anything pending.
func (s *side) write(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writeLocked(b)
}

func (s *side) writeLocked(b []byte) error {
	if s.pend != nil {
		*s.pend = append(*s.pend, b...)
		return s.flushLocked()
	}
	return s.send(b)
}

// queue adds b to the bytes to write at the next flush. The pipe that forwards to this side
// flushes before its reader blocks for more input (see flushReader), so stanzas that
// arrived together leave together in one write, and none waits for later input.
func (s *side) queue(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queueLocked(b)
}

func (s *side) queueLocked(b []byte) error {
	if s.pend == nil {
		s.pend = pendPool.Get().(*[]byte)
	}
	*s.pend = append(*s.pend, b...)
	if len(*s.pend) >= maxPending {
		return s.flushLocked()
	}
	return nil
}

// flush writes what is pending.
func (s *side) flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flushLocked()
}

func (s *side) flushLocked() error {
	if s.pend == nil {
		return nil
	}
	p := s.pend
	s.pend = nil
	err := s.send(*p)
	if cap(*p) <= 4*maxPending {
		*p = (*p)[:0]
		pendPool.Put(p)
	}
	return err
}

// queueOpen queues a stream header and marks the stream open.
func (s *side) queueOpen(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open, s.headerSent, s.prefix = true, true, streamPrefix(b)
	return s.queueLocked(b)
}

// writeOpen sends a stream header now and marks the stream open.
func (s *side) writeOpen(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open, s.headerSent, s.prefix = true, true, streamPrefix(b)
	return s.writeLocked(b)
}

// queueClose queues a closing tag received from the other side and marks the stream
// closed. A stream already closed toward this peer (by a shutdown that raced with the
// other side's own closing tag) gets no second one.
func (s *side) queueClose(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.open && s.headerSent {
		return nil
	}
	s.open = false
	return s.queueLocked(b)
}

// restarted records that the stream toward this peer was replaced (STARTTLS, SASL success)
// and no closing tag must be sent until the next header.
func (s *side) restarted() {
	s.mu.Lock()
	s.open = false
	s.mu.Unlock()
}

// closeStream sends </stream:stream> (with the stream's own prefix) when a stream is open
// toward this peer, within shutdownGrace. It returns what it sent, nil when nothing.
func (s *side) closeStream() []byte {
	s.ending(shutdownGrace)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.open {
		return nil
	}
	s.open = false
	b := inspect.AppendStreamClose(nil, s.prefix)
	if s.writeLocked(b) != nil {
		return nil
	}
	return b
}

// streamError sends a stream error and closes the stream, preceded by a stream header
// when none was sent on this connection (RFC 6120 section 4.9.1.2). domain names us
// in that header. It returns what it sent, for the record: the header (nil when none was
// needed), the error element and the closing tag after it (nil when the stream was closed
// already).
func (s *side) streamError(cond inspect.Cond, text, domain, contentNS string) (hdr, errEl, end []byte) {
	s.ending(shutdownGrace) // before the lock: a write stuck on this peer must not delay the error
	s.mu.Lock()
	defer s.mu.Unlock()
	var b []byte
	if !s.headerSent {
		b = appendHeader(b, s.server, domain, contentNS)
		hdr = b
		s.prefix = ownPrefix
	}
	if s.open || !s.headerSent {
		b = inspect.AppendStreamError(b, s.prefix, cond, text)
		errEl = b[len(hdr):]
		b = inspect.AppendStreamClose(b, s.prefix)
		end = b[len(hdr)+len(errEl):]
	}
	s.open, s.headerSent = false, true
	if len(b) > 0 {
		s.writeLocked(b)
	}
	return hdr, errEl, end
}

// setTLS switches the writer to the TLS connection once its handshake is done.
func (s *side) setTLS(c *tls.Conn) {
	st := c.ConnectionState()
	s.conn, s.tls = c, &st
}

// handshakeLocked runs the TLS handshake of tc, made on top of raw, within
// handshakeTimeout, and switches the writer to it; the stream toward the peer starts over.
// s.mu must be held.
func (s *side) handshakeLocked(tc *tls.Conn) error {
	s.raw.SetDeadline(time.Now().Add(handshakeTimeout))
	err := tc.Handshake()
	s.raw.SetDeadline(time.Time{})
	if err != nil {
		return err
	}
	s.setTLS(tc)
	s.open = false
	return nil
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
	s.flushLocked()
	c := s.conn
	s.mu.Unlock()
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

// flushReader is what a pipe's reader reads from. Before each read, which may block, it
// writes what the pipe queued toward the other side; with an idle timeout it also sets
// the read deadline.
type flushReader struct {
	c    net.Conn
	dest func() *side  // where the pipe writes (the upstream side exists only after setup)
	idle time.Duration // 0: no idle deadline
	stop *atomic.Bool  // set once the connection is draining: the close deadline must stay
	err  *error        // a failed flush, reported by the pipe as a write error
	// setupBy, when not zero, caps the idle deadline: a client that trickles its stream
	// header byte by byte must not stretch the setup timeout.
	setupBy *time.Time
}

func (r flushReader) Read(p []byte) (int, error) {
	if d := r.dest(); d != nil {
		if err := d.flush(); err != nil {
			*r.err = &writeError{d.name, err}
			return 0, *r.err
		}
	}
	if r.idle > 0 && !r.stop.Load() {
		d := time.Now().Add(r.idle)
		if r.setupBy != nil && !r.setupBy.IsZero() && r.setupBy.Before(d) {
			d = *r.setupBy
		}
		r.c.SetReadDeadline(d)
	}
	return r.c.Read(p)
}

// source returns what the reader of the client (client true) or upstream leg reads from.
// The idle timeout applies to the client leg only: a server is silent whenever its client
// is.
func (sess *session) source(c net.Conn, client bool) io.Reader {
	r := flushReader{c: c, stop: &sess.draining}
	if client {
		r.dest = func() *side { return sess.up }
		r.err = &sess.flushErr[inspect.ClientToServer]
		r.idle = sess.p.cfg.IdleTimeout
		r.setupBy = &sess.setupBy
	} else {
		r.dest = func() *side { return sess.client }
		r.err = &sess.flushErr[inspect.ServerToClient]
	}
	return r
}
