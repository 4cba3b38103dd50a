package main

import (
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// reporter carries what the proxy, the switch and the rules report as they run (their
// Logf lines: registrations, binds, TLS failures, reloads). While a display runs, each line
// becomes a note record of it, with its time and, when the line is about one connection,
// that connection, so that nothing is printed across the display on stderr. Before the
// display starts and after it ends (and with --format raw, whose output is bytes only), the
// lines go to stderr, as do the start and fatal messages, which do not pass through here.
type reporter struct {
	stderr io.Writer

	mu   sync.Mutex
	sink inspect.Sink // nil: no display, write to stderr

	// In the default mode the embedded switch numbers its connections itself: its
	// connection k is the k-th it accepted, whose client address is the local address of
	// the proxy's upstream leg for one of the proxy's connections (proxy.ConnID).
	switchNumbers bool              // the switch's numbers are not the display's
	accepted      uint64            // connections the switch accepted
	switchAddr    map[uint64]string // switch connection -> its client's address
	dialed        map[string]uint64 // upstream leg's local address -> proxy connection
	transport     map[string]string // upstream leg's local address -> its client's transport, when not TCP
}

func newReporter(stderr io.Writer) *reporter { return &reporter{stderr: stderr} }

// attach sends the lines to sink from now on (sink must be safe for concurrent use).
func (r *reporter) attach(sink inspect.Sink) {
	r.mu.Lock()
	r.sink = sink
	r.mu.Unlock()
}

// detach sends the lines to stderr again; after it returns, no line is being written to
// the sink, so the sink may be closed.
func (r *reporter) detach() {
	r.mu.Lock()
	r.sink = nil
	r.mu.Unlock()
}

// Lines about one connection: the proxy names it with its own number, the switch with the
// switch's.
var (
	proxyConnRE  = regexp.MustCompile(`^(proxy: )connection (\d+): `)
	switchConnRE = regexp.MustCompile(`^(switch: )conn (\d+):? `)
)

// logf is a Logf for the proxy, the switch and the rules.
func (r *reporter) logf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sink == nil {
		fmt.Fprintln(r.stderr, msg)
		return
	}
	rec, note := &inspect.Record{Time: time.Now(), Kind: inspect.KindNote}, msg
	// The connection goes into the record, so the text need not say it again.
	if m := proxyConnRE.FindStringSubmatchIndex(msg); m != nil {
		if id, err := strconv.ParseUint(msg[m[4]:m[5]], 10, 64); err == nil {
			rec.Conn, note = &inspect.ConnInfo{ID: id, Transport: r.transportOf(id)}, msg[m[2]:m[3]]+msg[m[1]:]
		}
	} else if m := switchConnRE.FindStringSubmatchIndex(msg); m != nil {
		if id, err := strconv.ParseUint(msg[m[4]:m[5]], 10, 64); err == nil {
			if id, ok := r.displayConn(id); ok {
				rec.Conn, note = &inspect.ConnInfo{ID: id, Transport: r.transportOf(id)}, msg[m[2]:m[3]]+msg[m[1]:]
			}
		}
	}
	rec.SetNote(note)
	if err := r.sink.Write(rec); err != nil {
		fmt.Fprintln(r.stderr, msg)
	}
}

// displayConn returns the display's number for the switch's connection id. The caller
// holds r.mu.
func (r *reporter) displayConn(id uint64) (uint64, bool) {
	if !r.switchNumbers {
		return id, true
	}
	addr, ok := r.switchAddr[id]
	if !ok {
		return 0, false
	}
	n, ok := r.dialed[addr]
	return n, ok
}

// dialedFor records that the proxy's connection id reaches the embedded switch through c.
// transport is the client's (ConnInfo.Transport), so the switch's lines say it too.
func (r *reporter) dialedFor(id uint64, c net.Conn, transport string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dialed == nil {
		r.dialed = map[string]uint64{}
		r.transport = map[string]string{}
	}
	r.dialed[c.LocalAddr().String()] = id
	if transport != "" {
		r.transport[c.LocalAddr().String()] = transport
	}
}

// transportOf returns the transport of the proxy's connection id ("" for TCP). The
// caller holds r.mu.
func (r *reporter) transportOf(id uint64) string {
	if len(r.transport) == 0 {
		return ""
	}
	for addr, n := range r.dialed {
		if n == id {
			return r.transport[addr]
		}
	}
	return ""
}

// switchListener wraps the embedded switch's listener so that the reporter knows each of
// its connections by number (the switch numbers them in the order it accepts them) and
// forgets them when they close.
func (r *reporter) switchListener(ln net.Listener) net.Listener {
	r.mu.Lock()
	r.switchNumbers = true
	r.mu.Unlock()
	return &countingListener{Listener: ln, r: r}
}

type countingListener struct {
	net.Listener
	r *reporter
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	r := l.r
	r.mu.Lock()
	defer r.mu.Unlock()
	r.accepted++
	if r.switchAddr == nil {
		r.switchAddr = map[uint64]string{}
	}
	addr := c.RemoteAddr().String()
	r.switchAddr[r.accepted] = addr
	return &forgettingConn{Conn: c, r: r, id: r.accepted, addr: addr}, nil
}

// forgettingConn removes its connection from the reporter's maps when it closes, so that
// they hold only the connections that are open.
type forgettingConn struct {
	net.Conn
	r    *reporter
	id   uint64
	addr string
	once sync.Once
}

func (c *forgettingConn) Close() error {
	c.once.Do(func() {
		c.r.mu.Lock()
		delete(c.r.switchAddr, c.id)
		delete(c.r.dialed, c.addr)
		delete(c.r.transport, c.addr)
		c.r.mu.Unlock()
	})
	return c.Conn.Close()
}
