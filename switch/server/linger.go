package server

import (
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// closeConn closes the connection at the end of the session (end): gracefully when the
// writer wrote a stream error and the server is not shutting down (inspect.Linger says
// why), at once otherwise.
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
	inspect.Linger(c.rc, c.raw, time.Now().Add(inspect.LingerTime))
}
