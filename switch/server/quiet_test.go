package server

import (
	"testing"
	"time"
)

// TestQuietSessionDropsReadBuffer: a bound plaintext session that stays quiet longer than
// idleRelease waits without a read buffer (waitIdle), and one that speaks again is served
// as before: its message is routed, in pieces across the quiet time too.
func TestQuietSessionDropsReadBuffer(t *testing.T) {
	ts := startServer(t, nil)
	registerRaw(t, ts.addr, "jane", "pw")
	registerRaw(t, ts.addr, "dana", "pw")
	jane := legacyLogin(t, ts.addr, "jane", "pw", "Home")
	dana := legacyLogin(t, ts.addr, "dana", "pw", "desk")

	quiet := func(want int) {
		t.Helper()
		deadline := time.Now().Add(idleRelease + 10*time.Second)
		for {
			n := 0
			ts.srv.connMu.Lock()
			for c := range ts.srv.conns {
				if c.quiet.Load() {
					n++
				}
			}
			ts.srv.connMu.Unlock()
			if n == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d quiet sessions without a read buffer, want %d", n, want)
			}
			time.Sleep(20 * time.Millisecond) // polling for the state, with a deadline
		}
	}
	quiet(2)
	// Half a message, then quiet again: the reader holds the half, so it keeps its buffer.
	jane.send("<message to='dana@localhost/desk' id='m1' type='chat'><body>pining")
	quiet(1)
	jane.send(" for the fjords</body></message>")
	dana.expect("<message to='dana@localhost/desk' id='m1' type='chat' from='jane@localhost/Home'><body>pining for the fjords</body></message>")
	quiet(2)
}
