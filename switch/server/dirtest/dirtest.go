// Package dirtest is the conformance suite of server.Directory: every directory the switch
// can be given (the local map, a directory shared by several nodes) runs it, so the server
// can rely on the same behaviour from each. Run it from a test:
//
//	func TestDirectory(t *testing.T) {
//		dirtest.Run(t, func(t *testing.T) server.Directory { return server.NewLocalDirectory() })
//	}
//
// The sessions it binds are Sessions of this package: they record what is delivered to
// them and how they were kicked, and deliver nothing anywhere.
package dirtest

import (
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/switch/server"
)

// Session is a server.Session that records what reaches it.
type Session struct {
	jid inspect.JID

	mu        sync.Mutex
	delivered [][]byte
	kicked    inspect.Cond
	presence  server.PresenceState
}

// NewSession returns a session of the full JID full (it panics on a JID that does not
// parse: the suite's own JIDs).
func NewSession(full string) *Session {
	j, err := inspect.ParseJID(full)
	if err != nil {
		panic(fmt.Sprintf("dirtest: %q: %v", full, err))
	}
	return &Session{jid: j}
}

// JID returns the session's full JID.
func (s *Session) JID() inspect.JID { return s.jid }

// Deliver records the stanza and accepts it, unless the session was kicked.
func (s *Session) Deliver(stanza []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kicked != "" {
		return false
	}
	s.delivered = append(s.delivered, stanza)
	return true
}

// Presence returns what SetPresence set.
func (s *Session) Presence() server.PresenceState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.presence
}

// SetPresence sets what Presence returns.
func (s *Session) SetPresence(p server.PresenceState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.presence = p
}

// Kick records the condition; later deliveries are refused.
func (s *Session) Kick(cond inspect.Cond, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kicked = cond
}

// Delivered returns what was delivered, in order.
func (s *Session) Delivered() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.delivered)
}

// Run runs every test of the suite on fresh directories made by newDir.
func Run(t *testing.T, newDir func(t *testing.T) server.Directory) {
	tests := []struct {
		name string
		fn   func(t *testing.T, d server.Directory)
	}{
		{"Empty", testEmpty},
		{"BindLookup", testBindLookup},
		{"Replace", testReplace},
		{"Unbind", testUnbind},
		{"Resources", testResources},
		{"Snapshots", testSnapshots},
		{"Distinct", testDistinct},
		{"ConcurrentAccounts", testConcurrentAccounts},
		{"ConcurrentReplace", testConcurrentReplace},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newDir(t)) })
	}
}

func jid(t *testing.T, s string) inspect.JID {
	t.Helper()
	j, err := inspect.ParseJID(s)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// sameSet reports whether got holds exactly the sessions of want, in any order.
func sameSet(got []server.Session, want ...server.Session) bool {
	if len(got) != len(want) {
		return false
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			return false
		}
	}
	return true
}

func testEmpty(t *testing.T, d server.Directory) {
	if s := d.Lookup(jid(t, "romeo@example.net/orchard")); s != nil {
		t.Errorf("Lookup in an empty directory = %v, want a nil interface", s)
	}
	if got := d.Resources(nil, jid(t, "romeo@example.net")); len(got) != 0 {
		t.Errorf("Resources in an empty directory = %v", got)
	}
	if n := d.Len(); n != 0 {
		t.Errorf("Len of an empty directory = %d", n)
	}
	d.Unbind(NewSession("romeo@example.net/orchard")) // never bound: nothing happens
}

func testBindLookup(t *testing.T, d server.Directory) {
	r := NewSession("romeo@example.net/orchard")
	if old := d.Bind(r); old != nil {
		t.Fatalf("first Bind replaced %v", old)
	}
	if got := d.Lookup(jid(t, "romeo@example.net/orchard")); got != server.Session(r) {
		t.Fatalf("Lookup = %v, want the session bound", got)
	}
	if got := d.Lookup(jid(t, "romeo@example.net/balcony")); got != nil {
		t.Errorf("Lookup of another resource = %v", got)
	}
	if got := d.Lookup(jid(t, "romeo@example.net")); got != nil {
		t.Errorf("Lookup of the bare JID = %v, want nil (only full JIDs are bound)", got)
	}
	if got := d.Resources(nil, jid(t, "romeo@example.net")); !sameSet(got, r) {
		t.Errorf("Resources = %v", got)
	}
	if n := d.Len(); n != 1 {
		t.Errorf("Len = %d, want 1", n)
	}
	// What is found is the session itself: delivering through it reaches it.
	if !d.Lookup(r.JID()).Deliver([]byte("<message/>")) || len(r.Delivered()) != 1 {
		t.Error("a delivery through the session found did not reach it")
	}
}

func testReplace(t *testing.T, d server.Directory) {
	old := NewSession("juliet@example.com/balcony")
	d.Bind(old)
	nu := NewSession("juliet@example.com/balcony")
	if got := d.Bind(nu); got != server.Session(old) {
		t.Fatalf("Bind of a taken JID returned %v, want the old session", got)
	}
	if got := d.Lookup(nu.JID()); got != server.Session(nu) {
		t.Errorf("Lookup after the replacement = %v, want the new session", got)
	}
	if got := d.Resources(nil, jid(t, "juliet@example.com")); !sameSet(got, nu) {
		t.Errorf("Resources after the replacement = %v, want the new session once", got)
	}
	if n := d.Len(); n != 1 {
		t.Errorf("Len = %d, want 1", n)
	}
	// The old session ending later must not take the new one with it.
	d.Unbind(old)
	if got := d.Lookup(nu.JID()); got != server.Session(nu) {
		t.Errorf("Unbind of the replaced session removed the new one: Lookup = %v", got)
	}
	// Binding the same session again replaces itself.
	if got := d.Bind(nu); got != server.Session(nu) {
		t.Errorf("Bind of the bound session again returned %v, want itself", got)
	}
	if got := d.Resources(nil, jid(t, "juliet@example.com")); !sameSet(got, nu) {
		t.Errorf("Resources after binding again = %v", got)
	}
}

func testUnbind(t *testing.T, d server.Directory) {
	a := NewSession("juliet@example.com/balcony")
	b := NewSession("juliet@example.com/chamber")
	d.Bind(a)
	d.Bind(b)
	d.Unbind(a)
	if got := d.Lookup(a.JID()); got != nil {
		t.Errorf("Lookup after Unbind = %v", got)
	}
	if got := d.Resources(nil, jid(t, "juliet@example.com")); !sameSet(got, b) {
		t.Errorf("Resources after Unbind = %v, want the other resource", got)
	}
	d.Unbind(a) // twice: nothing happens
	d.Unbind(b)
	if n := d.Len(); n != 0 {
		t.Errorf("Len after unbinding all = %d", n)
	}
	if got := d.Resources(nil, jid(t, "juliet@example.com")); len(got) != 0 {
		t.Errorf("Resources after unbinding all = %v", got)
	}
	// Bound again after it left.
	d.Bind(a)
	if got := d.Lookup(a.JID()); got != server.Session(a) {
		t.Errorf("Lookup after binding again = %v", got)
	}
}

func testResources(t *testing.T, d server.Directory) {
	var juliet []server.Session
	for _, r := range []string{"balcony", "chamber", "garden"} {
		s := NewSession("juliet@example.com/" + r)
		d.Bind(s)
		juliet = append(juliet, s)
	}
	romeo := NewSession("romeo@example.net/orchard")
	d.Bind(romeo)
	if got := d.Resources(nil, jid(t, "juliet@example.com")); !sameSet(got, juliet...) {
		t.Errorf("Resources(juliet) = %v", got)
	}
	// A full JID stands for its account.
	if got := d.Resources(nil, jid(t, "juliet@example.com/anything")); !sameSet(got, juliet...) {
		t.Errorf("Resources(juliet's full JID) = %v", got)
	}
	if got := d.Resources(nil, jid(t, "juliet@example.net")); len(got) != 0 {
		t.Errorf("Resources of the same name on another domain = %v", got)
	}
	// Resources appends: what dst held stays in front.
	dst := make([]server.Session, 1, 8)
	dst[0] = romeo
	got := d.Resources(dst, jid(t, "juliet@example.com"))
	if len(got) != 4 || got[0] != server.Session(romeo) || !sameSet(got[1:], juliet...) {
		t.Errorf("Resources appended to a slice holding romeo = %v", got)
	}
	if n := d.Len(); n != 4 {
		t.Errorf("Len = %d, want 4", n)
	}
}

func testSnapshots(t *testing.T, d server.Directory) {
	a := NewSession("juliet@example.com/balcony")
	b := NewSession("juliet@example.com/chamber")
	d.Bind(a)
	d.Bind(b)
	bare := jid(t, "juliet@example.com")
	got := d.Resources(nil, bare)
	// The caller's slice is the caller's: changing it changes nothing in the directory.
	got[0], got[1] = nil, nil
	if again := d.Resources(nil, bare); !sameSet(again, a, b) {
		t.Fatalf("changing a returned slice changed the directory: %v", again)
	}
	// Later changes do not show in a slice returned before.
	before := d.Resources(nil, bare)
	d.Bind(NewSession("juliet@example.com/garden"))
	d.Unbind(a)
	if !sameSet(before, a, b) {
		t.Errorf("a slice returned before changed with later binds: %v", before)
	}
	// A session found stays usable after it left the directory.
	found := d.Lookup(b.JID())
	d.Unbind(b)
	if found != server.Session(b) || found.JID() != b.JID() {
		t.Errorf("a session found changed after it was unbound: %v", found)
	}
}

func testDistinct(t *testing.T, d server.Directory) {
	// JIDs are compared as parsed (inspect.ParseJID normalises them): these are four
	// sessions, and the same JID written differently is one.
	for _, j := range []string{"romeo@example.net/orchard", "romeo@example.net/Orchard", "romeo@example.org/orchard", "juliet@example.net/orchard"} {
		if old := d.Bind(NewSession(j)); old != nil {
			t.Errorf("Bind(%s) replaced %v", j, old)
		}
	}
	if n := d.Len(); n != 4 {
		t.Errorf("Len = %d, want 4", n)
	}
	if old := d.Bind(NewSession("Romeo@Example.NET/orchard")); old == nil || old.JID() != jid(t, "romeo@example.net/orchard") {
		t.Errorf("the same JID written in capitals did not replace the session: %v", old)
	}
}

func testConcurrentAccounts(t *testing.T, d server.Directory) {
	const accounts, resources = 20, 5
	var wg sync.WaitGroup
	for a := range accounts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bare := jid(t, fmt.Sprintf("user%d@example.com", a))
			var mine []*Session
			for r := range resources {
				s := NewSession(fmt.Sprintf("user%d@example.com/r%d", a, r))
				d.Bind(s)
				mine = append(mine, s)
				if got := d.Lookup(s.JID()); got != server.Session(s) {
					t.Errorf("Lookup right after Bind = %v", got)
				}
				if got := d.Resources(nil, bare); len(got) != r+1 {
					t.Errorf("%s: %d resources after %d binds", bare, len(got), r+1)
				}
			}
			// Half of them leave again.
			for _, s := range mine[:resources/2] {
				d.Unbind(s)
			}
		}()
	}
	wg.Wait()
	want := accounts * (resources - resources/2)
	if n := d.Len(); n != want {
		t.Errorf("Len = %d, want %d", n, want)
	}
	for a := range accounts {
		if got := d.Resources(nil, jid(t, fmt.Sprintf("user%d@example.com", a))); len(got) != resources-resources/2 {
			t.Errorf("user%d: %d resources, want %d", a, len(got), resources-resources/2)
		}
	}
}

func testConcurrentReplace(t *testing.T, d server.Directory) {
	// Many sessions race for one JID; each Bind replaces the one before it, so the
	// sessions replaced plus the one left bound are all of them, each once.
	const n = 50
	sessions := make([]*Session, n)
	replaced := make([]server.Session, n)
	var wg sync.WaitGroup
	for i := range n {
		sessions[i] = NewSession("juliet@example.com/balcony")
		wg.Add(1)
		go func() {
			defer wg.Done()
			replaced[i] = d.Bind(sessions[i])
		}()
	}
	wg.Wait()
	winner := d.Lookup(jid(t, "juliet@example.com/balcony"))
	if winner == nil {
		t.Fatal("no session bound")
	}
	seen := map[server.Session]int{winner: 1}
	nils := 0
	for _, r := range replaced {
		if r == nil {
			nils++
			continue
		}
		seen[r]++
	}
	if nils != 1 {
		t.Errorf("%d binds replaced nothing, want exactly 1 (the first)", nils)
	}
	for _, s := range sessions {
		if seen[server.Session(s)] != 1 {
			t.Errorf("a session was replaced or left bound %d times, want once", seen[server.Session(s)])
		}
	}
	if got := d.Resources(nil, jid(t, "juliet@example.com")); !sameSet(got, winner) {
		t.Errorf("Resources = %v, want the winner once", got)
	}
	if n := d.Len(); n != 1 {
		t.Errorf("Len = %d, want 1", n)
	}
}
