package server

import (
	"io"
	"testing"
	"time"
)

// maxRouteAllocs is the allocation guard for routing (issue 12 item 7): one chat message
// from one authenticated session to another costs at most this many allocations, counted
// over the whole process (sender, server, recipient), as BenchmarkRouteMessages reports
// (docs/BENCHMARKS.md): none. The copy stamped with from is written into the recipient's
// outbox buffer (stamped), and the to, the same as the last message's, is neither copied
// nor parsed again (routeState; a to that changes costs its string).
const maxRouteAllocs = 0

func TestRouteAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation guard: the race detector allocates")
	}
	ts := startServer(t, nil)
	registerRaw(t, ts.addr, "jane", "pw")
	registerRaw(t, ts.addr, "dana", "pw")
	jane := legacyLogin(t, ts.addr, "jane", "pw", "Home")
	dana := legacyLogin(t, ts.addr, "dana", "pw", "Home")
	dana.send("<presence/>")
	syncWith(dana, "dana@localhost/Home")
	msg := []byte("<message to='dana@localhost' type='chat'><body>I wish to complain about this parrot what I purchased not half an hour ago from this very boutique.</body></message>")
	buf := make([]byte, len(msg)+len(" from='jane@localhost/Home'"))
	jane.conn.SetWriteDeadline(time.Now().Add(time.Minute))
	dana.conn.SetReadDeadline(time.Now().Add(time.Minute))
	once := func() {
		if _, err := jane.conn.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(dana.r, buf); err != nil {
			t.Fatal(err)
		}
	}
	for range 100 {
		once()
	}
	if got := testing.AllocsPerRun(2000, once); got > maxRouteAllocs {
		t.Errorf("routing one message: %.2f allocations, the guard is %d", got, maxRouteAllocs)
	} else {
		t.Logf("routing one message: %.2f allocations (guard %d)", got, maxRouteAllocs)
	}
}
