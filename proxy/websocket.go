package proxy

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

// XMPP over WebSocket (RFC 7395). A browser's WebSocket is one more kind of client leg: the
// session, the negotiator, the rules and the records are the TCP ones. The client leg is a
// wsConn, a net.Conn that turns each frame the client sends into the TCP form of the
// stream (<open/> into a stream header, <close/> into the closing tag, an element as it
// is), and the side toward the client turns what it writes back into frames
// (inspect.FrameOfStream), one WebSocket message per element. The upstream leg is an
// ordinary TCP stream, so any server (the embedded switch, Prosody) can be reached; the
// proxy negotiates STARTTLS with it itself, as for a Direct TLS client, because a
// WebSocket client cannot. Records keep both forms where they differ: Raw is what the
// receiver got, Original what the sender sent.

// WebSocketProtocol is the WebSocket subprotocol of XMPP (RFC 7395 section 3.1).
const WebSocketProtocol = "xmpp"

// WebSocketPath is where the web server serves XMPP over WebSocket.
const WebSocketPath = "/xmpp-websocket"

// WebSocketHandler returns the HTTP handler that accepts XMPP clients over WebSocket and
// proxies each one like a TCP client. Its sessions end, with closing tags, when ctx ends;
// Wait waits for them. origins are extra origin host patterns allowed to open the
// WebSocket (the page's own origin always is); browsers on other sites are refused, so a
// page elsewhere cannot use a student's browser to reach the server.
func (p *Proxy) WebSocketHandler(ctx context.Context, origins ...string) *WebSocketHandler {
	return &WebSocketHandler{p: p, ctx: ctx, origins: origins}
}

// WebSocketHandler serves XMPP over WebSocket (see Proxy.WebSocketHandler).
type WebSocketHandler struct {
	p       *Proxy
	ctx     context.Context
	origins []string
	mu      sync.Mutex
	closed  bool
	wg      sync.WaitGroup
}

// Wait refuses new WebSocket clients and waits until the sessions have ended (after the
// handler's context ended): a caller closes its outputs after Wait, so that no record of
// a session is lost.
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
		http.Error(w, "stanzascope is stopping", http.StatusServiceUnavailable)
		return
	}
	h.wg.Add(1)
	h.mu.Unlock()
	defer h.wg.Done()
	p := h.p
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{WebSocketProtocol}, OriginPatterns: h.origins})
	if err != nil {
		return // Accept answered the request with the error
	}
	if ws.Subprotocol() != WebSocketProtocol {
		ws.Close(websocket.StatusPolicyViolation, "the xmpp subprotocol is required (RFC 7395 section 3.1)")
		return
	}
	nc := newWSConn(ws, r, p.cfg.Limits)
	s := p.newSession(nc, false)
	s.ws = nc
	s.client.ws = &wsFramer{}
	s.neg = newWSNegotiator(p.cfg.CA != nil, p.cfg.AllowPlaintextUpstream, r.TLS != nil)
	p.cfg.Stats.opened(false)
	defer func() { p.cfg.Stats.closed(false, s.client.isTLS()) }()
	s.run(h.ctx)
	nc.Close()
	<-nc.done // the close handshake is over (or timed out)
}

// wsFramer is the side toward a WebSocket client: it remembers the stream header it
// wrote, whose namespaces each frame must declare.
type wsFramer struct{ hdr *inspect.Header }

// writeFrame writes b, bytes in the TCP form of the stream, as one frame, and records it
// with the frame as Raw (what the client got) and, when they differ, b as Original.
// Whitespace is not sent: RFC 7395 frames hold elements only. s.mu must be held.
func (s *side) writeFrame(b []byte, r *inspect.Record) error {
	if s.over {
		s.settle(r, errStreamOver)
		return nil
	}
	f, h := inspect.FrameOfStream(b, s.ws.hdr)
	s.ws.hdr = h
	if f == nil {
		if r != nil && s.emit != nil {
			r.Verdict = inspect.Dropped
			r.Note = "whitespace is not sent over WebSocket: RFC 7395 frames hold one element each"
			s.emit(r)
		}
		return nil
	}
	if r != nil && !bytes.Equal(f, r.Raw) {
		if r.Original == nil {
			r.Original = r.Raw
		}
		r.Raw = f
	}
	err := s.send(f)
	s.settle(r, err)
	return err
}

// newWSNegotiator is the negotiator of a WebSocket client: like a Direct TLS client's (the
// proxy does STARTTLS with the upstream itself and the client never sees it offered), but
// the client leg is TLS only when the page came over https (secure).
func newWSNegotiator(hasCA, allowPlain, secure bool) *negotiator {
	n := newNegotiator(true, hasCA, allowPlain)
	n.ws, n.clientTLS = true, secure
	return n
}

// wsConn is the client leg of a WebSocket client, as the session reads and writes it.
// Reads return the TCP form of the frames the client sent; each Write sends one frame.
type wsConn struct {
	ws            *websocket.Conn
	local, remote net.Addr
	frames        *inspect.FrameParser

	in     chan wsMsg  // messages from the reading goroutine, one at a time
	free   chan []byte // read buffers the session is done with, for the reading goroutine
	closed chan struct{}
	done   chan struct{} // closed once the WebSocket is closed
	once   sync.Once

	rd, wd   pipeDeadline
	wExpired atomic.Bool

	// Owned by the session's reader of the client.
	pending []byte // TCP-form bytes of the current frame not read yet
	cur     []byte // the read buffer pending is in, handed back once it is read
	special []byte // the last <open/> or <close/> frame: the Original of its record
	bad     []byte // a frame refused: the bytes of the error's record
	rerr    error
}

type wsMsg struct {
	typ  websocket.MessageType
	data []byte
	over bool // the message is longer than the stanza limit; data holds its start
	err  error
}

func newWSConn(ws *websocket.Conn, r *http.Request, lim inspect.Limits) *wsConn {
	max := lim.MaxStanza
	if max <= 0 {
		max = inspect.DefaultLimits.MaxStanza
	}
	ws.SetReadLimit(int64(max) + 2) // the reading goroutine stops at max+1 itself
	c := &wsConn{ws: ws, frames: inspect.NewFrameParser(lim), in: make(chan wsMsg), free: make(chan []byte, 2),
		closed: make(chan struct{}), done: make(chan struct{})}
	c.rd.init()
	c.wd.init()
	// A write still running when its deadline passes ends the WebSocket (a client that
	// does not read must not hold the session), which makes the write return.
	c.wd.fire = func() {
		c.wExpired.Store(true)
		c.ws.CloseNow()
	}
	c.remote = tcpAddr(r.RemoteAddr)
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		c.local = a
	} else {
		c.local = &net.TCPAddr{}
	}
	go c.readLoop(max)
	return c
}

func tcpAddr(s string) net.Addr {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return &net.TCPAddr{}
	}
	return net.TCPAddrFromAddrPort(ap)
}

// readLoop reads whole messages, bounded by max, and hands them to Read one at a time: a
// client is not read further than the session asks. It reads into the buffers the session
// hands back (free). Its context never ends (coder/websocket then watches none per
// message): Close ends the reads by closing the connection.
func (c *wsConn) readLoop(max int) {
	for {
		typ, r, err := c.ws.Reader(context.Background())
		var m wsMsg
		if err != nil {
			m.err = err
		} else {
			m.typ = typ
			var buf []byte
			select {
			case buf = <-c.free:
			default:
				buf = make([]byte, 0, 512)
			}
			m.data, m.err = readMsg(buf, r, max+1)
			if len(m.data) > max {
				m.over = true
			}
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

// maxKeptBuf bounds a read buffer kept for the next message: most stanzas are smaller,
// and an idle client should not keep a large one.
const maxKeptBuf = 4 << 10

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

// frame takes one message: its TCP form goes to pending, or the error that ends the
// stream is returned (a *inspect.StreamError for what RFC 7395 does not allow).
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
		c.bad = m.data // the session ends here: the buffer is not reused
		return inspect.BinaryFrameError()
	case m.over:
		c.bad = m.data
		return inspect.OversizeFrameError()
	}
	tcp, f, err := c.frames.StreamOfFrame(m.data)
	if err != nil {
		c.bad = m.data
		return err
	}
	if f.Kind != inspect.FrameElement {
		c.special = append([]byte(nil), m.data...) // kept for the record: not the reused buffer
	}
	c.pending, c.cur = tcp, m.data
	return nil
}

// Write sends b as one text message.
func (c *wsConn) Write(b []byte) (int, error) {
	select {
	case <-c.wd.wait():
		return 0, errWSTimeout
	default:
	}
	if err := c.ws.Write(context.Background(), websocket.MessageText, b); err != nil {
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
// WebSocket (wd.fire), as a client that does not read must not hold the session.
func (c *wsConn) SetWriteDeadline(t time.Time) error { c.wd.set(t); return nil }

// takeSpecial returns the <open/> or <close/> frame last read, once.
func (c *wsConn) takeSpecial() []byte {
	b := c.special
	c.special = nil
	return b
}

// errWSTimeout is a deadline that passed on a WebSocket client leg.
var errWSTimeout error = wsTimeout{}

type wsTimeout struct{}

func (wsTimeout) Error() string   { return "websocket: i/o timeout" }
func (wsTimeout) Timeout() bool   { return true }
func (wsTimeout) Temporary() bool { return true }

// pipeDeadline is a deadline that can be moved while someone waits on it (as net.Pipe's). It
// keeps one timer: the session moves its deadlines at every read and write, almost always
// later, and a later deadline only changes at (the timer, when it fires early, sets itself
// again for the rest).
type pipeDeadline struct {
	mu     sync.Mutex
	at     time.Time // zero: none
	timer  *time.Timer
	armed  time.Time     // when the timer fires; zero: not armed
	ch     chan struct{} // closed when the deadline passes
	fire   func()        // if not nil, runs when the deadline passes
	passed bool          // ch is closed
}

func (d *pipeDeadline) init() { d.ch = make(chan struct{}) }

// set moves the deadline to t (zero: none).
func (d *pipeDeadline) set(t time.Time) {
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

func (d *pipeDeadline) expire() {
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

func (d *pipeDeadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ch
}
