package inspect

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// collect is a sink that keeps what it gets.
type collect struct{ recs []*Record }

func (c *collect) Write(r *Record) error { c.recs = append(c.recs, r); return nil }

func (c *collect) notes() []string {
	var out []string
	for _, r := range c.recs {
		if r.Kind == KindNote {
			out = append(out, r.Note())
		}
	}
	return out
}

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func iq(t *testing.T, conn *ConnInfo, dir Direction, at time.Duration, typ, id string) *Record {
	r := rec(t, dir, fmt.Sprintf(`<iq type='%s' id='%s'><query xmlns='jabber:iq:roster'/></iq>`, typ, id))
	r.Conn, r.Time = conn, t0.Add(at)
	return r
}

func TestIQTrackerMatches(t *testing.T) {
	c1 := &ConnInfo{ID: 1}
	out := &collect{}
	tr := NewIQTracker(out, 0)
	req := iq(t, c1, ClientToServer, 0, "get", "r1")
	ans := iq(t, c1, ServerToClient, 3200*time.Microsecond, "result", "r1")
	for _, r := range []*Record{req, ans} {
		if err := tr.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if ans.RTT() != 3200*time.Microsecond || ans.Unmatched {
		t.Fatalf("answer RTT %v unmatched %v", ans.RTT(), ans.Unmatched)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if len(out.recs) != 2 {
		t.Fatalf("got %d records, want the 2 passed on and no note", len(out.recs))
	}
	var b strings.Builder
	if err := NewPretty(&b, PrettyOptions{}).Write(ans); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "answered in 3.2ms") {
		t.Errorf("pretty does not show the RTT:\n%s", b.String())
	}
}

func TestIQTrackerUnmatchedAnswer(t *testing.T) {
	out := &collect{}
	tr := NewIQTracker(out, 0)
	// An answer in the same direction as the request does not match it.
	req := iq(t, nil, ClientToServer, 0, "get", "x")
	same := iq(t, nil, ClientToServer, time.Millisecond, "result", "x")
	other := iq(t, nil, ServerToClient, time.Millisecond, "error", "nope")
	for _, r := range []*Record{req, same, other} {
		if err := tr.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if !same.Unmatched || !other.Unmatched || same.RTT() != 0 {
		t.Fatalf("unmatched: same-direction %v, unknown id %v", same.Unmatched, other.Unmatched)
	}
	var b strings.Builder
	NewPretty(&b, PrettyOptions{}).Write(other)
	if !strings.Contains(b.String(), "no matching request") {
		t.Errorf("pretty does not flag it:\n%s", b.String())
	}
}

func TestIQTrackerNeverAnswered(t *testing.T) {
	c1 := &ConnInfo{ID: 1}
	out := &collect{}
	tr := NewIQTracker(out, 0)
	tr.Write(iq(t, c1, ClientToServer, 0, "set", "lost"))
	tr.Write(&Record{Kind: KindConnClose, Conn: c1, Time: t0.Add(time.Second)})
	notes := out.notes()
	if len(notes) != 1 || !strings.Contains(notes[0], "iq set id 'lost' (<query xmlns='jabber:iq:roster'/>) was never answered: the connection closed") {
		t.Fatalf("notes %q", notes)
	}
	if out.recs[1].Kind != KindNote || out.recs[2].Kind != KindConnClose {
		t.Errorf("the note should come before the close")
	}
	if !out.recs[1].Unmatched || out.recs[1].Conn != c1 {
		t.Errorf("note not marked unmatched or lost its connection")
	}
	// At Close.
	out2 := &collect{}
	tr2 := NewIQTracker(out2, 0)
	tr2.Write(iq(t, c1, ServerToClient, 0, "get", "ping"))
	tr2.Close()
	if n := out2.notes(); len(n) != 1 || !strings.Contains(n[0], "the log ended") {
		t.Fatalf("notes at Close: %q", n)
	}
}

func TestIQTrackerTimeout(t *testing.T) {
	out := &collect{}
	tr := NewIQTracker(out, 10*time.Second)
	tr.Write(iq(t, nil, ClientToServer, 0, "get", "slow"))
	tr.Write(iq(t, nil, ClientToServer, 5*time.Second, "get", "fast"))
	tr.Write(iq(t, nil, ClientToServer, 11*time.Second, "get", "other"))
	if n := out.notes(); len(n) != 1 || !strings.Contains(n[0], "'slow'") || !strings.Contains(n[0], "within 10s") {
		t.Fatalf("notes %q", n)
	}
	late := iq(t, nil, ServerToClient, 12*time.Second, "result", "slow")
	tr.Write(late)
	if !late.Unmatched {
		t.Errorf("an answer after the timeout note should be unmatched")
	}
}

func TestIQTrackerPerConnection(t *testing.T) {
	c1, c2 := &ConnInfo{ID: 1}, &ConnInfo{ID: 2}
	out := &collect{}
	tr := NewIQTracker(out, 0)
	tr.Write(iq(t, c1, ClientToServer, 0, "get", "same"))
	wrong := iq(t, c2, ServerToClient, time.Millisecond, "result", "same")
	tr.Write(wrong)
	if !wrong.Unmatched {
		t.Fatal("an answer on another connection matched")
	}
	right := iq(t, c1, ServerToClient, 2*time.Millisecond, "result", "same")
	tr.Write(right)
	if right.Unmatched || right.RTT() != 2*time.Millisecond {
		t.Fatalf("right answer: unmatched %v rtt %v", right.Unmatched, right.RTT())
	}
	// Closing connection 2 says nothing about connection 1.
	tr.Write(iq(t, c1, ClientToServer, 0, "get", "open"))
	tr.Write(&Record{Kind: KindConnClose, Conn: c2})
	if n := out.notes(); len(n) != 0 {
		t.Fatalf("notes %q", n)
	}
}

func TestIQTrackerBounded(t *testing.T) {
	out := &collect{}
	tr := NewIQTracker(out, 0)
	for i := range MaxPendingIQ + 5 {
		tr.Write(iq(t, nil, ClientToServer, 0, "get", fmt.Sprint(i)))
	}
	n := out.notes()
	if len(n) != 5 || !strings.Contains(n[0], "id '0'") || !strings.Contains(n[0], "no longer tracked") {
		t.Fatalf("%d notes, first %q", len(n), n[0])
	}
	if c := tr.conns[ConnKey{}]; len(c.pending) != MaxPendingIQ || len(c.order) > 2*MaxPendingIQ+16 {
		t.Fatalf("pending %d order %d", len(c.pending), len(c.order))
	}
}

// BenchmarkIQTracker measures one request and its answer passing through the tracker.
func BenchmarkIQTracker(b *testing.B) {
	c := &ConnInfo{ID: 1}
	req := rec(b, ClientToServer, `<iq type='get' id='r1' to='example.org'><query xmlns='jabber:iq:roster'/></iq>`)
	ans := rec(b, ServerToClient, `<iq type='result' id='r1' from='example.org'/>`)
	req.Conn, ans.Conn = c, c
	req.Time, ans.Time = t0, t0.Add(time.Millisecond)
	tr := NewIQTracker(SinkFunc(func(*Record) error { return nil }), 0)
	b.ReportAllocs()
	for b.Loop() {
		if err := tr.Write(req); err != nil {
			b.Fatal(err)
		}
		if err := tr.Write(ans); err != nil {
			b.Fatal(err)
		}
	}
}

// TestIQTrackerWaiting: the count of requests waiting, which spares Write a lookup when
// it is 0, follows the ways a request stops waiting (answered, dropped past the bound,
// timed out) and ends at 0; an id used again while its first request waits counts twice
// (both are reported).
func TestIQTrackerWaiting(t *testing.T) {
	c1, c2 := &ConnInfo{ID: 1}, &ConnInfo{ID: 2}
	out := &collect{}
	tr := NewIQTracker(out, 10*time.Second)
	tr.max = 3
	step := func(r *Record, want int) {
		t.Helper()
		if err := tr.Write(r); err != nil {
			t.Fatal(err)
		}
		if tr.waiting != want {
			t.Fatalf("after %s %s: %d waiting, want %d", r.Kind, r.Raw, tr.waiting, want)
		}
	}
	step(iq(t, c1, ClientToServer, 0, "get", "a"), 1)
	step(iq(t, c1, ServerToClient, time.Second, "result", "a"), 0) // answered
	step(iq(t, c1, ClientToServer, time.Second, "get", "b"), 1)
	step(iq(t, c1, ClientToServer, time.Second, "get", "b"), 2) // the same id again
	step(iq(t, c1, ClientToServer, 2*time.Second, "set", "c"), 3)
	step(iq(t, c1, ClientToServer, 2*time.Second, "get", "d"), 4) // ids b, c, d: at the bound
	step(iq(t, c1, ClientToServer, 2*time.Second, "get", "g"), 4) // past it: the first b dropped
	step(iq(t, c2, ClientToServer, 3*time.Second, "get", "e"), 5)
	step(iq(t, c1, ServerToClient, 13*time.Second, "result", "zz"), 1) // c1's b, c, d, g timed out
	step(&Record{Kind: KindConnClose, Conn: c1, Time: t0.Add(13 * time.Second)}, 1)
	step(iq(t, c2, ServerToClient, 14*time.Second, "result", "none"), 0) // e timed out
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if tr.waiting != 0 {
		t.Fatalf("after Close: %d waiting", tr.waiting)
	}
	if n := out.notes(); len(n) != 6 {
		t.Fatalf("%d notes, want 6 (b dropped; b, c, d, g and e timed out): %q", len(n), n)
	}
}

// BenchmarkIQTrackerWhileWaiting measures a chat message passing through the tracker while
// a request of its connection waits for its answer: each record then checks its
// connection's requests for expiry (the main job at --rate max, where some request always
// waits).
func BenchmarkIQTrackerWhileWaiting(b *testing.B) {
	c := &ConnInfo{ID: 1, Node: "p1"}
	req := rec(b, ClientToServer, `<iq type='get' id='r1' to='example.org'><query xmlns='jabber:iq:roster'/></iq>`)
	msg := rec(b, ClientToServer, `<message to='a@example.org' type='chat'><body>hi</body></message>`)
	req.Conn, msg.Conn = c, c
	req.Time, msg.Time = t0, t0.Add(time.Millisecond)
	tr := NewIQTracker(SinkFunc(func(*Record) error { return nil }), 30*time.Second)
	if err := tr.Write(req); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := tr.Write(msg); err != nil {
			b.Fatal(err)
		}
	}
}
