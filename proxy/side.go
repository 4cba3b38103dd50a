package proxy

import (
	"crypto/tls"
	"errors"
	"fmt"
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
// The record is the truth: every write carries the record of its bytes, and the side
// hands the record on (emit) under mu, so that the records of the bytes toward a peer come
// out in the order the peer receives them. It hands them on just before it writes them:
// once the bytes are written the peer may answer at once, and the answer's record (emitted
// by the other pipe) must not come before the record of what it answers. A write that
// fails is then told by a note right after its records (MilestoneUnwritten, unwritten):
// how many of their last bytes did not go. Bytes known not to go before any write (the
// stream toward the peer is over, an earlier write failed) are recorded as dropped.
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
	erred  atomic.Bool   // a stream error was written to this peer: its connection lingers (linger.go)
	closer sync.Once     // closes, after counting what the peer had not acknowledged (unacked.go)
	// emit hands on the record of bytes written toward this peer; own makes the record of
	// bytes the proxy wrote itself. Both nil when nothing is recorded.
	emit func(*inspect.Record)
	own  func(kind inspect.Kind, raw []byte) *inspect.Record
	// emitBatch, when set, hands on the records of one write together (flushLocked):
	// the sink chain's fixed costs of a record are then paid once per write.
	emitBatch func([]*inspect.Record)
	// ws is set on the side toward a WebSocket client: each write is one frame
	// (writeFrame in websocket.go), never gathered with others.
	ws *wsFramer

	mu         sync.Mutex
	conn       net.Conn          // raw, or the TLS connection on top of it
	pend       *[]byte           // forwarded bytes not written yet (see queue), nil when none
	pendRecs   []*inspect.Record // their records, emitted once they are written
	tls        *tls.ConnectionState
	open       bool   // a stream header was sent and the stream is not closed yet
	headerSent bool   // a header was sent on this connection at some point (stream errors need one)
	over       bool   // the stream toward this peer was closed or ended with an error: nothing more goes
	prefix     string // the streams prefix of the last header sent (streamPrefix)
	written    int64
	sent       sentSizes // sizes of the last records written (unacked.go)
	// werr is the first failed write. Later writes return it without writing: a write cut
	// by its deadline may have sent part of a stanza, and nothing may follow that.
	werr error
}

// errStreamOver refuses a write toward a peer whose stream was closed.
var errStreamOver = errors.New("the stream toward this peer is closed")

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

// send writes b with a deadline and returns how many of its bytes were written; the
// caller checked werr. s.mu must be held.
func (s *side) send(b []byte) (int, error) {
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
	return n, err
}

// transmitLocked emits the records of b (recs, settled with werr) and then writes b; when
// the write fails, a note tells how many of b's last bytes did not go. After a failed write
// nothing is written: the records say dropped. s.mu must be held.
func (s *side) transmitLocked(b []byte, recs []*inspect.Record) error {
	switch {
	case len(recs) == 0:
	case len(recs) > 1 && s.emitBatch != nil:
		s.emitBatch(recs)
	default:
		for _, r := range recs {
			s.emit(r)
		}
	}
	if s.werr != nil {
		return s.werr
	}
	n, err := s.send(b)
	if err != nil {
		left := len(b) - n
		k, sum := 0, 0
		for i := len(recs) - 1; i >= 0 && sum < left; i-- {
			if recs[i].Verdict.Delivered() {
				sum += len(recs[i].Raw)
				k++
			}
		}
		s.unwritten(left, k, err)
	}
	return err
}

// transmitOneLocked is transmitLocked for bytes of one record (r; nil: none), without a
// slice that would be allocated for every write.
func (s *side) transmitOneLocked(b []byte, r *inspect.Record) error {
	if s.settled(r, s.werr) {
		s.emit(r)
	}
	if s.werr != nil {
		return s.werr
	}
	n, err := s.send(b)
	if err != nil && r != nil && s.emit != nil && r.Verdict.Delivered() {
		s.unwritten(len(b)-n, 1, err)
	}
	return err
}

// settle emits the record of bytes whose write ended with err: as it is when they were
// written, as dropped when not. s.mu must be held.
func (s *side) settle(r *inspect.Record, err error) {
	if s.settled(r, err) {
		s.emit(r)
	}
}

// settled is settle without the emit, which it reports is due. s.mu must be held.
func (s *side) settled(r *inspect.Record, err error) bool {
	if r == nil || s.emit == nil {
		return false
	}
	if err != nil && r.Verdict.Delivered() {
		r.Verdict = inspect.Dropped
		r.SetNote("not delivered: " + err.Error())
	} else if err == nil && r.Verdict.Delivered() {
		s.sent.add(len(r.Raw))
	}
	return true
}

// record emits the record of bytes that travelled toward this peer but were not
// forwarded to it (dropped, rejected, intercepted), after the records of what is pending,
// so that the records of one direction keep the order in which their bytes arrived.
func (s *side) record(r *inspect.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pend != nil {
		s.pendRecs = append(s.pendRecs, r)
		return
	}
	s.settle(r, nil)
}

// maxPending is how much forwarded data may wait for one write.
const maxPending = 32 << 10

// pendPool recycles the buffers of pending bytes, so an idle connection holds none.
var pendPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// write sends b now, after anything pending; r is its record (nil: none).
func (s *side) write(b []byte, r *inspect.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writeLocked(b, r)
}

func (s *side) writeLocked(b []byte, r *inspect.Record) error {
	if s.ws != nil {
		return s.writeFrame(b, r)
	}
	if s.pend != nil {
		if err := s.queueLocked(b, r); err != nil {
			return err
		}
		return s.flushLocked()
	}
	if s.over {
		s.settle(r, errStreamOver)
		return nil
	}
	return s.transmitOneLocked(b, r)
}

// queue adds b to the bytes to write at the next flush, and r to the records emitted then.
// The pipe that forwards to this side flushes before its reader blocks for more input (see
// flushReader), so stanzas that arrived together leave together in one write, and none
// waits for later input.
func (s *side) queue(b []byte, r *inspect.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queueLocked(b, r)
}

func (s *side) queueLocked(b []byte, r *inspect.Record) error {
	if s.ws != nil {
		return s.writeFrame(b, r)
	}
	if s.over {
		s.settle(r, errStreamOver)
		return nil
	}
	if s.pend == nil {
		s.pend = pendPool.Get().(*[]byte)
	}
	*s.pend = append(*s.pend, b...)
	if r != nil {
		s.pendRecs = append(s.pendRecs, r)
	}
	if len(*s.pend) >= maxPending {
		return s.flushLocked()
	}
	return nil
}

// hasPending reports whether bytes wait for the next flush.
func (s *side) hasPending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pend != nil
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
	// The records of the write are handed on together, in order, as they were queued.
	recs := s.pendRecs[:0]
	for _, r := range s.pendRecs {
		if s.settled(r, s.werr) {
			recs = append(recs, r)
		}
	}
	err := s.transmitLocked(*p, recs)
	if cap(*p) <= 4*maxPending {
		*p = (*p)[:0]
		pendPool.Put(p)
	}
	clear(s.pendRecs) // hold no record past its emitting
	s.pendRecs = s.pendRecs[:0]
	return err
}

// unwritten tells, by a note after the records of a write that failed, that its last n
// bytes did not reach the peer, and that they reach into the last k records emitted toward
// it (k 0: bytes of no record, nothing to tell). The sizes of those records are taken back
// from what unacked.go counts as sent.
func (s *side) unwritten(n, k int, err error) {
	if n <= 0 || k == 0 || s.emit == nil {
		return
	}
	s.sent.unwrite(n)
	m := inspect.Milestone{Kind: inspect.MilestoneUnwritten, Leg: s.name, UnwrittenBytes: int64(n), UnwrittenRecords: k}
	what := fmt.Sprintf("the last %d bytes of the last %d records toward it", n, k)
	if k == 1 {
		what = fmt.Sprintf("the last %d bytes of the record before", n)
	}
	r := (&inspect.Record{Time: time.Now(), Dir: s.toward(), Kind: inspect.KindNote, Origin: inspect.OriginProxy}).WithNote(
		fmt.Sprintf("not delivered: the write to the %s failed (%v): %s did not go", s.name, err, what))
	r.SetMilestone(&m)
	s.emit(r)
}

// toward is the direction of the bytes written toward this peer.
func (s *side) toward() inspect.Direction {
	if s.server {
		return inspect.ServerToClient
	}
	return inspect.ClientToServer
}

// queueOpen queues a stream header and marks the stream open.
func (s *side) queueOpen(b []byte, r *inspect.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opened(b)
	return s.queueLocked(b, r)
}

// writeOpen sends a stream header now and marks the stream open.
func (s *side) writeOpen(b []byte, r *inspect.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opened(b)
	return s.writeLocked(b, r)
}

func (s *side) opened(hdr []byte) {
	if !s.over {
		s.open, s.headerSent, s.prefix = true, true, streamPrefix(hdr)
	}
}

// queueClose queues a closing tag received from the other side and marks the stream
// closed. A stream already closed toward this peer (by a shutdown that raced with the
// other side's own closing tag) gets no second one.
func (s *side) queueClose(b []byte, r *inspect.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.open && s.headerSent {
		s.settle(r, errStreamOver)
		return nil
	}
	err := s.queueLocked(b, r)
	s.open, s.over = false, true
	return err
}

// gone records that the peer closed its connection without closing its stream: nothing
// more is written to it.
func (s *side) gone() {
	s.mu.Lock()
	s.open, s.over = false, true
	s.mu.Unlock()
}

// restarted records that the stream toward this peer was replaced (STARTTLS, SASL success)
// and no closing tag must be sent until the next header.
func (s *side) restarted() {
	s.mu.Lock()
	s.open = false
	s.mu.Unlock()
}

// closeStream sends </stream:stream> (with the stream's own prefix) when a stream is open
// toward this peer, within shutdownGrace, and records it.
func (s *side) closeStream() {
	s.ending(shutdownGrace)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.open {
		return
	}
	b := inspect.AppendStreamClose(nil, s.prefix)
	s.writeLocked(b, s.ownRec(inspect.KindStreamClose, b))
	s.open, s.over = false, true
}

// ownRec makes the record of bytes the proxy writes itself, or nil when nothing is
// recorded.
func (s *side) ownRec(kind inspect.Kind, b []byte) *inspect.Record {
	if s.own == nil {
		return nil
	}
	return s.own(kind, b)
}

// streamError sends a stream error and closes the stream, preceded by a stream header
// when none was sent on this connection (RFC 6120 section 4.9.1.2), and records what it
// sent. hdr is the header to send then (see ownHeader).
func (s *side) streamError(cond inspect.Cond, text string, hdr func() []byte) {
	s.ending(shutdownGrace) // before the lock: a write stuck on this peer must not delay the error
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.over || (s.headerSent && !s.open) {
		return
	}
	if !s.headerSent {
		h := hdr()
		s.writeLocked(h, s.ownRec(inspect.KindStreamOpen, h))
		s.prefix, s.headerSent = streamPrefix(h), true
	}
	e := inspect.AppendStreamError(nil, s.prefix, cond, text)
	if r := s.ownRec(inspect.KindStanza, e); r != nil {
		r.Name, r.NS = "error", inspect.NSStreams
		s.queueLocked(e, r)
	} else {
		s.queueLocked(e, nil)
	}
	end := inspect.AppendStreamClose(nil, s.prefix)
	s.queueLocked(end, s.ownRec(inspect.KindStreamClose, end))
	if s.flushLocked() == nil {
		s.erred.Store(true)
	}
	s.open, s.over = false, true
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

// securedInProcess records that the stream toward this peer, an in-process link, was
// secured without TLS (Config.UpstreamInProcess): it starts over, on the same connection,
// which it returns.
func (s *side) securedInProcess() net.Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open = false
	return s.conn
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
	s.markEnd() // what follows (close_notify) is no record's (unacked.go)
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

// flushReader is what a pipe's reader reads from. Before a read that would wait, it writes
// what the pipe queued toward the other side (ready.go); with an idle timeout it also sets
// the read deadline.
type flushReader struct {
	c    net.Conn
	dest func() *side  // where the pipe writes (the upstream side exists only after setup)
	idle time.Duration // 0: no idle deadline
	stop *atomic.Bool  // set once the connection is draining: the close deadline must stay
	dead chan struct{} // closed by kill: no idle deadline may replace the one that ends the read
	err  *error        // a failed flush, reported by the pipe as a write error
	// setupBy, when not zero, caps the idle deadline: a client that trickles its stream
	// header byte by byte must not stretch the setup timeout.
	setupBy *time.Time
	wait    *pipeWait // what waitQuiet read for the reader, and its quiet time (quiet.go)
	// ready, when not nil, reads what c returns without waiting, or returns errWouldBlock
	// (readyFunc).
	ready func(p []byte) (int, error)
	// at, when not nil, is set to the time of every read that brings bytes
	// (session.readAt): one clock reading per read, not one per record.
	at *atomic.Int64
}

func (r flushReader) Read(p []byte) (int, error) {
	if n, err, ok := r.wait.pending(p); ok {
		return n, err // stamped when waitQuiet read it
	}
	n, err := r.read(p)
	if n > 0 && r.at != nil {
		r.at.Store(time.Now().UnixNano())
	}
	return n, err
}

func (r flushReader) read(p []byte) (int, error) {
	if d := r.dest(); d != nil {
		if r.ready != nil && d.hasPending() && !r.stop.Load() && !isDone(r.dead) {
			// Take what is there without waiting; flush only when the read would wait.
			// Neither while the connection ends: its deadline, not the input, decides.
			n, err := r.ready(p)
			if n > 0 && err == nil {
				return n, nil
			}
			if n > 0 {
				// Bytes and the end (a TLS close_notify after them): write what is
				// queued first, as before a read that ends.
				if ferr := d.flush(); ferr != nil {
					*r.err = &writeError{d.name, ferr}
					return 0, *r.err
				}
				return n, err
			}
			// Nothing: wait as usual. A read that failed for another reason (an old
			// deadline, the end of the stream) fails again there, or, when its error
			// was temporary, reads with the fresh deadline.
		}
		if err := d.flush(); err != nil {
			*r.err = &writeError{d.name, err}
			return 0, *r.err
		}
	}
	quiet := r.wait.quietBy
	if (r.idle > 0 || !quiet.IsZero()) && !r.stop.Load() {
		var d time.Time
		if r.idle > 0 {
			d = time.Now().Add(r.idle)
			if r.setupBy != nil && !r.setupBy.IsZero() && r.setupBy.Before(d) {
				d = *r.setupBy
			}
		}
		r.wait.short = !quiet.IsZero() && (d.IsZero() || quiet.Before(d))
		if r.wait.short {
			d = quiet
		}
		r.c.SetReadDeadline(d)
		// Checked after the set: when kill runs concurrently, either this sees it or its
		// deadline, which ends the read of a side that lingers, comes after ours.
		select {
		case <-r.dead:
			r.c.SetReadDeadline(time.Now())
		default:
		}
	}
	return r.c.Read(p)
}

// isDone reports whether ch is closed.
func isDone(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// source returns what the reader of the client (client true) or upstream leg reads from.
// The idle timeout applies to the client leg only: a server is silent whenever its client
// is.
func (sess *session) source(c net.Conn, client bool) io.Reader {
	r := flushReader{c: c, stop: &sess.draining, dead: sess.dead, ready: readyFunc(c)}
	if client {
		r.wait, r.at = &sess.wait[inspect.ClientToServer], &sess.readAt[inspect.ClientToServer]
	} else {
		r.wait, r.at = &sess.wait[inspect.ServerToClient], &sess.readAt[inspect.ServerToClient]
	}
	r.wait.conn = c
	if client {
		r.dest = func() *side { return sess.up }
		r.err = &sess.flushErr[inspect.ClientToServer]
		r.idle = sess.p.cfg.IdleTimeout
		r.setupBy = &sess.setupBy
	} else {
		r.dest = func() *side { return sess.client }
		r.err = &sess.flushErr[inspect.ServerToClient]
	}
	r.wait.src = r // for waitQuiet, which must not build one (and allocate) per stanza
	return r
}

// errNoStream refuses a controller's stanza toward a peer with no open stream.
var errNoStream = errors.New("no stream open toward this peer")

// writeIfOpen writes b now, after anything pending, when a stream is open toward this
// peer (checked under the lock of the write, so a restart cannot slip in between); else it
// writes nothing, records nothing and returns errNoStream.
func (s *side) writeIfOpen(b []byte, r *inspect.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.open || s.over {
		return errNoStream
	}
	return s.writeLocked(b, r)
}
