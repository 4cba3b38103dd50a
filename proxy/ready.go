package proxy

import (
	"crypto/tls"
	"net"
	"sync/atomic"
)

// A pipe writes what it queued toward the other side before its reader waits for more
// input (flushReader), so that no stanza waits for later input. Flushing before every
// read would cost a write per read where input arrives faster than one read takes it: a
// TLS connection returns one record per read, so a peer that sent ten stanzas in ten
// records would get ten writes (ten TLS records, ten system calls) where one would do.
// So before flushing, a pipe takes what a read returns without waiting (ready); it
// flushes only when the next read would wait.
//
// What a read returns without waiting: on a TLS leg, what the TLS connection holds
// already (decrypted input, and records it read from the socket with earlier ones; it
// reads whatever the socket has, so several records come in one read); with a local
// connection underneath (the embedded switch's), also what its buffer holds. A TCP socket
// is not asked (that would cost a system call per wait, and a plaintext TCP read takes
// everything the socket has anyway).

// bufferedConn is a connection that says how much a read returns without waiting: the
// embedded switch's local connection (switch/local).
type bufferedConn interface{ Buffered() int }

// tryConn is the connection under a TLS leg. While try is set, a read that would wait
// returns errWouldBlock instead, which crypto/tls passes on without ending the
// connection (a temporary net.Error), keeping any part of a record read so far.
type tryConn struct {
	net.Conn
	try atomic.Bool
}

func (c *tryConn) Read(p []byte) (int, error) {
	if c.try.Load() {
		if b, ok := c.Conn.(bufferedConn); !ok || b.Buffered() == 0 {
			return 0, errWouldBlock
		}
	}
	return c.Conn.Read(p)
}

// tlsLegServer and tlsLegClient make a TLS leg on raw whose reads ready can make not wait.
func tlsLegServer(raw net.Conn, cfg *tls.Config) *tls.Conn {
	return tls.Server(&tryConn{Conn: raw}, cfg)
}
func tlsLegClient(raw net.Conn, cfg *tls.Config) *tls.Conn {
	return tls.Client(&tryConn{Conn: raw}, cfg)
}

// wouldBlock is the error of a read told not to wait when it would have.
type wouldBlock struct{}

func (wouldBlock) Error() string   { return "no input ready" }
func (wouldBlock) Timeout() bool   { return false }
func (wouldBlock) Temporary() bool { return true } // crypto/tls keeps the connection usable

var errWouldBlock net.Error = wouldBlock{}

// readyFunc returns the read that takes what c returns without waiting, or nil when c
// cannot tell (a plaintext TCP connection). The read returns errWouldBlock (and nothing)
// when it would wait.
func readyFunc(conn net.Conn) func(p []byte) (int, error) {
	switch c := conn.(type) {
	case *tls.Conn:
		t, ok := c.NetConn().(*tryConn)
		if !ok {
			return nil
		}
		return func(p []byte) (int, error) {
			t.try.Store(true)
			n, err := c.Read(p)
			t.try.Store(false)
			return n, err
		}
	case bufferedConn:
		return func(p []byte) (int, error) {
			if c.Buffered() == 0 {
				return 0, errWouldBlock
			}
			return conn.Read(p)
		}
	}
	return nil
}
