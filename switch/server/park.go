package server

import (
	"errors"
	"os"
)

// An idle session costs what it holds: its structures, and a goroutine blocked in a read,
// whose stack (at least 4 KiB once shrunk) was a third of an idle plaintext session's
// resident memory. So a bound plaintext session quiet for idleRelease is parked: its
// reader goroutine ends, and a poller (park_linux.go: one epoll set for all of them, and
// one ticker for their idle deadlines) starts a new one when
//
//   - the client sends something, or closes its end (the new goroutine reads it);
//   - the session's idle deadline passes (Config.IdleTimeout after parking): the new
//     goroutine pings the client, or ends a stream already pinged (onReadTimeout);
//   - the writer ended the stream or the socket is being closed (wakeReader, abort).
//
// The session's writer is independent of this: it runs while the outbox has something
// (outbox.go), so a parked session still receives what is routed to it at once.

// errParked tells run that the session was parked: the goroutine must end without
// touching the connection, which resume now owns.
var errParked = errors.New("server: parked")

// resume goes on with a session the poller woke, in a new goroutine: timedOut says its
// idle deadline passed.
func (c *conn) resume(timedOut bool) {
	var err error
	if timedOut {
		err = c.onReadTimeout(os.ErrDeadlineExceeded, true)
	}
	if err == nil {
		if err = c.waitIdle(); err == errParked {
			return
		}
	}
	c.run(err)
}
