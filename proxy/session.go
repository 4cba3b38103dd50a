package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/inspect/wsconn"
)

// session is one proxied connection: the client leg, the upstream leg and the two pipes
// between them. The c2s pipe runs in the goroutine of run, the s2c pipe in one more.
type session struct {
	p      *Proxy
	id     uint64
	direct bool         // Direct TLS listener
	ws     *wsconn.Conn // the client leg, for a client over WebSocket (websocket.go)
	client *side
	up     *side // nil until the upstream is connected
	info   *inspect.ConnInfo
	cr, ur *inspect.Reader // read the client and the upstream
	domain string          // the to of the client's first stream header
	start  time.Time

	hdr [3]atomic.Pointer[inspect.Header] // stream header in force, by Direction

	draining atomic.Bool   // one side closed: deadlines are set for the end, not per read
	shutting atomic.Bool   // the proxy is stopping
	dead     chan struct{} // closed when both connections are being closed
	deadOnce sync.Once

	// The negotiation (negotiate.go) and the coordination of the two pipes around STARTTLS
	// and SASL: after forwarding <starttls/> or a SASL element, the c2s pipe waits for the
	// s2c pipe to see the answer, because the client's next bytes may be TLS or a new
	// stream header that its reader must be reset or restarted for first. mu guards neg.
	mu       sync.Mutex
	neg      *negotiator
	resume   chan func() error
	s2cDone  chan struct{}
	clientTC *tls.Conn // the client leg's TLS, once the proxy made it (STARTTLS)
	upTC     net.Conn  // the upstream leg once STARTTLS secured it: its TLS, or the in-process link itself

	// The upstream leg's security (see downgrade.go). upReady is closed once the s2c pipe
	// knows that the upstream leg is as strong as the client leg (or is allowed not to be);
	// a Direct TLS client's bytes wait for it. plainUp is set when the upstream leg is
	// plaintext while the client leg is TLS: every record from then on is tagged.
	upReady     chan struct{}
	upReadyOnce sync.Once
	plainUp     atomic.Bool

	// Owned by the c2s pipe's goroutine, which runs setup: until the client's stream
	// header is read, no read deadline goes past it (see flushReader).
	setupBy time.Time

	// Owned by the s2c pipe.
	held    []byte          // upstream header held back while the proxy negotiates upstream TLS
	heldRec *inspect.Record // its record, emitted once the header is forwarded or not

	closedBy [3]atomic.Bool                    // by Direction: the sender's closing tag was read
	stats    [3]struct{ bytes, stanzas int64 } // by Direction, each written by its pipe
	flushErr [3]error                          // by Direction, set by the pipe's flushReader
	wait     [3]pipeWait                       // by Direction, owned by the pipe (quiet.go)
	// readAt is, by Direction, when the pipe's last read brought bytes (Unix ns; 0 before
	// the first): the time of the records of the events those bytes completed (rec).
	readAt [3]atomic.Int64

	// Intercept (hold.go): by Direction, the reader's helper once the direction held a
	// stanza (owned by the pipe); the helpers' goroutines; TLS handshakes and a SASL
	// exchange in progress, so that no controller's stanza is sent into them.
	ahead       [3]*readAhead
	helpers     sync.WaitGroup
	handshaking atomic.Int32
	saslOn      atomic.Bool

	// bound is the JID the connection is bound to (the negotiator's, once its milestone
	// is executed), for the breakpoints and the rules of every stanza without a lock.
	bound atomic.Pointer[string]
}

type awaitKind uint8

const (
	awaitNone   awaitKind = iota
	awaitTLS              // the client's <starttls/> was forwarded
	awaitSASL             // the client's <auth/> or <response/> was forwarded
	awaitOwnTLS           // the proxy's own <starttls/> (for a Direct TLS client) was sent
)

// tlsMode says what the proxy does when the client sends <starttls/>.
type tlsMode uint8

const (
	tlsRefuse  tlsMode = iota // not offered: answer <failure/> and policy-violation (tlsWhy)
	tlsForward                // upstream offered it: negotiate both legs
	tlsLocal                  // the proxy offered it (AllowPlaintextUpstream): answer <proceed/> itself, upstream stays plaintext
)

// errHandled ends a pipe whose failure was already reported to both sides.
var errHandled = errors.New("handled")

// errPeerGone ends the c2s pipe when the s2c pipe ended while c2s waited for it.
var errPeerGone = errors.New("upstream pipe ended")

// writeError marks a failed write toward one side.
type writeError struct {
	side string
	err  error
}

func (e *writeError) Error() string { return "write to " + e.side + ": " + e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

func (p *Proxy) newSession(c net.Conn, direct bool) *session {
	s := &session{
		p: p, id: p.count.Add(1), direct: direct,
		client:  newSide("client", true, c, p.cfg.WriteTimeout),
		dead:    make(chan struct{}),
		resume:  make(chan func() error, 1),
		s2cDone: make(chan struct{}),
		upReady: make(chan struct{}),
		start:   time.Now(),
		neg:     newNegotiator(direct, p.cfg.CA != nil, p.cfg.AllowPlaintextUpstream),
	}
	s.attach(s.client)
	return s
}

// run serves the connection until both pipes end, then closes both legs.
func (s *session) run(ctx context.Context) {
	shutdownDone := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(shutdownDone)
		s.shutdown()
	})
	defer func() {
		if !stop() {
			<-shutdownDone
		}
	}()
	defer func() {
		s.kill()
		s.helpers.Wait() // a reader's helper still reading ends with the connections
		s.lingerSides()  // before the close record: a linger may record what was not acknowledged
		if s.info != nil {
			s.closeRecord()
		}
	}()
	if !s.setup(ctx) {
		return
	}
	s.p.ctl.addSession(s)
	defer s.p.ctl.removeSession(s)
	go func() {
		defer close(s.s2cDone)
		s.endPipe(inspect.ServerToClient, s.s2c())
	}()
	s.endPipe(inspect.ClientToServer, s.c2s())
	<-s.s2cDone
	s.emitHeld(inspect.Dropped) // an upstream header held for a Direct TLS client and never sent
}

// setup reads the client's stream header and connects the upstream. It reports whether
// the pipes should start; when not, the client has been told why.
func (s *session) setup(ctx context.Context) bool {
	raw := s.client.raw
	var pending []*inspect.Record
	s.setupBy = s.start.Add(s.p.cfg.SetupTimeout)
	if s.direct {
		tc := tlsLegServer(raw, s.p.tlsIn)
		hsBy, hsLimit := time.Now().Add(handshakeTimeout), handshakeTimeout
		if s.setupBy.Before(hsBy) {
			hsBy, hsLimit = s.setupBy, s.p.cfg.SetupTimeout
		}
		raw.SetDeadline(hsBy)
		if err := tc.HandshakeContext(ctx); err != nil {
			s.info = s.connInfo(nil)
			s.emit(s.noteRec(inspect.KindConnOpen, "client %s (Direct TLS)", raw.RemoteAddr()))
			if isTimeout(err) {
				s.setupTimedOut("the client did not finish its TLS handshake within %v (setup timeout)", hsLimit)
				return false
			}
			if errors.Is(err, io.EOF) {
				s.note("the client closed the connection before its TLS handshake")
				return false
			}
			s.fail("client TLS handshake failed (does the client trust the stanzascope CA? see 'stanzascope ca'): %v", err)
			return false
		}
		raw.SetDeadline(time.Time{})
		s.client.setTLS(tc)
		pending = append(pending, milestoneRec(s.noteRec(inspect.KindNote, "TLS with client: %s (Direct TLS)", tlsSummary(s.client.tls)),
			tlsMilestone("client", s.client.tls, true)))
	}
	s.cr = inspect.NewReader(s.source(s.client.conn, true), s.p.cfg.Limits)
	raw.SetReadDeadline(s.setupBy)
	ev, err := s.cr.Next()
	s.setupBy = time.Time{}
	raw.SetReadDeadline(time.Time{})
	if err != nil {
		s.info = s.connInfo(nil)
		s.emit(s.noteRec(inspect.KindConnOpen, "client %s", raw.RemoteAddr()))
		s.emitAll(pending)
		if isTimeout(err) {
			s.headerTimedOut()
			return false
		}
		s.readFailure(inspect.ClientToServer, err)
		return false
	}
	s.stats[inspect.ClientToServer].bytes += int64(len(ev.Raw))
	h := s.cr.Header()
	s.hdr[inspect.ClientToServer].Store(h)
	s.domain = h.To
	s.neg.clientHdr = append([]byte(nil), ev.Raw...)
	hdrRec := s.rec(ev, inspect.ClientToServer)

	dctx := withConnID(ctx, s.id, addrPort(raw.RemoteAddr()))
	if s.ws != nil {
		dctx = context.WithValue(dctx, transportKey{}, inspect.TransportWebSocket)
	}
	up, err := s.p.dialUpstream(dctx)
	if err != nil {
		s.info = s.connInfo(nil)
		s.emit(s.noteRec(inspect.KindConnOpen, "client %s, stream to %q", raw.RemoteAddr(), s.domain))
		s.emitAll(pending)
		hdrRec.Conn = s.info
		hdrRec.Verdict = inspect.Dropped // no upstream to forward it to
		s.emit(hdrRec)
		cond := inspect.CondRemoteConnectionFailed
		if errors.Is(err, errHostUnknown) {
			cond = inspect.CondHostUnknown
		}
		s.fail("upstream unreachable (%s sent to the client): %v", cond, err)
		s.streamErrorTo(s.client, cond, "stanzascope could not reach the upstream server")
		return false
	}
	s.mu.Lock()
	s.up = newSide("upstream", false, up, s.p.cfg.WriteTimeout)
	s.attach(s.up)
	s.mu.Unlock()
	if s.shutting.Load() {
		up.Close()
		return false
	}
	s.info = s.connInfo(up)
	s.emit(s.noteRec(inspect.KindConnOpen, "client %s -> proxy %s -> upstream %s, stream to %q",
		raw.RemoteAddr(), raw.LocalAddr(), up.RemoteAddr(), s.domain))
	s.emitAll(pending)
	hdrRec.Conn = s.info
	s.ur = inspect.NewReader(s.source(up, false), s.p.cfg.Limits)
	if s.p.cfg.Sink == nil {
		hdrRec = nil
	}
	if err := s.up.writeOpen(ev.Raw, hdrRec); err != nil {
		// The upstream may have answered before it read the header: a server that refuses
		// the connection (the embedded switch over --max-conns-per-ip) writes its header
		// and a stream error and closes at once. What it sent is what the client must get,
		// so the pipes run on and forward it (the header's record says it was not
		// delivered); an upstream that sent nothing ends the client's stream as an
		// upstream gone does.
		s.note("writing the client's stream header to the upstream failed: %v", err)
	}
	return true
}

// connInfo names the connection's ends. The server is the upstream a client would have
// reached; with a custom Dial (the embedded switch) that upstream is an internal loopback
// port, so the proxy's own listener stands for the server (and a --pcap-out capture shows
// the port clients used).
func (s *session) connInfo(up net.Conn) *inspect.ConnInfo {
	ci := &inspect.ConnInfo{ID: s.id, Node: s.p.cfg.Node, Client: addrPort(s.client.raw.RemoteAddr()), Server: addrPort(s.client.raw.LocalAddr())}
	if s.ws != nil {
		ci.Transport = inspect.TransportWebSocket
	}
	if up != nil && s.p.cfg.Dial == nil {
		ci.Server = addrPort(up.RemoteAddr())
	}
	return ci
}

func addrPort(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// sides returns the side a pipe reads from and the side it writes to.
func (s *session) sides(dir inspect.Direction) (from, to *side) {
	if dir == inspect.ClientToServer {
		return s.client, s.up
	}
	return s.up, s.client
}

// endPipe is called once by each pipe when it stops: it closes the other side cleanly or,
// after an error, tells the side at fault and closes both.
func (s *session) endPipe(dir inspect.Direction, err error) {
	if s.shutting.Load() || s.isDead() {
		return // the other pipe or the shutdown already closed everything
	}
	from, to := s.sides(dir)
	var we *writeError
	switch {
	case err == nil || errors.Is(err, io.EOF) || errors.Is(err, errPeerGone):
		// A clean end: pass the closing tag on, half-close, and give the other side a
		// moment to close its stream too before the connection is torn down.
		if errors.Is(err, io.EOF) && !s.closedBy[dir].Load() {
			from.gone() // it left without a closing tag: nothing more reaches it
		}
		to.closeStream()
		to.closeWrite()
		s.draining.Store(true)
		deadline := time.Now().Add(closeGrace)
		from.raw.SetReadDeadline(deadline)
		to.raw.SetReadDeadline(deadline)
		if errors.Is(err, io.EOF) {
			s.note("%s closed its stream", from.name)
		}
	case errors.Is(err, errHandled):
		to.closeStream()
		s.kill()
	case errors.As(err, &we):
		s.writeFailed(we)
		s.kill()
	default:
		s.readFailure(dir, err)
		to.closeStream()
		s.kill()
	}
}

// readFailure reports a read error from the side a pipe reads and, for a protocol
// violation or a timeout, sends that side the stream error.
func (s *session) readFailure(dir inspect.Direction, err error) {
	from, _ := s.sides(dir)
	var ne net.Error
	if se := inspect.AsStreamError(err); se != nil {
		r := (&inspect.Record{Time: time.Now(), Conn: s.info, Dir: dir, Kind: inspect.KindError}).WithErr(err).WithNote(
			fmt.Sprintf("malformed input from the %s", from.name))
		if s.ws != nil && dir == inspect.ClientToServer && s.ws.Bad() != nil {
			r.Raw = s.ws.Bad() // the WebSocket message refused, as it came
		}
		s.emit(r)
		s.p.logf("proxy: connection %d: malformed input from the %s at line %d, column %d (offset %d): %s: %s",
			s.id, from.name, se.Line, se.Col, se.Offset, se.Condition, se.Text)
		s.streamErrorTo(from, se.Condition, se.Text)
		return
	}
	if errors.As(err, &ne) && ne.Timeout() && !s.draining.Load() {
		s.fail("the %s sent nothing for %v", from.name, s.p.cfg.IdleTimeout)
		s.streamErrorTo(from, inspect.CondConnectionTimeout, "")
		return
	}
	if s.isDead() {
		return // the connection was torn down on purpose: nothing to report
	}
	if s.draining.Load() {
		return // the deadline set for the end of the connection expired: nothing to report
	}
	if errors.Is(err, io.EOF) {
		s.note("the %s closed the connection before sending a stream header", from.name)
		return
	}
	s.fail("reading from the %s: %v", from.name, err)
}

// fail logs a failure of this connection and records it.
func (s *session) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.p.logf("proxy: connection %d: %s", s.id, msg)
	s.emit((&inspect.Record{Time: time.Now(), Conn: s.info, Kind: inspect.KindNote}).WithNote(msg))
}

func (s *session) isDead() bool {
	select {
	case <-s.dead:
		return true
	default:
		return false
	}
}

// kill closes both connections, which ends both pipes; a connection that got a stream
// error lingers instead (linger.go).
func (s *session) kill() {
	s.deadOnce.Do(func() { close(s.dead) })
	shutting := s.shutting.Load()
	s.client.stop(shutting)
	s.mu.Lock()
	up := s.up
	s.mu.Unlock()
	if up != nil {
		up.stop(shutting)
	}
}

// shutdown closes every open stream of the connection with a closing tag and then the
// connections, when the proxy stops.
func (s *session) shutdown() {
	s.shutting.Store(true)
	s.draining.Store(true)
	s.mu.Lock()
	up := s.up
	s.mu.Unlock()
	deadline := time.Now().Add(shutdownGrace)
	s.client.raw.SetReadDeadline(deadline)
	s.client.ending(shutdownGrace) // unblocks a write stuck on a peer that does not read
	if up != nil {
		up.raw.SetReadDeadline(deadline)
		up.ending(shutdownGrace)
	}
	// The client first: the upstream answers our closing tag with its own, which the s2c
	// pipe must not forward as a second one.
	s.client.closeStream()
	if up != nil {
		up.closeStream()
	}
	s.note("proxy shutting down: streams closed")
	s.kill()
}

func (s *session) closeRecord() {
	c, u := &s.stats[inspect.ClientToServer], &s.stats[inspect.ServerToClient]
	s.emit(s.noteRec(inspect.KindConnClose, "closed after %v: client sent %d bytes, %d stanzas; upstream sent %d bytes, %d stanzas",
		time.Since(s.start).Round(time.Millisecond), c.bytes, c.stanzas, u.bytes, u.stanzas))
}

// writeFailed reports a failed write toward one side and closes the stream toward the
// other cleanly. A write cut by the deadline of an end the proxy itself started (idle
// timeout, shutdown, the other side's close) is not a cause: that end was reported.
func (s *session) writeFailed(we *writeError) {
	stuck, other := s.client, s.up
	if we.side == "upstream" {
		stuck, other = s.up, s.client
	}
	var ne net.Error
	switch {
	case stuck.isEnding():
	case errors.As(we.err, &ne) && ne.Timeout():
		s.fail("the %s stopped reading: a write to it did not complete within %v (write timeout); "+
			"connection closed, the %s got a clean close", stuck.name, s.p.cfg.WriteTimeout, other.name)
	default:
		s.fail("%v", we)
	}
	if other != nil {
		other.closeStream()
	}
}

// headerTimedOut ends a connection whose client sent no complete stream header in time:
// connection-timeout to the client, a record, and a log line summed up with the others.
func (s *session) headerTimedOut() {
	if idle := s.p.cfg.IdleTimeout; idle > 0 && time.Since(s.start) < s.p.cfg.SetupTimeout {
		s.setupTimedOut("the client sent nothing for %v before its stream header was complete (idle timeout)", idle)
	} else {
		s.setupTimedOut("the client sent no complete stream header within %v of connecting (setup timeout)", s.p.cfg.SetupTimeout)
	}
	s.streamErrorTo(s.client, inspect.CondConnectionTimeout, "")
}

// setupTimedOut records a setup timeout. Its log line goes through the proxy's summary,
// since a slowloris run makes one per connection; the record is the connection's own.
func (s *session) setupTimedOut(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.p.setupLog.add(fmt.Sprintf("proxy: connection %d: %s", s.id, msg))
	s.emit((&inspect.Record{Time: time.Now(), Conn: s.info, Kind: inspect.KindNote}).WithNote(msg))
}

// isTimeout reports whether err is a deadline that expired.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
