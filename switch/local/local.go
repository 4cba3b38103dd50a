// Package local connects two parts of one process with a stream connection that behaves
// like a TCP connection on loopback (net.Conn with deadlines, half-close, EOF after the
// peer's close, bounded buffers with backpressure) without the kernel: the embedded switch
// is reached this way by the proxy in the same process. Loopback TCP costs two system
// calls and the kernel's TCP work for every write that crosses; here a write is a copy
// into the peer's buffer and, when the peer waits, one wake-up.
//
// Unlike net.Pipe, each direction is buffered (a write returns once its bytes are in the
// buffer, and a read takes everything buffered), so a writer and its reader do not meet
// for every write.
package local

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// DefaultBuffer is the most a direction buffers (bytes written and not yet read) before a
// writer blocks: what a loopback TCP connection's socket buffers hold for a stream of
// small writes, about.
const DefaultBuffer = 256 << 10

// smallBuffer is the buffer a direction takes for what one write or a few leave unread;
// a larger burst takes one of the direction's whole bound. Either goes back to a pool as
// soon as the direction is emptied, so that an idle connection holds no buffer.
const smallBuffer = 4 << 10

// Addr is the address of one end of a local connection: Net is "local", Name names the
// listener, and, for the dialing end, the connection (NAME#N, unique in the listener).
type Addr struct{ Name string }

// Network returns "local".
func (Addr) Network() string { return "local" }

// String returns the name.
func (a Addr) String() string { return a.Name }

// Listener accepts the connections its Dial makes. It is a net.Listener.
type Listener struct {
	addr   Addr
	buffer int
	seq    atomic.Uint64
	conns  chan *Conn
	done   chan struct{}
	once   sync.Once
}

// Listen returns a listener named name (its Addr) whose connections buffer up to buffer
// bytes in each direction (DefaultBuffer if buffer <= 0).
func Listen(name string, buffer int) *Listener {
	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	return &Listener{addr: Addr{name}, buffer: buffer, conns: make(chan *Conn), done: make(chan struct{})}
}

// Addr returns the listener's address: its name.
func (l *Listener) Addr() net.Addr { return l.addr }

// Accept waits for the next connection that Dial makes and returns its accepting end,
// whose RemoteAddr is the dialing end's LocalAddr. After Close it returns an error that
// wraps net.ErrClosed.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, &net.OpError{Op: "accept", Net: "local", Addr: l.addr, Err: net.ErrClosed}
	}
}

// Close stops the listener: Accept and Dial fail from now on. Connections already
// accepted stay open.
func (l *Listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// errRefused is Dial's error after the listener closed, as a refused TCP connection's.
var errRefused = syscall.ECONNREFUSED

// Dial makes a connection to the listener and returns its dialing end once Accept took the
// other, or an error when ctx ends first or the listener is closed.
func (l *Listener) Dial(ctx context.Context) (net.Conn, error) {
	a := Addr{fmt.Sprintf("%s#%d", l.addr.Name, l.seq.Add(1))}
	c, s := pair(a, l.addr, l.buffer)
	select {
	case <-l.done:
		return nil, &net.OpError{Op: "dial", Net: "local", Addr: l.addr, Err: errRefused}
	default:
	}
	select {
	case l.conns <- s:
		return c, nil
	case <-l.done:
		return nil, &net.OpError{Op: "dial", Net: "local", Addr: l.addr, Err: errRefused}
	case <-ctx.Done():
		return nil, &net.OpError{Op: "dial", Net: "local", Addr: l.addr, Err: ctx.Err()}
	}
}

// Pipe returns the two ends of a connection, a (at address an) and b (at bn), each direction
// buffering up to buffer bytes (DefaultBuffer if buffer <= 0).
func Pipe(an, bn string, buffer int) (a, b net.Conn) {
	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	return pair(Addr{an}, Addr{bn}, buffer)
}

func pair(an, bn Addr, buffer int) (*Conn, *Conn) {
	ab, ba := newHalf(buffer), newHalf(buffer)
	a := &Conn{local: an, remote: bn, in: ba, out: ab, closed: make(chan struct{})}
	b := &Conn{local: bn, remote: an, in: ab, out: ba, closed: make(chan struct{})}
	a.rd.init()
	a.wd.init()
	b.rd.init()
	b.wd.init()
	return a, b
}

// half is one direction: the bytes written by one end and not yet read by the other.
type half struct {
	max int

	mu       sync.Mutex
	buf      []byte // unread bytes are buf[r:]
	r        int
	eof      bool // the writer closed or half-closed: reads end after the buffer
	gone     bool // the reader closed: writes fail
	readable chan struct{}
	writable chan struct{}
}

func newHalf(max int) *half {
	return &half{max: max, readable: make(chan struct{}, 1), writable: make(chan struct{}, 1)}
}

// signal wakes one waiter of ch, if any waits (a waiter checks again after waking).
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// Conn is one end of a local connection. It is a net.Conn, safe for concurrent use.
type Conn struct {
	local, remote Addr
	in, out       *half
	rd, wd        deadline

	wmu       sync.Mutex // one write at a time: a write's bytes are not interleaved with another's
	closed    chan struct{}
	closeOnce sync.Once
}

func (c *Conn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "local", Source: c.local, Addr: c.remote, Err: err}
}

// Read reads what is buffered, up to len(p), waiting for at least one byte. It returns
// io.EOF once the peer closed or half-closed and everything it wrote was read, and an
// error wrapping os.ErrDeadlineExceeded when the read deadline passed, as TCP does: a
// deadline in the past fails a read even when bytes are there.
func (c *Conn) Read(p []byte) (int, error) {
	h := c.in
	for {
		select {
		case <-c.closed:
			return 0, c.opError("read", net.ErrClosed)
		default:
		}
		expired := c.rd.wait()
		select {
		case <-expired:
			return 0, c.opError("read", os.ErrDeadlineExceeded)
		default:
		}
		h.mu.Lock()
		if n := len(h.buf) - h.r; n > 0 {
			if len(p) == 0 {
				h.mu.Unlock()
				return 0, nil
			}
			k := copy(p, h.buf[h.r:])
			h.r += k
			left := len(h.buf) - h.r
			if left == 0 {
				// Emptied: the buffer goes back for the next write of any connection.
				putBuf(h.buf)
				h.buf, h.r = nil, 0
			}
			h.mu.Unlock()
			signal(h.writable)
			if left > 0 {
				signal(h.readable) // another reader may take the rest
			}
			return k, nil
		}
		if h.eof {
			h.mu.Unlock()
			return 0, io.EOF
		}
		h.mu.Unlock()
		if len(p) == 0 {
			return 0, nil
		}
		select {
		case <-h.readable:
		case <-expired:
		case <-c.closed:
		}
	}
}

// Buffered returns how many bytes the peer wrote that this end has not read yet: a Read
// returns at once when there are any (unless the read deadline passed). A reader that
// holds output back until its input runs dry (the proxy) asks this rather than wait.
func (c *Conn) Buffered() int {
	h := c.in
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.buf) - h.r
}

// Write writes all of p unless an error comes first, waiting while the peer's buffer is
// full (backpressure). It fails with an error wrapping syscall.EPIPE once the peer closed,
// and with one wrapping os.ErrDeadlineExceeded when the write deadline passed; n says how
// much of p was written before.
func (c *Conn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	h := c.out
	n := 0
	for {
		select {
		case <-c.closed:
			return n, c.opError("write", net.ErrClosed)
		default:
		}
		expired := c.wd.wait()
		select {
		case <-expired:
			return n, c.opError("write", os.ErrDeadlineExceeded)
		default:
		}
		h.mu.Lock()
		if h.eof {
			h.mu.Unlock()
			return n, c.opError("write", errShutdown)
		}
		if h.gone {
			h.mu.Unlock()
			return n, c.opError("write", syscall.EPIPE)
		}
		if len(p) == 0 {
			h.mu.Unlock()
			return 0, nil // nothing to wait for, even with the buffer full
		}
		if room := h.max - (len(h.buf) - h.r); room > 0 {
			k := min(room, len(p)-n)
			if h.r > 0 && len(h.buf)+k > cap(h.buf) {
				// Move the unread bytes to the front rather than grow.
				m := copy(h.buf, h.buf[h.r:])
				h.buf, h.r = h.buf[:m], 0
			}
			if len(h.buf)+k > cap(h.buf) {
				// At most two steps (small, then the whole bound), each from a pool.
				nb := getBuf(len(h.buf)+k, h.max)
				nb = nb[:copy(nb[:len(h.buf)], h.buf)]
				putBuf(h.buf)
				h.buf = nb
			}
			h.buf = append(h.buf, p[n:n+k]...)
			n += k
			h.mu.Unlock()
			signal(h.readable)
			if n == len(p) {
				return n, nil
			}
			continue
		}
		h.mu.Unlock()
		select {
		case <-h.writable:
		case <-expired:
		case <-c.closed:
		}
	}
}

// Emptied buffers for the next writes: of smallBuffer bytes, and of DefaultBuffer.
var (
	smallBuffers = sync.Pool{New: func() any { b := make([]byte, 0, smallBuffer); return &b }}
	bigBuffers   = sync.Pool{New: func() any { b := make([]byte, 0, DefaultBuffer); return &b }}
)

// getBuf returns an empty buffer with room for need bytes (need <= max): a small one
// when that is enough, else one of max bytes.
func getBuf(need, max int) []byte {
	switch {
	case need <= smallBuffer && max >= smallBuffer:
		return (*smallBuffers.Get().(*[]byte))[:0]
	case max == DefaultBuffer:
		return (*bigBuffers.Get().(*[]byte))[:0]
	}
	return make([]byte, 0, max)
}

// putBuf gives back a buffer that getBuf returned (nil: nothing); its bytes are no longer
// anyone's.
func putBuf(b []byte) {
	switch cap(b) {
	case smallBuffer:
		b = b[:0]
		smallBuffers.Put(&b)
	case DefaultBuffer:
		b = b[:0]
		bigBuffers.Put(&b)
	}
}

// errShutdown is a write's error after CloseWrite, as on a TCP socket.
var errShutdown = syscall.EPIPE

// Close closes the connection: this end's reads and writes fail with net.ErrClosed, the
// peer reads what was written and then io.EOF, and the peer's writes fail with EPIPE.
func (c *Conn) Close() error {
	err := c.opError("close", net.ErrClosed)
	c.closeOnce.Do(func() {
		err = nil
		close(c.closed)
		c.out.mu.Lock()
		c.out.eof = true
		c.out.mu.Unlock()
		signal(c.out.readable)
		c.in.mu.Lock()
		c.in.gone = true
		putBuf(c.in.buf)
		c.in.buf, c.in.r = nil, 0 // nobody will read them
		c.in.mu.Unlock()
		signal(c.in.writable)
		c.rd.stop()
		c.wd.stop()
	})
	return err
}

// CloseWrite shuts down the writing side, as a TCP FIN: the peer reads what was written,
// then io.EOF; this end can still read.
func (c *Conn) CloseWrite() error {
	select {
	case <-c.closed:
		return c.opError("close", net.ErrClosed)
	default:
	}
	c.out.mu.Lock()
	c.out.eof = true
	c.out.mu.Unlock()
	signal(c.out.readable)
	signal(c.out.writable) // a write waiting for room fails now
	return nil
}

// LocalAddr returns this end's address.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// SetDeadline sets the read and the write deadline.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the time after which reads fail (and a waiting read returns) with
// an error wrapping os.ErrDeadlineExceeded; the zero time means none.
func (c *Conn) SetReadDeadline(t time.Time) error {
	select {
	case <-c.closed:
		return c.opError("set", net.ErrClosed)
	default:
	}
	c.rd.set(t)
	return nil
}

// SetWriteDeadline is SetReadDeadline for writes.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	select {
	case <-c.closed:
		return c.opError("set", net.ErrClosed)
	default:
	}
	c.wd.set(t)
	return nil
}

// deadline is a read or write deadline: a channel closed when it passes. The proxy and the
// switch move their deadlines before most reads and writes, so a timer is reused rather
// than made for each.
type deadline struct {
	mu      sync.Mutex
	expired chan struct{} // closed once the deadline passed
	timer   *time.Timer   // nil, or a timer that closes timerCh when it fires
	timerCh chan struct{}
	armed   bool // timer is running (not stopped, not known to have fired)
}

func (d *deadline) init() { d.expired = make(chan struct{}) }

// wait returns the channel that is closed when the current deadline passes.
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	ch := d.expired
	d.mu.Unlock()
	return ch
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// set moves the deadline to t (zero: none). A read or write waiting with the channel of
// the old deadline wakes if t has passed, or keeps waiting for t.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.armed {
		d.armed = false
		if !d.timer.Stop() {
			// It fired: wait until its channel is closed; that timer is spent.
			<-d.timerCh
			d.timer, d.timerCh = nil, nil
		}
	}
	closed := isClosed(d.expired)
	if t.IsZero() {
		if closed {
			d.expired = make(chan struct{})
		}
		return
	}
	dur := time.Until(t)
	if dur <= 0 {
		if !closed {
			close(d.expired)
		}
		return
	}
	if closed {
		d.expired = make(chan struct{})
	}
	if d.timer != nil && d.timerCh == d.expired {
		// A stopped timer for this very channel: run it again.
		d.timer.Reset(dur)
	} else {
		ch := d.expired
		d.timerCh = ch
		d.timer = time.AfterFunc(dur, func() { close(ch) })
	}
	d.armed = true
}

// stop stops the timer of a closed connection.
func (d *deadline) stop() {
	d.mu.Lock()
	if d.armed {
		d.timer.Stop()
		d.armed = false
	}
	d.mu.Unlock()
}
