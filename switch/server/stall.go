package server

import (
	"errors"
	"net"
	"sync"
	"time"
)

// A client that stops reading makes a write to it time out in the middle of a stanza.
// Closing the socket there would cut its stream mid-stanza, and lose the stanza. Instead
// the connection is marked stalled, the rest is kept, and the client gets a grace period
// to take it; then the stream ends with a stream error after a whole stanza (outbox.go).
// A client that reads nothing during the grace period has its connection closed, and what
// it did not take whole counts as not delivered: routed messages are then kept for the
// account or bounced (rescue.go).

// maxStallGrace bounds the grace period (it is WriteTimeout when that is shorter).
const maxStallGrace = 2 * time.Second

// errStalled is the write error for a client that stopped reading.
var errStalled = errors.New("server: the client stopped reading")

// stallGuard is the TCP connection as the writer sees it, under TLS too. A write that
// times out is not cut off: what it did not write is kept, later writes queue behind it,
// and the connection is marked stalled. To TLS the write succeeded, so its record state
// stays whole and the queued bytes can still be sent. Writes come from the session's
// writer, or from crypto/tls during the handshake; mu orders them.
type stallGuard struct {
	net.Conn
	mu      sync.Mutex
	stalled bool
	pending []byte
	sent    int64 // bytes the kernel took, since the connection opened
}

func (g *stallGuard) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stalled {
		g.pending = append(g.pending, p...)
		return len(p), nil
	}
	n, err := g.Conn.Write(p)
	g.sent += int64(n)
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

// sentBytes returns how many bytes the kernel took so far.
func (g *stallGuard) sentBytes() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.sent
}

// flush writes the queued bytes until deadline and reports whether all were written.
func (g *stallGuard) flush(deadline time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.Conn.SetWriteDeadline(deadline)
	n, err := g.Conn.Write(g.pending)
	g.sent += int64(n)
	g.pending = g.pending[n:]
	return err == nil
}
