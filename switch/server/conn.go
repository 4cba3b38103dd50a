package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// conn is one client connection. Its reader goroutine (serve) handles every stanza the
// client sends; everything due to the client goes through its outbox to its one writer
// (outbox.go), so no sender ever writes to this socket or waits for this client.
type conn struct {
	srv  *Server
	info *inspect.ConnInfo
	raw  net.Conn // the TCP connection
	ws   *wsConn  // the client's WebSocket (websocket.go), raw too; nil for TCP

	guard stallGuard // raw as the writer sees it (stall.go)
	ob    outbox     // what is due to the client, and its writer (outbox.go)
	// errWritten: the writer wrote a stream error, so the socket is closed gracefully (linger.go).
	errWritten atomic.Bool

	// Owned by the reader goroutine (one at a time: a parked session's next one is
	// started by resume).
	ctx            context.Context
	idle           *idlePoller // where the session is parked when idle (park.go); nil: never
	key            netip.Addr  // the client's address as the limits per address count it (limits.go)
	rc             net.Conn    // what the reader reads: &guard, or the TLS connection over it
	rd             *inspect.Reader
	in             *inspect.Header
	headerPrefixes bool // in binds prefixes our header does not: stanzas are re-serialised
	streamID       string
	tls            bool
	loopback       bool
	plainLink      bool // tls is set for an in-process link secured without TLS (starttls.go)
	authed         bool // SASL or legacy auth succeeded
	user           string
	loginDeadline  time.Time
	pinged         bool
	// quiet: the reader dropped its buffer while waiting (waitIdle). Atomic because the
	// tests read it from another goroutine; nothing else does.
	quiet    atomic.Bool
	peek     [1]byte // the byte waitIdle read
	hasPeek  bool
	preLogin int // stanzas received before login (flood bound)
	// route is what the reader keeps from one message it routes to the next; nil until
	// the first message, so an idle session does not hold it.
	route        *routeState
	off          offlineState // its deliveries of offline messages (message.go)
	authFailures int
	sasl         *saslState
	fromAttr     string // " from='jid'" (escaped), made once at bind: stamped on every message routed

	// Shared with other sessions, under mu. The reader goroutine is the only one that
	// writes legacy, jid and bound (at bind), so it reads them without the lock (once per
	// stanza and per read, they are on the routing path); others read them under mu
	// (Presence, JID).
	mu         sync.Mutex
	legacy     bool // a pre-1.0 stream
	jid        inspect.JID
	bound      bool
	available  bool
	priority   int
	last       []byte
	lastStamp  time.Time
	directed   map[inspect.JID]struct{} // who got directed presence (sent unavailable at the end)
	interested bool                     // requested the roster: gets roster pushes
}

// Errors that end a connection quietly (no stream error of their own).
var (
	errLoginTimeout = errors.New("server: login time limit reached")
	errIdleTimeout  = errors.New("server: connection idle too long")
	errClosed       = errors.New("server: connection closed")
)

// Limits on what a client can make the server do before it has logged in.
const (
	maxStanzasBeforeLogin = 32 // stanzas accepted before login; then policy-violation
	maxAuthFailures       = 5
)

func (s *Server) newConn(nc net.Conn) *conn {
	c := &conn{srv: s, raw: nc}
	c.guard.Conn = nc
	c.rc = &c.guard
	c.ob.w = &c.guard
	c.ob.cond.L = &c.ob.mu
	c.ob.loop = c.writeLoop
	c.info = &inspect.ConnInfo{ID: s.connSeq.Add(1)}
	if ap, err := netip.ParseAddrPort(nc.RemoteAddr().String()); err == nil {
		c.info.Client = ap
		c.loopback = ap.Addr().Unmap().IsLoopback() && !s.cfg.BehindProxy
	}
	if ap, err := netip.ParseAddrPort(nc.LocalAddr().String()); err == nil {
		c.info.Server = ap
	}
	c.loginDeadline = time.Now().Add(s.cfg.LoginTimeout)
	return c
}

// serve runs the connection until the stream ends or its session is parked (park.go),
// then cleans up the session. The Server counted it in wg; done ends that.
func (c *conn) serve(ctx context.Context) {
	c.srv.cfg.Stats.opened()
	if !c.admit() {
		c.done()
		return
	}
	c.ctx = ctx
	c.rd = inspect.NewReader(timedSource{c}, c.srv.cfg.Limits)
	c.run(nil)
}

// admit reads the PROXY header if one is due and applies the limit on connections per
// address; false if the connection was refused (and closed).
func (c *conn) admit() bool {
	if c.srv.cfg.TrustProxy && c.ws == nil {
		client, err := c.readProxyHeader()
		if err != nil {
			// Nothing is written: a peer that speaks no PROXY protocol is not the proxy.
			text := fmt.Sprintf("conn %d from %s: %v", c.info.ID, c.info.Client, err)
			c.srv.lim.refused.note(c.srv, "connections without a PROXY header", text)
			c.raw.Close()
			c.observe((&inspect.Record{Kind: inspect.KindConnOpen}).WithNote("switch: connection accepted"))
			c.observe((&inspect.Record{Kind: inspect.KindConnClose}).WithNote("switch: connection refused: " + err.Error()))
			return false
		}
		if client.IsValid() {
			c.info.Client = client
		}
	}
	c.key = clientKey(c.info.Client.Addr())
	c.observe((&inspect.Record{Kind: inspect.KindConnOpen}).WithNote("switch: connection accepted"))
	if !c.srv.lim.conns.add(c.key, c.srv.cfg.MaxConnsPerIP) {
		c.srv.cfg.Stats.RefusedConns.Add(1)
		text := fmt.Sprintf("too many connections from %s (limit %d)", c.key, c.srv.cfg.MaxConnsPerIP)
		c.srv.lim.refused.note(c.srv, "connections", text)
		c.streamError(inspect.CondPolicyViolation, text)
		c.waitWriter()
		c.raw.Close()
		c.observe((&inspect.Record{Kind: inspect.KindConnClose}).WithNote("switch: connection refused: " + text))
		return false
	}
	return true
}

// run serves the stream from where it is (err: how it ended already, or nil) until it
// ends, then ends the session; or until an idle session is parked, when it returns at
// once: resume goes on in another goroutine.
func (c *conn) run(err error) {
	for err == nil {
		if err = c.safeLoop(c.ctx); err != errIdle {
			break
		}
		if err = c.waitIdle(); err == errParked {
			return
		}
	}
	c.safeEnd(err)
	c.srv.lim.conns.remove(c.key)
	c.done()
}

// done is the last thing a connection does.
func (c *conn) done() {
	c.stopOffline() // after a panic in end too
	c.srv.cfg.Stats.closed(c.tls)
	c.srv.untrack(c)
	c.srv.wg.Done()
}

// errInternalStream ends a connection whose handling panicked: the client gets
// internal-server-error (RFC 6120 section 4.9.3.8), without the details, which go to the
// log. The panic may come from a bug or from a damaged store; either way it costs that
// connection only, never the process.
var errInternalStream = newStreamErr("internal-server-error", "")

// safeLoop is loop with a panic turned into errInternalStream, after logging it.
func (c *conn) safeLoop(ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			c.logPanic(r)
			err = errInternalStream
		}
	}()
	return c.loop(ctx)
}

// safeEnd is end with a panic (the store failing again while the contacts are told) logged;
// the session still leaves the directory and the socket is closed.
func (c *conn) safeEnd(err error) {
	defer func() {
		if r := recover(); r != nil {
			c.logPanic(r)
			c.abort()
			c.srv.dir.Unbind(c)
		}
	}()
	c.end(err)
}

func (c *conn) logPanic(r any) {
	c.srv.logf("switch: conn %d: internal error, closing this connection: %v\n%s", c.info.ID, r, debug.Stack())
}

// idleRelease is how long a bound plaintext session waits for its next byte before its
// reader drops its buffer (waitIdle).
const idleRelease = time.Second

// errIdle tells serve that the session has nothing buffered and should wait in waitIdle.
var errIdle = errors.New("server: idle")

// loop reads and handles events until the stream ends or fails, or returns errIdle when a
// bound plaintext session has nothing left to read. TLS sessions never return errIdle: the
// TLS connection may hold decrypted bytes the reader has not asked for yet.
func (c *conn) loop(ctx context.Context) error {
	for {
		if (!c.tls || c.plainLink) && !c.hasPeek && c.rd.Buffered() == 0 && c.bound {
			return errIdle
		}
		ev, err := c.rd.Next()
		if err != nil {
			return err
		}
		c.observeEvent(ev)
		switch ev.Kind {
		case inspect.KindStreamOpen:
			err = c.onStreamOpen(ev.Header)
		case inspect.KindStanza:
			err = c.onStanza(ctx, ev)
		case inspect.KindStreamClose:
			return io.EOF
		}
		if err != nil {
			return err
		}
	}
}

// end finishes the connection after loop returned err: the right stream error or closing
// tag after what is queued, the socket closed, unavailable presence to contacts, and the
// routed stanzas the client did not take kept for the account or bounced.
func (c *conn) end(err error) {
	var se *inspect.StreamError
	switch {
	case err == nil, errors.Is(err, io.EOF):
		c.closeStream()
	case errors.Is(err, errLoginTimeout) && c.legacy:
		c.closeStream() // a pre-1.0 stream has no connection-timeout condition
	case errors.Is(err, errLoginTimeout):
		c.streamError("connection-timeout", "not logged in within the time limit")
	case errors.Is(err, errIdleTimeout):
		c.streamError("connection-timeout", "no answer to ping")
	case errors.As(err, &se):
		c.streamError(se.Condition, se.Text)
	default:
		// TCP drop, or the writer ended the stream (kicked, write failure, outbox full):
		// nothing more can be said.
		c.abortEnded()
	}
	c.waitWriter()
	c.stopOffline() // its claim settled before it leaves: a follow-up elsewhere gets the rest
	c.srv.sessionEnded(c)
	c.rescue(c.takeLost())
	c.closeConn() // after the rescue: a client that logs in again finds what it kept
	note := "switch: connection closed"
	if reason := c.endReason(); reason != "" {
		note += ": " + reason
	} else if err != nil && !errors.Is(err, io.EOF) {
		note += ": " + err.Error()
	}
	c.observe((&inspect.Record{Kind: inspect.KindConnClose}).WithNote(note))
}

// endReason is why the server ended a stream that the reader saw only as a closed socket
// (outbox full, client stopped reading, kicked), or "".
func (c *conn) endReason() string {
	c.ob.mu.Lock()
	defer c.ob.mu.Unlock()
	if c.ob.fin.cond == "" {
		return ""
	}
	r := string(c.ob.fin.cond)
	if c.ob.fin.text != "" {
		r += " (" + c.ob.fin.text + ")"
	}
	return r
}

// newStreamErr returns a stream error decided by the server: the reader's own and these are
// one type, *inspect.StreamError, found with errors.As.
func newStreamErr(cond inspect.Cond, text string) error { return inspect.NewStreamError(cond, text) }

// newStreamID returns a fresh unguessable stream id (128 random bits).
func newStreamID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("server: crypto/rand failed: " + err.Error()) // never happens on supported systems
	}
	return hex.EncodeToString(b[:])
}

// timedSource is what the reader reads from: the byte waitIdle took, then the current
// socket with the login deadline before login and the idle timeout (with one ping) after.
type timedSource struct{ c *conn }

func (t timedSource) Read(p []byte) (int, error) {
	c := t.c
	if c.hasPeek && len(p) > 0 {
		c.hasPeek = false
		p[0] = c.peek[0]
		return 1, nil
	}
	return c.readTimed(p)
}

// readTimed reads from the socket under the login deadline or the idle timeout.
func (c *conn) readTimed(p []byte) (int, error) { return c.readTimedUntil(p, time.Time{}) }

// errQuiet is readTimedUntil's answer when nothing arrived before its quiet time.
var errQuiet = errors.New("server: quiet")

// readTimedUntil is readTimed that gives up with errQuiet at quiet, when that comes
// before the login deadline or the idle timeout (the zero time: never).
func (c *conn) readTimedUntil(p []byte, quiet time.Time) (int, error) {
	for {
		bound := c.bound // the reader's own (see conn.mu)
		deadline := c.loginDeadline
		if bound {
			deadline = time.Now().Add(c.srv.cfg.IdleTimeout)
		}
		short := !quiet.IsZero() && quiet.Before(deadline)
		if short {
			deadline = quiet
		}
		c.rc.SetReadDeadline(deadline)
		if c.ob.ended.Load() {
			return 0, errClosed // the writer ended the stream (outbox.go, wakeReader)
		}
		n, err := c.rc.Read(p)
		if n > 0 || err == nil {
			c.pinged = false
			return n, err
		}
		var ne net.Error
		if short && errors.As(err, &ne) && ne.Timeout() && !c.ob.ended.Load() && !time.Now().Before(quiet) {
			return 0, errQuiet
		}
		if err = c.onReadTimeout(err, bound); err != nil {
			return 0, err
		}
	}
}

// onReadTimeout decides what a failed read means: nil to read again (after pinging an idle
// client once), or the error that ends the stream.
//
//go:noinline
func (c *conn) onReadTimeout(err error, bound bool) error {
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		return err
	}
	if c.ob.ended.Load() {
		return errClosed // the deadline was the writer's (wakeReader)
	}
	if !bound {
		return errLoginTimeout
	}
	if c.pinged {
		return errIdleTimeout
	}
	c.pinged = true
	return c.send([]byte("<iq id='idle-ping' type='get' from='"+c.srv.domain.Domain+"'><ping xmlns='"+inspect.NSPing+"'/></iq>"), "iq", inspect.NSClient)
}

// waitIdle waits until an idle plaintext session receives its next byte, which it keeps
// for the reader. A session quiet for idleRelease drops the reader's buffer (4 KiB) and is
// parked (park.go): its goroutine ends (errParked) and the session waits without one, its
// socket watched with those of every other parked session, until a byte, the idle
// deadline or the end of its stream resumes it in a new goroutine (resume). A busy
// session keeps its buffer and goroutine, rather than pay for them at every burst. Where
// sessions cannot be parked, the goroutine waits here at the bottom of its stack, which
// the runtime then shrinks to 4 KiB.
func (c *conn) waitIdle() error {
	n, err := c.readTimedUntil(c.peek[:], time.Now().Add(idleRelease))
	if err == errQuiet {
		if c.rd.ReleaseBuffer() {
			c.quiet.Store(true)
		}
		if c.idle.park(c) {
			return errParked // c belongs to whoever resumes it now
		}
		n, err = c.readTimed(c.peek[:])
	}
	if n == 1 {
		c.quiet.Store(false) // the reader takes a buffer again
		c.hasPeek = true
		return nil
	}
	return err
}

func (c *conn) isBound() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bound
}
