package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/switch/store"
	"github.com/stanzascope/stanzascope/switch/store/pgstore"
	"github.com/stanzascope/stanzascope/switch/store/pgtest"
)

// fakeClock is a clock for Config.Clock that tells the time it was set to.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// failOnce wraps a listener so that, while armed, the first write to any of its
// connections that contains trigger fails and closes that connection: a recipient whose
// connection dies just as the server writes to it.
type failOnce struct {
	net.Listener
	trigger []byte
	armed   atomic.Bool
}

var errInjected = errors.New("injected write failure")

func (f *failOnce) Accept() (net.Conn, error) {
	c, err := f.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &failOnceConn{Conn: c, f: f}, nil
}

type failOnceConn struct {
	net.Conn
	f *failOnce
}

func (c *failOnceConn) Write(p []byte) (int, error) {
	if bytes.Contains(p, c.f.trigger) && c.f.armed.CompareAndSwap(true, false) {
		c.Conn.Close()
		return 0, errInjected
	}
	return c.Conn.Write(p)
}

// syncWith waits until the server has handled everything c sent before (the answer to a
// ping comes after it).
func syncWith(c *rawClient, full string) {
	c.t.Helper()
	c.send("<iq id='sync' type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	c.expect("<iq id='sync' type='result' from='localhost' to='" + full + "'/>")
}

// storeForDana registers jane and dana, and has jane send dana n chat messages m0 to
// m<n-1> while dana is offline, and returns once the server has kept them.
func storeForDana(t *testing.T, addr string, n int) {
	t.Helper()
	registerRaw(t, addr, "jane", "pw")
	registerRaw(t, addr, "dana", "pw")
	jane := legacyLogin(t, addr, "jane", "pw", "Home")
	for i := range n {
		jane.send(fmt.Sprintf("<message to='dana@localhost' type='chat'><body>m%d</body></message>", i))
	}
	syncWith(jane, "jane@localhost/Home")
}

// TestOfflineDelivery pins offline delivery down with a clock the test sets: each stored
// message comes with the exact time it was received in both delay forms (XEP-0203 in UTC
// with a Z, XEP-0091 as UTC without a zone), oldest first; and a message whose write to
// the recipient fails stays stored, with the ones after it, for the next login, while one
// that was written is not delivered again, and comes at a login right after the failure.
func TestOfflineDelivery(t *testing.T) {
	clock := &fakeClock{}
	fail := &failOnce{trigger: []byte("<body>second</body>")}
	ts := startServerWrapped(t, func(c *Config) { c.Clock = clock.Now }, func(ln net.Listener) net.Listener {
		fail.Listener = ln
		return fail
	})
	registerRaw(t, ts.addr, "jane", "pw")
	registerRaw(t, ts.addr, "dana", "pw")
	jane := legacyLogin(t, ts.addr, "jane", "pw", "Home")

	plus2 := time.FixedZone("UTC+2", 2*3600)
	msgs := []struct {
		at           time.Time
		body         string
		stamp, xdate string
	}{
		{time.Date(2003, 2, 8, 22, 47, 44, 0, plus2), "first", "2003-02-08T20:47:44Z", "20030208T20:47:44"},
		// A zone that moves the day (and a leap day) in UTC.
		{time.Date(2004, 2, 29, 1, 2, 3, 0, plus2), "second", "2004-02-28T23:02:03Z", "20040228T23:02:03"},
		{time.Date(2024, 12, 31, 23, 59, 59, 999_000_000, time.UTC), "third", "2024-12-31T23:59:59Z", "20241231T23:59:59"},
	}
	for _, m := range msgs {
		clock.Set(m.at)
		jane.send("<message id='" + m.body + "' to='dana@localhost' type='chat'><body>" + m.body + "</body></message>")
		syncWith(jane, "jane@localhost/Home")
	}
	clock.Set(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)) // delivery time must not show
	want := func(i int) string {
		m := msgs[i]
		return "<message id='" + m.body + "' to='dana@localhost' type='chat' from='jane@localhost/Home'><body>" + m.body + "</body>" +
			"<delay xmlns='urn:xmpp:delay' from='localhost' stamp='" + m.stamp + "'/>" +
			"<x xmlns='jabber:x:delay' from='localhost' stamp='" + m.xdate + "'/></message>"
	}

	// The first login: the write of the second message fails and ends the connection. The
	// writer may have gathered the first into the same write: then it failed too.
	fail.armed.Store(true)
	dana := legacyLogin(t, ts.addr, "dana", "pw", "Home")
	dana.send("<presence/>")
	next := 0
	if s, err := dana.tryStanza(5 * time.Second); err == nil {
		if s != want(0) {
			t.Fatalf("expected the first stored message or the end of the stream, got %q", s)
		}
		next = 1
	}
	dana.expectEOF()
	if fail.armed.Load() {
		t.Fatal("no write of the second message was attempted")
	}
	// The next login, at once, gets the rest, oldest first, and nothing more: if the
	// failed session still holds its claim on them, they come when it releases it.
	dana = legacyLogin(t, ts.addr, "dana", "pw", "Home")
	dana.send("<presence/>")
	for i := next; i < len(msgs); i++ {
		dana.expect(want(i))
	}
	syncWith(dana, "dana@localhost/Home")
	if left, err := ts.srv.store.TakeOffline(context.Background(), "dana"); err != nil || len(left) != 0 {
		t.Errorf("left in the store: %d messages, %v", len(left), err)
	}
}

// TestPresenceProbes: a client's probe of a contact is answered with the contact's current
// presence, stamped with when it was sent, only if the client is subscribed to it.
func TestPresenceProbes(t *testing.T) {
	clock := &fakeClock{}
	clock.Set(time.Date(2010, 6, 1, 12, 0, 0, 0, time.UTC))
	ts := startServer(t, func(c *Config) { c.Clock = clock.Now })
	for _, u := range []string{"jane", "dana", "mallory"} {
		registerRaw(t, ts.addr, u, "pw")
	}
	jane := legacyLogin(t, ts.addr, "jane", "pw", "Home")
	dana := legacyLogin(t, ts.addr, "dana", "pw", "Home")
	mallory := legacyLogin(t, ts.addr, "mallory", "pw", "Home")
	dana.send("<presence><status>here</status></presence>")
	syncWith(dana, "dana@localhost/Home")
	mallory.send("<presence/>")
	syncWith(mallory, "mallory@localhost/Home")
	jane.send("<presence/>")
	syncWith(jane, "jane@localhost/Home")

	// jane subscribes to dana; dana approves, and jane gets dana's presence.
	jane.send("<presence to='dana@localhost' type='subscribe'/>")
	dana.expect("<presence from='jane@localhost' to='dana@localhost' type='subscribe'/>")
	dana.send("<presence to='jane@localhost' type='subscribed'/>")
	jane.expect("<presence from='dana@localhost' to='jane@localhost' type='subscribed'/>")
	jane.expect("<presence from='dana@localhost/Home' to='jane@localhost/Home'><status>here</status></presence>")

	// dana changes her presence later; a probe gets the current one, with its time.
	clock.Set(time.Date(2010, 6, 1, 12, 34, 56, 0, time.UTC))
	dana.send("<presence><status>busy</status></presence>")
	jane.expect("<presence from='dana@localhost/Home' to='jane@localhost'><status>busy</status></presence>")
	clock.Set(time.Date(2011, 1, 1, 0, 0, 0, 0, time.UTC))
	jane.send("<presence type='probe' to='dana@localhost'/>")
	jane.expect("<presence from='dana@localhost/Home' to='jane@localhost/Home'><status>busy</status>" +
		"<delay xmlns='urn:xmpp:delay' from='dana@localhost/Home' stamp='2010-06-01T12:34:56Z'/>" +
		"<x xmlns='jabber:x:delay' from='dana@localhost/Home' stamp='20100601T12:34:56'/></presence>")

	// mallory has no subscription: its probe gets nothing (the answer to a ping it sends
	// next is the next thing it reads).
	mallory.send("<presence type='probe' to='dana@localhost'/>")
	syncWith(mallory, "mallory@localhost/Home")
	// Nor does dana, who is not subscribed to jane (jane only got dana's approval).
	dana.send("<presence type='probe' to='jane@localhost'/>")
	syncWith(dana, "dana@localhost/Home")
}

// settleLog is a store whose offline claims note each settle call, as the server makes
// them, before passing it on.
type settleLog struct {
	store.Store
	mu    sync.Mutex
	calls []string
}

func (s *settleLog) ClaimOffline(ctx context.Context, user string) ([]store.OfflineMessage, store.SettleFunc, error) {
	msgs, settle, err := s.Store.ClaimOffline(ctx, user)
	if err != nil {
		return msgs, settle, err
	}
	return msgs, func(ctx context.Context, n int, final bool) error {
		s.mu.Lock()
		s.calls = append(s.calls, fmt.Sprintf("%d/%d %v", n, len(msgs), final))
		s.mu.Unlock()
		return settle(ctx, n, final)
	}, nil
}

// TestOfflineConfirmedPerChunk: stored messages are confirmed to the store one chunk at
// a time as they are written, not once at the end, so that a crash in the middle of a
// delivery repeats at most one chunk (TestStressKill9 kills the process).
func TestOfflineConfirmedPerChunk(t *testing.T) {
	st := &settleLog{Store: store.NewMemory()}
	ts := startServer(t, func(c *Config) { c.Store = st })
	const n = 2*offlineChunk + 8
	storeForDana(t, ts.addr, n)
	st.mu.Lock()
	st.calls = nil // jane's own login
	st.mu.Unlock()

	dana := legacyLogin(t, ts.addr, "dana", "pw", "Home")
	dana.send("<presence/>")
	for i := range n {
		s := dana.readStanza()
		if !strings.Contains(s, fmt.Sprintf("<body>m%d</body>", i)) {
			t.Fatalf("stored message %d: got %q", i, s)
		}
	}
	syncWith(dana, "dana@localhost/Home")
	st.mu.Lock()
	defer st.mu.Unlock()
	want := []string{
		fmt.Sprintf("%d/%d false", offlineChunk, n),
		fmt.Sprintf("%d/%d false", 2*offlineChunk, n),
		fmt.Sprintf("%d/%d true", n, n),
	}
	if !slices.Equal(st.calls, want) {
		t.Errorf("settle calls %q, want %q", st.calls, want)
	}
}

// holdWrites wraps a listener so that, once armed, a write to any of its connections
// that contains trigger blocks until the test opens the gate (or the connection is
// closed): a client that stops reading in the middle of an offline delivery, however
// long the server's socket buffers are. With fail, only the first such write is held, and
// when the gate opens it fails and its connection is closed, as when the client's TCP
// connection is reset: a client that stopped reading and then vanished.
type holdWrites struct {
	net.Listener
	trigger []byte
	fail    bool
	armed   atomic.Bool
	held    chan struct{} // closed when a write is held
	gate    chan struct{} // closed by the test to let writes go on (or fail)
	once    sync.Once
}

func (h *holdWrites) Accept() (net.Conn, error) {
	c, err := h.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &holdConn{Conn: c, h: h, closed: make(chan struct{})}, nil
}

// holds reports whether the write of p is held.
func (h *holdWrites) holds(p []byte) bool {
	if !bytes.Contains(p, h.trigger) {
		return false
	}
	if h.fail {
		return h.armed.CompareAndSwap(true, false) // later writes (another session's) go
	}
	return h.armed.Load()
}

type holdConn struct {
	net.Conn
	h         *holdWrites
	closed    chan struct{}
	closeOnce sync.Once
}

func (c *holdConn) Write(p []byte) (int, error) {
	if c.h.holds(p) {
		c.h.once.Do(func() { close(c.h.held) })
		select {
		case <-c.h.gate:
		case <-c.closed:
			return 0, net.ErrClosed
		}
		if c.h.fail {
			c.Close()
			return 0, errInjected
		}
	}
	return c.Conn.Write(p)
}

func (c *holdConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.Conn.Close()
}

// heldDelivery starts a server on db, stores n messages for dana and logs her in as
// dana@localhost/Home; her delivery's write of message 3 is then held (holdWrites, with
// fail), until release, which the test's end also calls before the server stops.
func heldDelivery(t *testing.T, db store.Store, n int, fail bool) (ts *testServer, dana *rawClient, release func()) {
	t.Helper()
	hold := &holdWrites{trigger: []byte("<body>m3</body>"), fail: fail, held: make(chan struct{}), gate: make(chan struct{})}
	ts = startServerWrapped(t, func(c *Config) { c.Store = db }, func(ln net.Listener) net.Listener {
		hold.Listener = ln
		return hold
	})
	var once sync.Once
	release = func() { once.Do(func() { close(hold.gate) }) }
	t.Cleanup(release) // before the server stops (cleanups run last first): its writer may be held
	storeForDana(t, ts.addr, n)

	dana = legacyLogin(t, ts.addr, "dana", "pw", "Home")
	hold.armed.Store(true)
	dana.send("<presence/>")
	select {
	case <-hold.held:
	case <-time.After(30 * time.Second):
		t.Fatal("the delivery never reached message 3")
	}
	return ts, dana, release
}

// TestOfflineClaimRenewed: a delivery of offline messages that takes longer than the
// store's claim lease (here a client that stops reading in the middle, for two leases)
// keeps its claim by renewing it: no other delivery (another session of the user, another
// node) claims the messages meanwhile, so none is delivered twice; when the client reads
// again it gets every message once, and the store is empty after. On each store.
func TestOfflineClaimRenewed(t *testing.T) {
	const lease = time.Second // renewed about every 333 ms: only a stall of most of a second loses it
	t.Run("memory", func(t *testing.T) {
		testOfflineClaimRenewed(t, store.NewMemory(store.WithClaimLease(lease)))
	})
	t.Run("bolt", func(t *testing.T) {
		db, err := store.OpenBolt(filepath.Join(t.TempDir(), "switch.db"), store.WithClaimLease(lease))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() }) // after the server stopped
		testOfflineClaimRenewed(t, db)
	})
	t.Run("postgres", func(t *testing.T) {
		db, err := pgstore.Open(context.Background(), pgtest.Database(t), store.WithClaimLease(lease))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		testOfflineClaimRenewed(t, db)
	})
}

func testOfflineClaimRenewed(t *testing.T, db store.Store) {
	lease := db.ClaimLease()
	st := &settleLog{Store: db}
	const n = offlineChunk + 8
	ts, dana, openGate := heldDelivery(t, st, n, false)
	// Two leases while the write of m3 is held: the claim is renewed, so another
	// delivery's claim finds nothing.
	for start := time.Now(); time.Since(start) < 2*lease; time.Sleep(20 * time.Millisecond) {
		msgs, settle, err := st.Store.ClaimOffline(context.Background(), "dana")
		if err != nil {
			t.Fatal(err)
		}
		settle(context.Background(), 0, true)
		if len(msgs) != 0 {
			t.Fatalf("after %v of a held delivery (lease %v), another claim got %d of its messages", time.Since(start), lease, len(msgs))
		}
	}
	st.mu.Lock()
	calls := slices.Clone(st.calls)
	st.mu.Unlock()
	if slices.ContainsFunc(calls, func(c string) bool { return strings.HasSuffix(c, " true") }) {
		t.Fatalf("the delivery ended while its write was held: settle calls %v", calls)
	}
	openGate()
	for i := range n {
		s := dana.readStanza()
		if !strings.Contains(s, fmt.Sprintf("<body>m%d</body>", i)) {
			t.Fatalf("stored message %d: got %q", i, s)
		}
	}
	syncWith(dana, "dana@localhost/Home")
	// A second session finds nothing left to deliver.
	dana2 := legacyLogin(t, ts.addr, "dana", "pw", "Work")
	dana2.send("<presence/>")
	dana2.send("<iq id='sync' type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	for i := 0; ; i++ {
		s := dana2.readStanza()
		if strings.Contains(s, "<message") {
			t.Fatalf("a second session got a delivered message again: %q", s)
		}
		if strings.Contains(s, "id='sync'") {
			break
		}
		if i == 10 {
			t.Fatalf("no answer to the sync ping in 10 stanzas (last %q)", s)
		}
	}
	if msgs, err := st.TakeOffline(context.Background(), "dana"); err != nil || len(msgs) != 0 {
		t.Fatalf("after the delivery: %d messages stored, %v", len(msgs), err)
	}
}

// lostClaims is a store whose offline claims are lost as soon as a delivery confirms
// its first chunk: every settle that is not final does its work, then says ErrClaimLost,
// as when the lease ran out and another delivery took the rest.
type lostClaims struct{ store.Store }

func (s lostClaims) ClaimOffline(ctx context.Context, user string) ([]store.OfflineMessage, store.SettleFunc, error) {
	msgs, settle, err := s.Store.ClaimOffline(ctx, user)
	if err != nil {
		return msgs, settle, err
	}
	return msgs, func(ctx context.Context, n int, final bool) error {
		err := settle(ctx, n, final)
		if err == nil && !final {
			err = fmt.Errorf("test: %w", store.ErrClaimLost)
		}
		return err
	}, nil
}

// TestOfflineClaimLostStops: a delivery whose claim was lost (its renewal says so) writes
// nothing more of it: the chunk it confirmed was delivered, the rest stays stored for a
// later delivery, and the session goes on.
func TestOfflineClaimLostStops(t *testing.T) {
	logs := &logBuffer{}
	ts := startServer(t, func(c *Config) { c.Store = lostClaims{store.NewMemory()}; c.Logf = logs.logf })
	const n = offlineChunk + 8
	storeForDana(t, ts.addr, n)

	dana := legacyLogin(t, ts.addr, "dana", "pw", "Home")
	dana.send("<presence/>")
	for i := range offlineChunk {
		if s := dana.readStanza(); !strings.Contains(s, fmt.Sprintf("<body>m%d</body>", i)) {
			t.Fatalf("stored message %d: got %q", i, s)
		}
	}
	// Nothing more comes: the answer to the ping is next, and the session still works.
	syncWith(dana, "dana@localhost/Home")
	if len(logs.matching("delivery stopped")) == 0 {
		t.Errorf("the log does not say the delivery stopped: %q", logs.matching(""))
	}
	dana.send("</stream:stream>")
	// The next delivery gets the rest, once.
	dana2 := legacyLogin(t, ts.addr, "dana", "pw", "Work")
	dana2.send("<presence/>")
	for i, skipped := offlineChunk, 0; i < n; {
		s := dana2.readStanza()
		if strings.HasPrefix(s, "<presence") && skipped < 4 {
			skipped++ // the first session's presence, while it ends
			continue
		}
		if !strings.Contains(s, fmt.Sprintf("<body>m%d</body>", i)) {
			t.Fatalf("stored message %d at the next login: got %q", i, s)
		}
		i++
	}
}
