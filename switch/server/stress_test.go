//go:build stress && linux

package server

// Tests with real adversaries, on loopback, bounded in count and time. They are heavy
// (tens of megabytes, thousands of connections), so they build only with the stress tag:
// scripts/stress.sh runs them (and CI runs that script); each prints its figures with the
// prefix "figures:", which docs/RELIABILITY.md tabulates.

import (
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// figures prints one line of a stress test's figures.
func figures(t *testing.T, format string, args ...any) {
	t.Helper()
	t.Logf("figures: "+t.Name()+": "+format, args...)
}

// latencies measures the time a chat message takes from c to d (both logged in, d's full
// JID dJID), n times in a row, and returns them sorted.
func latencies(c, d *rawClient, dJID string, n int, stop <-chan struct{}) []time.Duration {
	var out []time.Duration
	for i := 0; i < n; i++ {
		select {
		case <-stop:
			return sortDurations(out)
		default:
		}
		id := fmt.Sprintf("lat%d", i)
		start := time.Now()
		c.send("<message id='" + id + "' to='" + dJID + "' type='chat'><body>ping</body></message>")
		s := d.readStanza()
		if !strings.Contains(s, "id='"+id+"'") {
			d.t.Fatalf("latency probe: expected %s, got %q", id, s)
		}
		out = append(out, time.Since(start))
	}
	return sortDurations(out)
}

func sortDurations(d []time.Duration) []time.Duration {
	slices.Sort(d)
	return d
}

func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, int(q*float64(len(d))))]
}

// TestStressSlowReader is the attack of issue 13: B sets a 4 KiB receive buffer and stops
// reading; A sends B 20,000 messages of 1 KB. A's flood completes (A is never blocked for
// B), B is dropped with <policy-violation/> once its outbox is full, a third pair's latency
// stays what it was, and every message is accounted for exactly once: read by B, stored
// for B's next login, or bounced to A (resource-constraint, once B's offline queue is
// full).
func TestStressSlowReader(t *testing.T) {
	const n = 20000
	logs := &logBuffer{}
	ts := startServer(t, func(c *Config) { c.Logf = logs.logf; c.LoginTimeout = 5 * time.Minute })
	t.Cleanup(func() {
		if t.Failed() {
			logs.mu.Lock()
			defer logs.mu.Unlock()
			t.Logf("the switch's log:\n%s", strings.Join(logs.lines, "\n"))
		}
	})
	for _, u := range []string{"a", "b", "c", "d"} {
		registerRaw(t, ts.addr, u, "pw")
	}
	b := legacyAuth(dialSlow(t, ts.addr), "b", "pw", "r")
	b.send("<presence/>")
	a := legacyLogin(t, ts.addr, "a", "pw", "r")
	c := legacyLogin(t, ts.addr, "c", "pw", "r")
	d := legacyLogin(t, ts.addr, "d", "pw", "r")
	syncWith(b, "b@localhost/r") // b is available before the flood: its presence was handled

	baseline := latencies(c, d, "d@localhost/r", 200, nil)

	// B reads nothing until the server says it stopped reading, then all it can.
	type result struct {
		data []byte
		err  error
	}
	bGot := make(chan result, 1)
	go func() {
		if !logs.await("stopped reading", 2*time.Minute) {
			bGot <- result{err: fmt.Errorf("the server never said that b stopped reading")}
			return
		}
		b.conn.SetReadDeadline(time.Now().Add(time.Minute))
		data, err := io.ReadAll(b.r)
		bGot <- result{data, err}
	}()
	// A reads its bounces all along, until the answer to its last ping.
	var bouncedIDs []string
	aDone := make(chan error, 1)
	go func() {
		re := regexp.MustCompile(`^<message id='(m\d+)' type='error'.*<resource-constraint `)
		for {
			s, err := a.tryStanza(2 * time.Minute)
			if err != nil {
				aDone <- err
				return
			}
			if strings.HasPrefix(s, "<iq id='done'") {
				aDone <- nil
				return
			}
			m := re.FindStringSubmatch(s)
			if m == nil {
				aDone <- fmt.Errorf("a got %.200q", s)
				return
			}
			bouncedIDs = append(bouncedIDs, m[1])
		}
	}()
	// The third pair measures while A floods.
	stop := make(chan struct{})
	var during []time.Duration
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		during = latencies(c, d, "d@localhost/r", 1<<30, stop)
	}()

	pad := strings.Repeat("x", 1000)
	start := time.Now()
	a.conn.SetWriteDeadline(time.Now().Add(2 * time.Minute))
	var flood strings.Builder
	for i := range n {
		fmt.Fprintf(&flood, "<message id='m%05d' to='b@localhost' type='chat'><body>%s</body></message>", i, pad)
		if flood.Len() > 64<<10 || i == n-1 {
			if _, err := io.WriteString(a.conn, flood.String()); err != nil {
				t.Fatalf("A's flood stopped after %v: %v", time.Since(start), err)
			}
			flood.Reset()
		}
	}
	a.send("<iq id='done' type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	if err := <-aDone; err != nil {
		t.Fatalf("A: %v", err)
	}
	floodTime := time.Since(start)
	close(stop)
	wg.Wait()

	// B was dropped: its session left the directory and its stream ended whole with
	// <policy-violation/> (it read within the grace period).
	r := <-bGot
	if r.err != nil {
		t.Fatalf("B: %v", r.err)
	}
	names, ids, err := streamElements(r.data)
	if err != nil || len(names) == 0 || names[len(names)-1] != "error" || ids[len(ids)-1] != "policy-violation" {
		t.Fatalf("B's stream does not end whole with policy-violation (%v): %q", err, r.data[max(0, len(r.data)-300):])
	}
	if !strings.Contains(string(r.data[max(0, len(r.data)-400):]), "outbox limit") {
		t.Errorf("the stream error does not name the outbox limit: %q", r.data[max(0, len(r.data)-400):])
	}
	j, _ := inspect.ParseJID("b@localhost/r")
	for deadline := time.Now().Add(30 * time.Second); ts.srv.dir.Lookup(j) != nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("B is still bound")
		}
	}

	// Every message exactly once: live, stored, or bounced.
	seen := make(map[string]int, n)
	live := 0
	for i, name := range names[:len(names)-1] {
		if name == "message" {
			seen[ids[i]]++
			live++
		}
	}
	for _, id := range bouncedIDs {
		seen[id]++
	}
	b2 := legacyLogin(t, ts.addr, "b", "pw", "r2")
	b2.send("<presence/>")
	stored := n - live - len(bouncedIDs)
	for range stored {
		s := b2.readStanza()
		m := regexp.MustCompile(`^<message id='(m\d+)'`).FindStringSubmatch(s)
		if m == nil {
			t.Fatalf("expected a stored message, got %.200q", s)
		}
		seen[m[1]]++
	}
	syncWith(b2, "b@localhost/r2")
	for i := range n {
		if id := fmt.Sprintf("m%05d", i); seen[id] != 1 {
			t.Fatalf("message %s arrived %d times", id, seen[id])
		}
	}

	bp50, bp99 := quantile(baseline, 0.5), quantile(baseline, 0.99)
	dp50, dp99, dmax := quantile(during, 0.5), quantile(during, 0.99), quantile(during, 1)
	figures(t, "flood of %d x 1 KB done in %v; B read %d, %d stored, %d bounced (resource-constraint); third pair p50/p99 %v/%v before, %v/%v (max %v, %d probes) during",
		n, floodTime.Round(time.Millisecond), live, stored, len(bouncedIDs), bp50, bp99, dp50, dp99, dmax, len(during))
	// Lenient: the flood takes CPU from the third pair, but no probe waits for B (a stall
	// would cost a write timeout, 10 s).
	if dp50 > 20*bp50+20*time.Millisecond || dmax > 2*time.Second {
		t.Errorf("the third pair's latency grew: p50 %v -> %v, max %v", bp50, dp50, dmax)
	}
}
