package server

import "testing"

// TestStampFrom: the router's stamp is restamp with the from alone, byte for byte, for the
// shapes a start tag takes (no attributes, the sender's own from first, last, alone,
// whitespace before the end, an empty element, a prefixed name, double quotes).
func TestStampFrom(t *testing.T) {
	for _, raw := range []string{
		"<message><body>hi</body></message>",
		"<message to='dana@localhost' type='chat'><body>hi</body></message>",
		"<message from='spoof@localhost' to='dana@localhost'><body>x</body></message>",
		"<message to='dana@localhost' from='spoof@localhost'><body>x</body></message>",
		"<message from='spoof'/>",
		"<message to = \"dana@localhost\"   ><body>a</body></message>",
		"<message to='x' />",
		"<message/>",
		"<cl:message xmlns:cl='jabber:client' to='x'><cl:body>b</cl:body></cl:message>",
		"<message to='x'><body>a &lt;/b&gt; </body><x xmlns='y'/></message>",
		"<message to='x' from='a' from='b'/>",
		"<message to='x'>",
		"<message to='x'",
		"message",
	} {
		checkStampFrom(t, []byte(raw))
	}
}

// TestStampedRescueOwnsItsBytes: a message stamped into a session's queue and not written
// is rescued as a copy of its own, unchanged when the queue's buffer is written over by
// later deliveries.
func TestStampedRescueOwnsItsBytes(t *testing.T) {
	c := &conn{srv: &Server{cfg: Config{MaxOutbox: 1 << 20}}}
	c.ob.cond.L = &c.ob.mu
	c.ob.paused = true // no writer: what is queued stays queued
	msgs := []string{
		"<message to='dana@localhost/Home' type='chat'><body>one</body></message>",
		"<message to='dana@localhost/Home'><body>two</body></message>",
	}
	for _, m := range msgs {
		st, err := stampFrom([]byte(m), " from='jane@localhost/Home'")
		if err != nil {
			t.Fatal(err)
		}
		if !c.deliverStamped(&st) {
			t.Fatalf("%s not taken", m)
		}
	}
	c.ob.mu.Lock()
	q := c.ob.q
	data := q.data[:cap(q.data)]
	c.dropQueueLocked()
	c.ob.mu.Unlock()
	for i := range data {
		data[i] = 'X' // as the next stanzas queued in it would
	}
	lost := c.takeLost()
	if len(lost) != len(msgs) {
		t.Fatalf("%d stanzas rescued, want %d", len(lost), len(msgs))
	}
	for i, m := range msgs {
		want, _ := restamp([]byte(m), nil, []kv{{"from", "jane@localhost/Home"}}, nil)
		if string(lost[i]) != string(want) {
			t.Errorf("rescued %q, want %q", lost[i], want)
		}
	}
}

// TestRouteStateTo: the last to is reused only when it is the same, and a to that does
// not parse is not kept.
func TestRouteStateTo(t *testing.T) {
	r := &routeState{}
	for _, tc := range []struct {
		to, want string
		bad      bool
	}{
		{to: "dana@localhost", want: "dana@localhost"},
		{to: "dana@localhost", want: "dana@localhost"},
		{to: "dana@localhost/Home", want: "dana@localhost/Home"},
		{to: "Dana@LOCALHOST", want: "dana@localhost"},
		{to: "@", bad: true},
		{to: "Dana@LOCALHOST", want: "dana@localhost"},
		{to: "jane@localhost", want: "jane@localhost"},
	} {
		text := r.toText([]byte(tc.to))
		if text != tc.to {
			t.Fatalf("toText(%q) = %q", tc.to, text)
		}
		j, err := r.parseTo(text)
		if (err != nil) != tc.bad || err == nil && j.String() != tc.want {
			t.Fatalf("parseTo(%q) = %v, %v; want %q (bad %v)", tc.to, j, err, tc.want, tc.bad)
		}
	}
	var none *routeState // before the session's first message
	if got := none.toText([]byte("a@b")); got != "a@b" {
		t.Fatalf("toText before the first message = %q", got)
	}
}
