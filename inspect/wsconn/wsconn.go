// Package wsconn serves an XMPP client over WebSocket (RFC 7395) as a net.Conn carrying the
// TCP form of its stream, so that a session written for TCP (the switch's, the proxy's
// client leg) reads and writes it unchanged. The framing itself (what an <open/> means,
// which frames are allowed) is inspect's (inspect.FrameParser, inspect.FrameOfStream); this
// package adds the WebSocket: one message at a time, bounded reads with reused buffers,
// deadlines that can move while a read waits, and the close handshake in the background.
package wsconn

import (
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

// Conn is a WebSocket client's connection as an XMPP session reads and writes it: Read
// returns the TCP form of the frames the client sent (<open/> as a stream header,
// <close/> as the closing tag, an element as it is); each Write sends one text message.
type Conn struct {
	ws            *websocket.Conn
	local, remote net.Addr
	frames        *inspect.FrameParser

	in     chan message // messages from the reading goroutine, one at a time
	free   chan []byte  // read buffers the session is done with, for the reading goroutine
	closed chan struct{}
	done   chan struct{} // closed once the WebSocket is closed
	once   sync.Once

	rd, wd   deadline
	wExpired atomic.Bool   // the deadline passed while a write ran
	writing  atomic.Bool   // a write is running
	wgen     atomic.Uint64 // counts the writes, so that a grace timer knows its own
	grace    atomic.Int64  // SetStallGrace: how long a late write may still take
	onStall  atomic.Pointer[func()]

	// Owned by the session's reader of the client.
	pending []byte // TCP-form bytes of the current frame not read yet
	cur     []byte // the read buffer pending is in, handed back once it is read
	special []byte // the last <open/> or <close/> frame: the Original of its record
	bad     []byte // a frame refused: the bytes of the error's record
	rerr    error
}

type message struct {
	typ  websocket.MessageType
	data []byte
	over bool // the message is longer than the stanza limit; data holds its start
	err  error
}

// New serves the WebSocket ws of the request r (RFC 7395, subprotocol xmpp agreed) as a
// Conn: messages longer than lim.MaxStanza (or the default) end the stream, and the frames
// are checked with lim. Its reading goroutine runs until Close.
func New(ws *websocket.Conn, r *http.Request, lim inspect.Limits) *Conn {
	max := lim.MaxStanza
	if max <= 0 {
		max = inspect.DefaultLimits.MaxStanza
	}
	ws.SetReadLimit(int64(max) + 2) // the reading goroutine stops at max+1 itself
	c := &Conn{ws: ws, frames: inspect.NewFrameParser(lim), in: make(chan message), free: make(chan []byte, 2),
		closed: make(chan struct{}), done: make(chan struct{})}
	c.rd.init()
	c.wd.init()
	c.wd.fire = c.writeExpired
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
func (c *Conn) readLoop(max int) {
	for {
		typ, r, err := c.ws.Reader(context.Background())
		var m message
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
func (c *Conn) Read(p []byte) (int, error) {
	for len(c.pending) == 0 {
		if c.rerr != nil {
			return 0, c.rerr
		}
		select {
		case m := <-c.in:
			c.rerr = c.frame(m)
		case <-c.rd.wait():
			return 0, errTimeout
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
func (c *Conn) frame(m message) error {
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

// writeExpired runs when the write deadline passes. A write still running then is a
// client that does not read, which must not hold the session: without a stall grace the
// WebSocket ends at once (which makes the write return); with one, the write gets the
// grace to finish, so that the session can still end the stream with a stream error, and
// the WebSocket ends only if it does not. A deadline passing between writes ends nothing:
// the session is idle, not stalled.
func (c *Conn) writeExpired() {
	if !c.writing.Load() {
		return
	}
	c.wExpired.Store(true)
	g := time.Duration(c.grace.Load())
	if g <= 0 {
		c.ws.CloseNow()
		return
	}
	if f := c.onStall.Load(); f != nil {
		(*f)()
	}
	gen := c.wgen.Load()
	time.AfterFunc(g, func() {
		if c.writing.Load() && c.wgen.Load() == gen {
			c.ws.CloseNow() // still the same write: the client took nothing in the grace
		}
	})
}

// SetStallGrace sets how long a write still running when its deadline passes may take
// before the WebSocket ends (0, the default: none, it ends at the deadline), and a
// function called when such a write starts its grace. A write that finishes in its grace
// returns len(b) with a timeout error: the message went, but the client is not reading.
func (c *Conn) SetStallGrace(d time.Duration, onStall func()) {
	c.grace.Store(int64(d))
	if onStall != nil {
		c.onStall.Store(&onStall)
	}
}

// Write sends b as one text message; an empty b sends nothing (frames hold elements only).
// A write that ran past its deadline fails with a timeout error (net.Error), with len(b)
// when it still finished in its stall grace (SetStallGrace).
func (c *Conn) Write(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	c.wgen.Add(1)
	c.writing.Store(true) // before the look at the deadline: writeExpired sees one or the other
	defer c.writing.Store(false)
	c.wExpired.Store(false) // a deadline of an earlier write that passed as it ended
	select {
	case <-c.wd.wait():
		return 0, errTimeout
	default:
	}
	err := c.ws.Write(context.Background(), websocket.MessageText, b)
	late := c.wExpired.Swap(false)
	switch {
	case err != nil && late:
		return 0, errTimeout
	case err != nil:
		return 0, err
	case late:
		return len(b), errTimeout
	}
	return len(b), nil
}

// Close closes the WebSocket with the close handshake (RFC 6455 section 7), in the
// background: the session does not wait for a client that does not answer.
func (c *Conn) Close() error {
	c.once.Do(func() {
		close(c.closed)
		go func() {
			defer close(c.done)
			c.ws.Close(websocket.StatusNormalClosure, "")
		}()
	})
	return nil
}

func (c *Conn) LocalAddr() net.Addr  { return c.local }
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

func (c *Conn) SetDeadline(t time.Time) error {
	c.SetReadDeadline(t)
	return c.SetWriteDeadline(t)
}

func (c *Conn) SetReadDeadline(t time.Time) error { c.rd.set(t); return nil }

// SetWriteDeadline bounds the writes: a write still running when it passes ends the
// WebSocket (writeExpired, after the stall grace if any), as a client that does not read
// must not hold its session.
func (c *Conn) SetWriteDeadline(t time.Time) error { c.wd.set(t); return nil }

// TakeSpecial returns the <open/> or <close/> frame last read, once: the Original of the
// record of the stream header or closing tag Read returned for it. Only Read's goroutine
// may call it.
func (c *Conn) TakeSpecial() []byte {
	b := c.special
	c.special = nil
	return b
}

// Bad returns the message that ended the stream as a bad frame (binary, oversize, not one
// element), as the client sent it: the bytes of the error's record. Only Read's goroutine
// may call it.
func (c *Conn) Bad() []byte { return c.bad }

// Done is closed once the WebSocket is closed, after Close: the close handshake is over,
// or timed out.
func (c *Conn) Done() <-chan struct{} { return c.done }

// errTimeout is a deadline that passed on a WebSocket connection.
var errTimeout error = timeoutError{}

type timeoutError struct{}

func (timeoutError) Error() string   { return "websocket: i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// deadline is a deadline that can be moved while someone waits on it (as net.Pipe's). It
// keeps one timer: the session moves its deadlines at every read and write, almost always
// later, and a later deadline only changes at (the timer, when it fires early, sets itself
// again for the rest).
type deadline struct {
	mu     sync.Mutex
	at     time.Time // zero: none
	timer  *time.Timer
	armed  time.Time     // when the timer fires; zero: not armed
	ch     chan struct{} // closed when the deadline passes
	fire   func()        // if not nil, runs when the deadline passes
	passed bool          // ch is closed
}

func (d *deadline) init() { d.ch = make(chan struct{}) }

// set moves the deadline to t (zero: none).
func (d *deadline) set(t time.Time) {
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

func (d *deadline) expire() {
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

func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ch
}
