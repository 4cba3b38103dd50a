package server

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// A client that stops reading makes a write to it time out in the middle of a stanza.
// Closing the socket there would cut its stream mid-stanza, and lose the stanza. Instead
// the connection is marked stalled, the rest is kept, and the client gets a grace period
// to take it; then the stream ends with a stream error after a whole stanza. A client
// that reads nothing during the grace period has its connection closed, and the stanza
// counts as not delivered (errStalled): a message is then stored or bounced by its sender.

// maxStallGrace bounds the grace period (it is WriteTimeout when that is shorter).
const maxStallGrace = 2 * time.Second

// errStalled is the delivery error for a stanza a stalled client did not take.
var errStalled = errors.New("server: the client stopped reading")

// stallGuard is the TCP connection as the writers see it, under TLS too. A write that
// times out is not cut off: what it did not write is kept, later writes queue behind it,
// and the connection is marked stalled. To TLS the write succeeded, so its record state
// stays whole and the queued bytes can still be sent. Writes come from the holder of
// wmu, or from crypto/tls under its own lock; mu orders them.
type stallGuard struct {
	net.Conn
	mu      sync.Mutex
	stalled bool
	pending []byte
}

func (g *stallGuard) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stalled {
		g.pending = append(g.pending, p...)
		return len(p), nil
	}
	n, err := g.Conn.Write(p)
	if err != nil && isTimeout(err) {
		g.stalled = true
		g.pending = append(g.pending[:0], p[n:]...)
		return len(p), nil
	}
	return n, err
}

// isTimeout reports whether err is a deadline passing. (Its own function: the error
// variable errors.As needs would otherwise be allocated on every write.)
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isStalled reports whether a write timed out.
func (g *stallGuard) isStalled() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stalled
}

// flush writes the queued bytes until deadline and reports whether all were written.
func (g *stallGuard) flush(deadline time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.Conn.SetWriteDeadline(deadline)
	n, err := g.Conn.Write(g.pending)
	g.pending = g.pending[n:]
	return err == nil
}

// endStalledLocked ends the stream of a client that stopped reading in the middle of b
// (of the given kind, name and namespace, as for writeLocked). The caller holds wmu. It
// returns nil if the client took b within the grace period, else errStalled.
func (c *conn) endStalledLocked(b []byte, kind inspect.Kind, name, ns string) error {
	wt := c.srv.cfg.WriteTimeout
	deadline := time.Now().Add(min(wt, maxStallGrace))
	c.srv.logf("switch: conn %d: the client stopped reading (a write took longer than %v); ending its stream", c.info.ID, wt)
	whole := c.guard.flush(deadline)
	if !whole {
		c.closeLocked()
		return errStalled
	}
	c.observeOut(b, kind, name, ns)
	var tail [][]byte
	switch {
	case kind == inspect.KindStreamClose:
	case kind == inspect.KindStanza && name == "error" && ns == inspect.NSStreams:
		tail = [][]byte{[]byte(closeTag)} // a stream error was what stalled
	default:
		tail = [][]byte{streamErrorBytes("policy-violation", "the client did not read what was sent to it for "+wt.String()), []byte(closeTag)}
	}
	for _, t := range tail {
		c.nc.Write(t) // queued behind b: the connection stays stalled
	}
	if c.guard.flush(deadline) {
		for _, t := range tail {
			if string(t) == closeTag {
				c.observeOut(t, inspect.KindStreamClose, "stream", inspect.NSStreams)
			} else {
				c.observeOut(t, inspect.KindStanza, "error", inspect.NSStreams)
			}
		}
	}
	c.closeLocked()
	return nil
}
