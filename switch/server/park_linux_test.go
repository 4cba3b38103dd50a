//go:build linux

package server

import (
	"bytes"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestIdleSessionsParked: bound plaintext sessions quiet for idleRelease wait without a
// goroutine (park.go), and a parked session still does everything a waiting one did: it
// receives what is routed to it, its client's next stanza is handled, its client closing
// the socket ends it, its idle deadline pings the client and then ends the stream of one
// that does not answer, a new login for its resource ends it with conflict, and the
// server's shutdown ends it with system-shutdown.
func TestIdleSessionsParked(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.IdleTimeout = 2 * time.Second })
	registerRaw(t, ts.addr, "mute", "pw")
	registerRaw(t, ts.addr, "gone", "pw")
	jane, dana := pair(t, ts)
	mute := legacyLogin(t, ts.addr, "mute", "pw", "x")
	gone := legacyLogin(t, ts.addr, "gone", "pw", "x")

	waitParked(t, ts, "jane", "dana", "mute", "gone")
	if n := readersWaiting(); n != 0 {
		t.Fatalf("%d goroutines wait in a session's read while all sessions are parked, want 0", n)
	}

	// Routed to a parked session (dana) by one that was parked (jane), and back.
	undisturbed(t, jane, dana)
	waitParked(t, ts, "jane", "dana")
	dana.send("<message to='jane@localhost' type='chat'><body>yes</body></message>")
	expectSkippingPings(t, jane, "<message to='jane@localhost' type='chat' from='dana@localhost/Home'><body>yes</body></message>")

	// A client that closes its socket ends its parked session.
	waitParked(t, ts, "gone")
	gone.conn.Close()
	waitFor(t, "gone's session to end", func() bool { return ts.srv.Sessions() == 3 })

	// The idle deadline passes while parked: a ping; no answer: connection-timeout.
	if s, err := mute.tryStanza(15 * time.Second); err != nil || s != idlePing {
		t.Fatalf("mute: want the idle ping, got %q, %v", s, err)
	}
	if s, err := mute.tryStanza(15 * time.Second); err != nil || !strings.HasPrefix(s, "<stream:error><connection-timeout ") {
		t.Fatalf("mute: want connection-timeout, got %q, %v", s, err)
	}

	// A new login for a parked session's resource: the old one gets conflict.
	waitParked(t, ts, "jane")
	jane2 := legacyLogin(t, ts.addr, "jane", "pw", "Home")
	for {
		s, err := jane.tryStanza(5 * time.Second)
		if err != nil {
			t.Fatalf("jane: want conflict, got %q, %v", s, err)
		}
		if s == idlePing {
			continue
		}
		if !strings.HasPrefix(s, "<stream:error><conflict ") {
			t.Fatalf("jane: want conflict, got %q", s)
		}
		break
	}

	// Shutdown with parked sessions: each gets system-shutdown, and Serve returns.
	waitParked(t, ts, "jane", "dana")
	ts.stop(t)
	for _, c := range []*rawClient{jane2, dana} {
		for {
			s, err := c.tryStanza(5 * time.Second)
			if err != nil {
				t.Fatalf("want system-shutdown, got %q, %v", s, err)
			}
			if s == idlePing || strings.HasPrefix(s, "<presence") {
				continue
			}
			if !strings.HasPrefix(s, "<stream:error><system-shutdown ") {
				t.Fatalf("want system-shutdown, got %q", s)
			}
			break
		}
	}
}

// expectSkippingPings reads the next stanza but idle pings, which it answers.
func expectSkippingPings(t *testing.T, c *rawClient, want string) {
	t.Helper()
	for {
		s, err := c.tryStanza(5 * time.Second)
		if err == nil && s == idlePing {
			c.send("<iq id='idle-ping' type='result' to='localhost'/>")
			continue
		}
		if err != nil || s != want {
			t.Fatalf("expected\n  %s\ngot\n  %s (%v)", want, s, err)
		}
		return
	}
}

// waitParked waits until a session of each user is parked.
func waitParked(t *testing.T, ts *testServer, users ...string) {
	t.Helper()
	waitFor(t, "sessions of "+strings.Join(users, ", ")+" to be parked", func() bool {
		parked := map[string]bool{}
		ts.srv.connMu.Lock()
		for c := range ts.srv.conns {
			if c.idle.isParked(c) {
				parked[c.JID().Local] = true
			}
		}
		ts.srv.connMu.Unlock()
		for _, u := range users {
			if !parked[u] {
				return false
			}
		}
		return true
	})
}

func (p *idlePoller) isParked(c *conn) bool {
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.parked[c.info.ID]
	return ok
}

// waitFor polls cond until it holds, for at most 15 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling for the state, with a deadline
	}
}

// readersWaiting counts the goroutines waiting for a session's next byte.
func readersWaiting() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	n := 0
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte("(*conn).waitIdle")) {
			n++
		}
	}
	return n
}
