package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/stanzascope/stanzascope/inspect"
)

// XMPP over WebSocket (RFC 7395) as a transport of the switch's own. A WebSocket client's
// session is the TCP one: the same reader, negotiation, limits, outbox and routing. Only the
// framing differs, and it is translated at the transport with inspect's RFC 7395 code, the
// one the proxy uses: each frame the client sends is checked to be one element and turned
// into the TCP form the session reads (inspect.FrameParser.StreamOfFrame: <open/> into a
// stream header, <close/> into the closing tag), and each item the session's writer writes
// (one item per write on a WebSocket: no coalescing) becomes one frame
// (inspect.FrameOfStream: our header into <open/>, our closing tag into <close/>, an
// element with the namespaces it took from our header declared on it). STARTTLS is not
// offered (a browser cannot do it): the session is TLS when the page came over https.

// WebSocketProtocol is the WebSocket subprotocol of XMPP (RFC 7395 section 3.1).
const WebSocketProtocol = "xmpp"

// WebSocketHandler serves XMPP clients over WebSocket as sessions of the server (see
// Server.WebSocketHandler).
type WebSocketHandler struct {
	s       *Server
	ctx     context.Context
	origins []string
	mu      sync.Mutex
	closed  bool
	wg      sync.WaitGroup
}

// WebSocketHandler returns the HTTP handler that accepts XMPP clients over WebSocket (RFC
// 7395) and serves each as a session of s, under s's limits (per address, stanza size,
// login and idle timeouts, outbox). Mount it at /xmpp-websocket of an HTTP server; a
// request over https is a TLS session. ctx is the sessions' context: when it ends, new
// clients are refused (Serve's shutdown ends the running sessions with system-shutdown,
// as the TCP ones). origins are extra origin host patterns allowed to open the WebSocket
// (the page's own origin always is), so that a page elsewhere cannot use a browser to
// reach the server. Wait waits for the sessions.
func (s *Server) WebSocketHandler(ctx context.Context, origins ...string) *WebSocketHandler {
	return &WebSocketHandler{s: s, ctx: ctx, origins: origins}
}

// Wait refuses new clients and waits until the sessions have ended: call it after Serve
// returned (which ended them), before closing the store.
func (h *WebSocketHandler) Wait() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.wg.Wait()
}

func (h *WebSocketHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	if h.closed || h.ctx.Err() != nil {
		h.mu.Unlock()
		http.Error(w, "the switch is stopping", http.StatusServiceUnavailable)
		return
	}
	h.wg.Add(1)
	h.mu.Unlock()
	defer h.wg.Done()
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{WebSocketProtocol}, OriginPatterns: h.origins})
	if err != nil {
		return // Accept answered the request with the error
	}
	if ws.Subprotocol() != WebSocketProtocol {
		ws.Close(websocket.StatusPolicyViolation, "the xmpp subprotocol is required (RFC 7395 section 3.1)")
		return
	}
	s := h.s
	nc := newWSConn(ws, r, s.cfg.Limits.MaxStanza)
	c := s.newConn(nc)
	c.ws = nc
	c.info.Transport = inspect.TransportWebSocket
	c.tls = r.TLS != nil // the page's TLS; no STARTTLS over WebSocket
	// Tracked and counted in the Server's wait group at once, under connMu (as Serve's
	// shutdown reads them): a shutdown then either kicks this session and waits for it,
	// or comes first and the client is refused; the count never starts during the wait.
	s.connMu.Lock()
	if s.closing {
		s.connMu.Unlock()
		nc.Close()
		<-nc.done
		return
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1) // until c.done, which untracks it too
	s.connMu.Unlock()
	c.serve(h.ctx) // the whole session: a WebSocket session is never parked (park.go)
	nc.Close()
	<-nc.done // the close handshake is over (or timed out)
}

// wsConn is the connection of a WebSocket client as the session reads and writes it: Read
// returns the TCP form of the frames the client sent, each Write sends one frame.
type wsConn struct {
	ws            *websocket.Conn
	local, remote net.Addr
	frames        *inspect.FrameParser

	in     chan wsMsg  // messages from the reading goroutine, one at a time
	free   chan []byte // read buffers the session is done with, for the reading goroutine
	closed chan struct{}
	done   chan struct{} // closed once the WebSocket is closed
	once   sync.Once

	rd, wd   wsDeadline
	wExpired atomic.Bool

	// Owned by the session's reader.
	pending []byte // TCP-form bytes of the current frame not read yet
	cur     []byte // the read buffer pending is in, handed back once it is read
	special []byte // the last <open/> or <close/> frame: the Original of its record
	rerr    error

	// Owned by the writer.
	hdr  *inspect.Header // our header as last written
	wbuf []byte          // the frame being written, reused
}

// maxKeptBuf bounds a read or write buffer kept for the next message: most stanzas are
// smaller, and an idle session should not keep a large one.
const maxKeptBuf = 4 << 10

type wsMsg struct {
	typ  websocket.MessageType
	data []byte
	over bool // longer than the stanza limit; data holds its start
	err  error
}

func newWSConn(ws *websocket.Conn, r *http.Request, max int) *wsConn {
	ws.SetReadLimit(int64(max) + 2) // the reading goroutine stops at max+1 itself
	c := &wsConn{ws: ws, frames: inspect.NewFrameParser(inspect.Limits{MaxStanza: max}), in: make(chan wsMsg),
		free: make(chan []byte, 2), closed: make(chan struct{}), done: make(chan struct{})}
	c.rd.ch = make(chan struct{})
	c.wd.ch = make(chan struct{})
	// A write still running when its deadline passes ends the WebSocket (a client that
	// does not read must not hold its session), which makes the write return.
	c.wd.fire = func() {
		c.wExpired.Store(true)
		c.ws.CloseNow()
	}
	c.remote = &net.TCPAddr{}
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		c.remote = net.TCPAddrFromAddrPort(ap)
	}
	c.local = &net.TCPAddr{}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		c.local = a
	}
	go c.readLoop(max)
	return c
}

// readLoop reads whole messages, bounded by max, and hands them to Read one at a time: a
// client is read no further than its session asks. It reads into the buffers the session
// hands back (free). Its context never ends (coder/websocket then watches none per
// message): Close ends the reads by closing the connection.
func (c *wsConn) readLoop(max int) {
	for {
		typ, r, err := c.ws.Reader(context.Background())
		m := wsMsg{typ: typ, err: err}
		if err == nil {
			var buf []byte
			select {
			case buf = <-c.free:
			default:
				buf = make([]byte, 0, 512)
			}
			m.data, m.err = readMsg(buf, r, max+1)
			m.over = len(m.data) > max
		}
		select {
		case c.in <- m:
		case <-c.closed:
			return
		}
		if m.err != nil || m.over || m.typ != websocket.MessageText {
			return // the session ends at this message: nothing more is read
		}
	}
}

// Read returns the TCP form of the client's frames.
func (c *wsConn) Read(p []byte) (int, error) {
	for len(c.pending) == 0 {
		if c.rerr != nil {
			return 0, c.rerr
		}
		select {
		case m := <-c.in:
			c.rerr = c.frame(m)
		case <-c.rd.wait():
			return 0, errWSTimeout
		case <-c.closed:
			return 0, net.ErrClosed
		}
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	if len(c.pending) == 0 && c.cur != nil {
		if cap(c.cur) <= maxKeptBuf {
			select {
			case c.free <- c.cur[:0]:
			default:
			}
		}
		c.cur = nil
	}
	return n, nil
}

// readMsg appends the message r to buf, up to limit bytes.
func readMsg(buf []byte, r io.Reader, limit int) ([]byte, error) {
	for len(buf) < limit {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):min(cap(buf), limit)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// frame takes one message: its TCP form goes to pending, or the error that ends the stream
// is returned (a *inspect.StreamError for what RFC 7395 does not allow).
func (c *wsConn) frame(m wsMsg) error {
	switch {
	case m.err != nil:
		switch websocket.CloseStatus(m.err) {
		case websocket.StatusNormalClosure, websocket.StatusGoingAway, websocket.StatusNoStatusRcvd:
			return io.EOF
		}
		if errors.Is(m.err, io.EOF) || errors.Is(m.err, net.ErrClosed) {
			return io.EOF
		}
		return m.err
	case m.typ != websocket.MessageText:
		return inspect.BinaryFrameError()
	case m.over:
		return inspect.OversizeFrameError()
	}
	tcp, f, err := c.frames.StreamOfFrame(m.data)
	if err != nil {
		return err
	}
	if f.Kind != inspect.FrameElement {
		c.special = append([]byte(nil), m.data...) // kept for the record: not the reused buffer
	}
	c.pending, c.cur = tcp, m.data
	return nil
}

// Write sends b, one item of the session's outbox in the TCP form, as one frame.
// Whitespace alone sends nothing: frames hold elements only.
func (c *wsConn) Write(b []byte) (int, error) {
	select {
	case <-c.wd.wait():
		return 0, errWSTimeout
	default:
	}
	f, h := inspect.AppendFrameOfStream(c.wbuf[:0], b, c.hdr)
	c.hdr = h
	if len(f) == 0 {
		return len(b), nil
	}
	if cap(f) <= maxKeptBuf {
		c.wbuf = f // coder/websocket has copied it when Write returns
	}
	if err := c.ws.Write(context.Background(), websocket.MessageText, f); err != nil {
		if c.wExpired.Load() {
			return 0, errWSTimeout
		}
		return 0, err
	}
	return len(b), nil
}

// Close closes the WebSocket with the close handshake (RFC 6455 section 7), in the
// background: the session does not wait for a client that does not answer.
func (c *wsConn) Close() error {
	c.once.Do(func() {
		close(c.closed)
		go func() {
			defer close(c.done)
			c.ws.Close(websocket.StatusNormalClosure, "")
		}()
	})
	return nil
}

func (c *wsConn) LocalAddr() net.Addr  { return c.local }
func (c *wsConn) RemoteAddr() net.Addr { return c.remote }

func (c *wsConn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

func (c *wsConn) SetReadDeadline(t time.Time) error { c.rd.set(t); return nil }

// SetWriteDeadline bounds the writes: a write still running when it passes ends the
// WebSocket (wd.fire), as a client that does not read must not hold its session.
func (c *wsConn) SetWriteDeadline(t time.Time) error { c.wd.set(t); return nil }

// recordIn gives the record of a stream header or closing tag the client sent the
// <open/> or <close/> frame it came as (Original: what the client sent).
func (c *wsConn) recordIn(r *inspect.Record) {
	if r.Kind == inspect.KindStreamOpen || r.Kind == inspect.KindStreamClose {
		r.Original, c.special = c.special, nil
	}
}

// recordOut makes the record of what the session wrote say what the client got: the
// frame as Raw, the TCP form the session wrote as Original when they differ.
func recordOut(r *inspect.Record) {
	f, _ := inspect.FrameOfStream(r.Raw, r.Header)
	if f != nil && !bytes.Equal(f, r.Raw) {
		r.Original, r.Raw = r.Raw, f
	}
}

// errWSTimeout is a deadline that passed on a WebSocket connection.
var errWSTimeout error = wsTimeout{}

type wsTimeout struct{}

func (wsTimeout) Error() string   { return "websocket: i/o timeout" }
func (wsTimeout) Timeout() bool   { return true }
func (wsTimeout) Temporary() bool { return true }

// wsDeadline is a deadline that can be moved while someone waits on it (as net.Pipe's). It
// keeps one timer: the session moves its deadlines at every read and write, almost always
// later, and a later deadline only changes at (the timer, when it fires early, sets itself
// again for the rest).
type wsDeadline struct {
	mu     sync.Mutex
	at     time.Time // zero: none
	timer  *time.Timer
	armed  time.Time     // when the timer fires; zero: not armed
	ch     chan struct{} // closed when the deadline passes
	fire   func()        // if not nil, runs when the deadline passes
	passed bool          // ch is closed
}

// set moves the deadline to t (zero: none).
func (d *wsDeadline) set(t time.Time) {
	d.mu.Lock()
	if d.passed {
		d.ch, d.passed = make(chan struct{}), false // passed before: a new deadline starts over
	}
	d.at = t
	if t.IsZero() {
		d.mu.Unlock() // an armed timer finds no deadline and does nothing
		return
	}
	dur := time.Until(t)
	if dur <= 0 {
		close(d.ch)
		d.passed = true
		d.mu.Unlock()
		if d.fire != nil {
			go d.fire()
		}
		return
	}
	switch {
	case d.timer == nil:
		d.timer = time.AfterFunc(dur, d.expire)
		d.armed = t
	case d.armed.IsZero() || t.Before(d.armed):
		d.timer.Reset(dur)
		d.armed = t
	}
	d.mu.Unlock()
}

func (d *wsDeadline) expire() {
	d.mu.Lock()
	d.armed = time.Time{}
	if d.at.IsZero() || d.passed {
		d.mu.Unlock()
		return
	}
	if rest := time.Until(d.at); rest > 0 {
		d.timer.Reset(rest) // the deadline moved later
		d.armed = d.at
		d.mu.Unlock()
		return
	}
	close(d.ch)
	d.passed = true
	d.mu.Unlock()
	if d.fire != nil {
		d.fire()
	}
}

func (d *wsDeadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ch
}
