package server

import (
	"crypto/tls"
	"io"
	"time"
)

// After the server ends a stream with a stream error, the client may still be sending.
// Closing a socket whose input has not all been read makes the kernel answer with a reset
// and throw away what the server wrote and the client has not received yet: the answers
// before the error and the error that says why. So such a connection is closed
// gracefully: half-closed (TLS close_notify, then TCP FIN after the error), then what the
// client still sends is read and discarded until it closes or a bound is reached. The
// bounds keep a client that never stops sending from holding its connection: lingerTime
// and lingerBytes.
const (
	lingerTime  = 2 * time.Second
	lingerBytes = 64 << 10
)

// closeConn closes the connection at the end of the session (end): gracefully when the
// writer wrote a stream error and the server is not shutting down, at once otherwise.
// It runs in the reader goroutine, once the writer stopped.
func (c *conn) closeConn() {
	defer c.raw.Close()
	if !c.errWritten.Load() {
		return
	}
	c.srv.connMu.Lock()
	closing := c.srv.closing
	c.srv.connMu.Unlock()
	if closing {
		return
	}
	if tc, ok := c.rc.(*tls.Conn); ok {
		tc.CloseWrite() // close_notify, within crypto/tls's own write deadline
	}
	if cw, ok := c.raw.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	c.raw.SetReadDeadline(time.Now().Add(lingerTime))
	io.CopyN(io.Discard, c.raw, lingerBytes)
}
