//go:build linux

package server

import (
	"bufio"
	"context"
	"testing"

	"github.com/stanzascope/stanzascope/switch/local"
)

// TestIdleLocalSessionsWait: sessions over an in-process connection (switch/local, how
// the main job reaches its embedded switch) have no socket to park: quiet for idleRelease,
// each waits for its next byte in its own goroutine, as on systems without the poller,
// and still receives what is routed to it and is heard when it speaks again.
func TestIdleLocalSessionsWait(t *testing.T) {
	ts := startServer(t, nil)
	ln := local.Listen("embedded-switch", 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ts.srv.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve on the local listener: %v", err)
		}
	}()
	dial := func() *rawClient {
		c, err := ln.Dial(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return &rawClient{t: t, conn: c, r: bufio.NewReader(c)}
	}
	login := func(user string) *rawClient {
		r := dial()
		r.send(legacyHeader)
		r.expectRe(headerRe)
		r.send("<iq id='r' type='set'><query xmlns='jabber:iq:register'><username>" + user + "</username><password>pw</password></query></iq>")
		r.expect("<iq id='r' type='result'/>")
		r.send("</stream:stream>")
		r.expect("</stream:stream>")
		r.expectEOF()
		c := dial()
		c.send(legacyHeader)
		c.expectRe(headerRe)
		c.send("<iq id='auth1' type='set'><query xmlns='jabber:iq:auth'><username>" + user + "</username><password>pw</password><resource>Home</resource></query></iq>")
		c.expect("<iq id='auth1' type='result'/>")
		c.send("<presence/>")
		syncWith(c, user+"@localhost/Home")
		return c
	}
	jane, dana := login("jane"), login("dana")

	// Both go quiet for idleRelease: each drops its read buffer, is not parked, and its
	// reader goes on waiting in waitIdle.
	waitFor(t, "both local sessions to drop their read buffers", func() bool {
		ts.srv.connMu.Lock()
		defer ts.srv.connMu.Unlock()
		quiet := 0
		for c := range ts.srv.conns {
			if c.quiet.Load() {
				quiet++
			}
		}
		return quiet == 2
	})
	ts.srv.connMu.Lock()
	for c := range ts.srv.conns {
		if c.idle.isParked(c) {
			t.Errorf("the session of %s over a local connection was parked", c.JID())
		}
	}
	ts.srv.connMu.Unlock()
	if n := readersWaiting(); n < 2 {
		t.Errorf("%d goroutines wait for a session's next byte, want the 2 of the local sessions", n)
	}
	undisturbed(t, jane, dana)
	dana.send("<message to='jane@localhost' type='chat'><body>yes</body></message>")
	expectSkippingPings(t, jane, "<message to='jane@localhost' type='chat' from='dana@localhost/Home'><body>yes</body></message>")
}
