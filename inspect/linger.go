package inspect

import (
	"crypto/tls"
	"io"
	"net"
	"time"
)

// After a stream error, the peer may still be sending. Closing a socket whose input has not
// all been read makes the kernel answer with a reset and throw away what was written and
// the peer has not received yet: the stream error that says why, and what came before it.
// So the party that wrote the error closes gracefully: it half-closes (TLS close_notify,
// then TCP FIN after the error), reads and discards what the peer still sends, and closes
// when the peer closes or a bound is reached. The bounds keep a peer that never stops
// sending from holding the connection.
const (
	// LingerTime bounds how long a graceful close waits for the peer to close.
	LingerTime = 2 * time.Second
	// LingerBytes bounds what a graceful close reads and discards.
	LingerBytes = 64 << 10
)

// Linger half-closes a connection after a stream error and drains what the peer still
// sends, at most LingerBytes and until deadline. conn is what the stream was written to (a
// *tls.Conn gets its close_notify); raw is the socket under it (the same as conn on a
// plain connection), half-closed with a FIN when it can be. Linger does not close raw: the
// caller does, when Linger returns.
func Linger(conn, raw net.Conn, deadline time.Time) {
	if tc, ok := conn.(*tls.Conn); ok {
		tc.CloseWrite() // close_notify, within crypto/tls's own write deadline
	}
	if cw, ok := raw.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite() // FIN after the stream error: the peer reads it, then the end
	}
	raw.SetReadDeadline(deadline)
	io.CopyN(io.Discard, raw, LingerBytes)
}
