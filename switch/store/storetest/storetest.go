// Package storetest is the conformance suite every store.Store passes: Memory and Bolt in
// switch/store, PostgreSQL in switch/store/pgstore. A store package runs it from its tests
// with Run; the helpers build the sample data the suite uses, for the stores' own tests.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/switch/store"
)

// Opener makes a fresh, empty store with the given options for one subtest; the suite
// closes it.
type Opener func(t *testing.T, opts ...store.Option) store.Store

// Run runs the conformance suite against the stores open makes.
func Run(t *testing.T, open Opener) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Accounts", testAccounts},
		{"AccountAliasing", testAccountAliasing},
		{"DeleteCascade", testDeleteCascade},
		{"Roster", testRoster},
		{"RosterAliasing", testRosterAliasing},
		{"Text", testText},
		{"Offline", testOffline},
		{"OfflineClaim", testOfflineClaim},
		{"ConcurrentClaim", func(t *testing.T, s store.Store) { ConcurrentClaim(t, s, s) }},
		{"WaitOffline", func(t *testing.T, s store.Store) { WaitRelease(t, s, s, nil) }},
		{"UpdateRoster", testUpdateRoster},
		{"UpdateRosterErrors", testUpdateRosterErrors},
		{"Concurrent", testConcurrent},
		{"ConcurrentSubscriptions", testConcurrentSubscriptions},
		{"ConcurrentTake", func(t *testing.T, s store.Store) { ConcurrentTake(t, s, s) }},
		{"Context", testContext},
		{"Closed", testClosed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			defer s.Close()
			tc.fn(t, s)
		})
	}
	t.Run("ClaimLease", func(t *testing.T) {
		s := open(t, store.WithClaimLease(200*time.Millisecond))
		defer s.Close()
		testClaimLease(t, s)
	})
	t.Run("WaitLease", func(t *testing.T) {
		s := open(t, store.WithClaimLease(200*time.Millisecond))
		defer s.Close()
		testWaitLease(t, s)
	})
	t.Run("ClaimConfirm", func(t *testing.T) {
		s := open(t, store.WithClaimLease(200*time.Millisecond))
		defer s.Close()
		testClaimConfirm(t, s)
	})
	t.Run("ClaimRenew", func(t *testing.T) {
		s := open(t, store.WithClaimLease(time.Second))
		defer s.Close()
		ClaimRenew(t, s, s)
	})
	t.Run("ClaimLost", func(t *testing.T) {
		s := open(t, store.WithClaimLease(200*time.Millisecond))
		defer s.Close()
		testClaimLost(t, s)
	})
	t.Run("Limits", func(t *testing.T) {
		s := open(t, store.WithLimits(store.Limits{Offline: 3, RosterItems: 2}))
		defer s.Close()
		testLimits(t, s)
	})
}

var bg = context.Background()

// SampleAccount returns an account named name with fixed keys, name, e-mail and a creation
// time that has nanoseconds (stores keep microseconds).
func SampleAccount(name string) store.Account {
	return store.Account{
		Username: name,
		Creds: store.Credentials{
			Salt:       []byte("0123456789abcdef"),
			Iterations: 4096,
			SHA1:       store.Keys{StoredKey: bytes.Repeat([]byte{1}, 20), ServerKey: bytes.Repeat([]byte{2}, 20)},
			SHA256:     store.Keys{StoredKey: bytes.Repeat([]byte{3}, 32), ServerKey: bytes.Repeat([]byte{4}, 32)},
		},
		Name:    "Juliet Capulet",
		Email:   "juliet@example.com",
		Created: time.Date(2026, 11, 25, 17, 0, 0, 123456789, time.UTC),
	}
}

// MustCreate stores SampleAccount(name) in s, failing the test if it cannot.
func MustCreate(t testing.TB, s store.Store, name string) store.Account {
	t.Helper()
	a := SampleAccount(name)
	if err := s.CreateAccount(bg, a); err != nil {
		t.Fatalf("CreateAccount(%q): %v", name, err)
	}
	return a
}

// EqualAccount reports whether two accounts are equal, comparing creation times to the
// microsecond, as stores keep them.
func EqualAccount(a, b store.Account) bool {
	ta, tb := a.Created.Truncate(time.Microsecond), b.Created.Truncate(time.Microsecond)
	a.Created, b.Created = time.Time{}, time.Time{}
	return ta.Equal(tb) && reflect.DeepEqual(a, b)
}

func testAccounts(t *testing.T, s store.Store) {
	a := MustCreate(t, s, "juliet")
	if err := s.CreateAccount(bg, SampleAccount("juliet")); !errors.Is(err, store.ErrExists) {
		t.Errorf("duplicate CreateAccount: %v, want ErrExists", err)
	}
	got, err := s.Account(bg, "juliet")
	if err != nil || !EqualAccount(got, a) {
		t.Fatalf("Account = %+v, %v; want %+v", got, err, a)
	}
	if _, err := s.Account(bg, "romeo"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Account(unknown): %v, want ErrNotFound", err)
	}
	if err := s.CreateAccount(bg, store.Account{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("CreateAccount(empty name): %v, want ErrInvalid", err)
	}
	// A zero creation time is filled in.
	if err := s.CreateAccount(bg, store.Account{Username: "nurse"}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Account(bg, "nurse"); err != nil || n.Created.IsZero() {
		t.Errorf("Created not set: %v, %v", n.Created, err)
	}

	c := a.Creds
	c.Salt = []byte("another salt....")
	c.Iterations = 10000
	if err := s.SetCredentials(bg, "juliet", c); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Account(bg, "juliet")
	if !reflect.DeepEqual(got.Creds, c) || got.Name != a.Name {
		t.Errorf("after SetCredentials: %+v", got)
	}
	if err := s.SetCredentials(bg, "romeo", c); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetCredentials(unknown): %v", err)
	}
	if err := s.DeleteAccount(bg, "romeo"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteAccount(unknown): %v", err)
	}
}

func testAccountAliasing(t *testing.T, s store.Store) {
	a := SampleAccount("juliet")
	if err := s.CreateAccount(bg, a); err != nil {
		t.Fatal(err)
	}
	a.Creds.Salt[0] = 'X' // the caller reuses its buffer
	a.Creds.SHA256.StoredKey[0] = 99
	got, _ := s.Account(bg, "juliet")
	if !EqualAccount(got, SampleAccount("juliet")) {
		t.Fatal("store aliased the caller's slices")
	}
	got.Creds.SHA1.ServerKey[0] = 99 // the caller scribbles on what it got
	again, _ := s.Account(bg, "juliet")
	if !EqualAccount(again, SampleAccount("juliet")) {
		t.Fatal("store handed out its own slices")
	}
}

// SampleItem returns a roster item for jid with every field set.
func SampleItem(jid string) store.RosterItem {
	return store.RosterItem{
		JID:           jid,
		Name:          "R",
		Groups:        []string{"Friends", "Verona"},
		Subscription:  store.SubFrom,
		AskOut:        true,
		PendingIn:     true,
		PendingStanza: []byte("<presence type='subscribe'/>"),
	}
}

func testRoster(t *testing.T, s store.Store) {
	MustCreate(t, s, "juliet")
	if r, err := s.Roster(bg, "juliet"); err != nil || len(r) != 0 {
		t.Fatalf("empty roster = %v, %v", r, err)
	}
	if r, err := s.Roster(bg, "nobody"); err != nil || len(r) != 0 {
		t.Fatalf("roster of unknown user = %v, %v", r, err)
	}
	for _, j := range []string{"romeo@example.net", "benvolio@example.net", "nurse@example.com"} {
		if err := s.PutRosterItem(bg, "juliet", SampleItem(j)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := s.Roster(bg, "juliet")
	if err != nil || len(r) != 3 {
		t.Fatalf("Roster = %v, %v", r, err)
	}
	want := []string{"benvolio@example.net", "nurse@example.com", "romeo@example.net"}
	for i, it := range r {
		if it.JID != want[i] || !reflect.DeepEqual(it, SampleItem(want[i])) {
			t.Errorf("item %d = %+v", i, it)
		}
	}
	// Replace: state changes, groups removed.
	up := store.RosterItem{JID: "romeo@example.net", Subscription: store.SubBoth}
	if err := s.PutRosterItem(bg, "juliet", up); err != nil {
		t.Fatal(err)
	}
	got, err := s.RosterItem(bg, "juliet", "romeo@example.net")
	if err != nil || got.Subscription != store.SubBoth || len(got.Groups) != 0 || got.AskOut || got.PendingStanza != nil {
		t.Errorf("after replace: %+v, %v", got, err)
	}
	// Default subscription.
	if err := s.PutRosterItem(bg, "juliet", store.RosterItem{JID: "tybalt@example.net"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.RosterItem(bg, "juliet", "tybalt@example.net"); got.Subscription != store.SubNone {
		t.Errorf("default subscription = %q", got.Subscription)
	}
	if _, err := s.RosterItem(bg, "juliet", "mercutio@example.net"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RosterItem(missing): %v", err)
	}
	if err := s.DeleteRosterItem(bg, "juliet", "benvolio@example.net"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRosterItem(bg, "juliet", "benvolio@example.net"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteRosterItem: %v", err)
	}
	if r, _ := s.Roster(bg, "juliet"); len(r) != 3 {
		t.Errorf("after delete: %d items", len(r))
	}
	for name, it := range map[string]store.RosterItem{
		"empty JID":    {Subscription: store.SubBoth},
		"bad sub":      {JID: "a@b", Subscription: "pending"},
		"huge JID":     {JID: string(make([]byte, store.MaxJID+1))},
		"unknown user": {JID: "a@b"},
	} {
		user, want := "juliet", store.ErrInvalid
		if name == "unknown user" {
			user, want = "nobody", store.ErrNotFound
		}
		if err := s.PutRosterItem(bg, user, it); !errors.Is(err, want) {
			t.Errorf("PutRosterItem(%s): %v, want %v", name, err, want)
		}
	}
}

func testRosterAliasing(t *testing.T, s store.Store) {
	MustCreate(t, s, "juliet")
	it := SampleItem("romeo@example.net")
	if err := s.PutRosterItem(bg, "juliet", it); err != nil {
		t.Fatal(err)
	}
	it.Groups[0] = "Enemies"
	it.PendingStanza[0] = 'X'
	got, _ := s.RosterItem(bg, "juliet", "romeo@example.net")
	if !reflect.DeepEqual(got, SampleItem("romeo@example.net")) {
		t.Fatalf("store aliased input: %+v", got)
	}
	got.Groups[1] = "Mantua"
	r, _ := s.Roster(bg, "juliet")
	r[0].PendingStanza[1] = 'Y'
	if again, _ := s.RosterItem(bg, "juliet", "romeo@example.net"); !reflect.DeepEqual(again, SampleItem("romeo@example.net")) {
		t.Fatalf("store handed out its slices: %+v", again)
	}
}

// SampleMessage returns the i-th sample offline message; its body is i.
func SampleMessage(i int) store.OfflineMessage {
	return store.OfflineMessage{
		Stanza: fmt.Appendf(nil, "<message to='juliet@example.com'><body>%d</body></message>", i),
		From:   "romeo@example.net/orchard",
		Stamp:  time.Date(2026, 11, 25, 17, 0, i, 0, time.UTC),
	}
}

// CheckMessages fails the test unless got is SampleMessage(from) to SampleMessage(from+n-1).
func CheckMessages(t *testing.T, got []store.OfflineMessage, from, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("got %d messages, want %d", len(got), n)
	}
	for i, m := range got {
		w := SampleMessage(from + i)
		if !bytes.Equal(m.Stanza, w.Stanza) || m.From != w.From || !m.Stamp.Equal(w.Stamp) {
			t.Fatalf("message %d = %+v, want %+v", i, m, w)
		}
	}
}

func testOffline(t *testing.T, s store.Store) {
	MustCreate(t, s, "juliet")
	if m, err := s.TakeOffline(bg, "juliet"); err != nil || len(m) != 0 {
		t.Fatalf("TakeOffline(empty) = %v, %v", m, err)
	}
	// More than 10 so that a store ordering keys as strings would fail.
	for i := range 25 {
		m := SampleMessage(i)
		if err := s.AddOffline(bg, "juliet", m); err != nil {
			t.Fatal(err)
		}
		m.Stanza[0] = 'X' // must not reach the store
	}
	wantLeft(t, s, "juliet", 0, 25)
	if m, err := s.TakeOffline(bg, "juliet"); err != nil || len(m) != 0 {
		t.Fatalf("second TakeOffline = %d messages, %v", len(m), err)
	}
	// The queue keeps working after being emptied.
	s.AddOffline(bg, "juliet", SampleMessage(30))
	wantLeft(t, s, "juliet", 30, 1)
	if err := s.AddOffline(bg, "nobody", SampleMessage(0)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AddOffline(unknown user): %v", err)
	}
	if m, err := s.TakeOffline(bg, "nobody"); err != nil || len(m) != 0 {
		t.Errorf("TakeOffline(unknown user) = %v, %v", m, err)
	}
}

// claim is ClaimOffline failing the test on an error.
func claim(t *testing.T, s store.Store, user string) ([]store.OfflineMessage, store.SettleFunc) {
	t.Helper()
	msgs, settle, err := s.ClaimOffline(bg, user)
	if err != nil || settle == nil {
		t.Fatalf("ClaimOffline(%q): %v (settle nil: %v)", user, err, settle == nil)
	}
	return msgs, settle
}

// testOfflineClaim: claimed messages stay stored and hidden from other claims and takes;
// settling deletes the delivered ones, oldest first, and gives the rest back.
func testOfflineClaim(t *testing.T, s store.Store) {
	MustCreate(t, s, "juliet")
	if m, settle := claim(t, s, "juliet"); len(m) != 0 || settle(bg, 0, true) != nil {
		t.Fatalf("claim of an empty queue: %d messages", len(m))
	}
	addMessages(t, s, "juliet", 3)
	first, settle1 := claim(t, s, "juliet")
	CheckMessages(t, first, 0, 3)
	if m, settle := claim(t, s, "juliet"); len(m) != 0 || settle(bg, 0, true) != nil {
		t.Fatalf("a second claim got %d claimed messages", len(m))
	}
	if m, err := s.TakeOffline(bg, "juliet"); err != nil || len(m) != 0 {
		t.Fatalf("TakeOffline during a claim = %d messages, %v", len(m), err)
	}
	// A message stored during a claim is free for the next one.
	s.AddOffline(bg, "juliet", SampleMessage(3))
	second, settle2 := claim(t, s, "juliet")
	CheckMessages(t, second, 3, 1)
	// Two of the three were written: they go, the third comes back.
	mustSettle(t, settle1, 2, true)
	mustSettle(t, settle1, 3, true) // a second settle does nothing
	third, settle3 := claim(t, s, "juliet")
	CheckMessages(t, third, 2, 1)
	mustSettle(t, settle3, 0, true) // none written: it stays
	mustSettle(t, settle2, 1, true)
	wantLeft(t, s, "juliet", 2, 1)
	// Claimed messages count toward the limit: they are still stored.
	if m, settle := claim(t, s, "nobody"); len(m) != 0 || settle(bg, 0, true) != nil {
		t.Errorf("claim of an unknown user: %d messages", len(m))
	}
}

// addMessages stores n sample messages (SampleMessage 0 to n-1) for user.
func addMessages(t *testing.T, s store.Store, user string, n int) {
	t.Helper()
	for i := range n {
		if err := s.AddOffline(bg, user, SampleMessage(i)); err != nil {
			t.Fatal(err)
		}
	}
}

// mustSettle settles a claim (delivered messages, final) and fails the test on an error.
func mustSettle(t *testing.T, settle store.SettleFunc, delivered int, final bool) {
	t.Helper()
	if err := settle(bg, delivered, final); err != nil {
		t.Fatal(err)
	}
}

// wantLeft takes what is left stored for user and checks it is n sample messages from
// first on.
func wantLeft(t *testing.T, s store.Store, user string, first, n int) {
	t.Helper()
	got, err := s.TakeOffline(bg, user)
	if err != nil {
		t.Fatal(err)
	}
	CheckMessages(t, got, first, n)
}

// claimAfterLease claims user's messages again and again (settling each empty claim)
// until a claim gets some, as after an earlier claim's lease ran out, for at most 30 s.
func claimAfterLease(t *testing.T, s store.Store, user string) ([]store.OfflineMessage, store.SettleFunc) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		again, settle := claim(t, s, user)
		if len(again) > 0 || time.Now().After(deadline) {
			return again, settle
		}
		settle(bg, 0, true)
	}
}

// testClaimLease: a claim that is never settled (its server died) hides its messages for
// the lease only; then they are claimed again, and the late settle of the first claim
// still deletes what it delivered.
func testClaimLease(t *testing.T, s store.Store) {
	MustCreate(t, s, "juliet")
	addMessages(t, s, "juliet", 2)
	lost, lostSettle := claim(t, s, "juliet")
	CheckMessages(t, lost, 0, 2)
	again, settle := claimAfterLease(t, s, "juliet")
	CheckMessages(t, again, 0, 2)
	mustSettle(t, lostSettle, 1, true) // the first claim comes back late: message 0 was written
	mustSettle(t, settle, 0, true)
	wantLeft(t, s, "juliet", 1, 1)
}

// testClaimConfirm: a delivery confirms what was written as it goes (settle with final
// false): the confirmed messages are deleted at once, so when the delivery never ends (its
// server died: here the lease runs out, as after a crash) only those not confirmed come
// back; the final settle releases what was not confirmed, and a smaller count than an
// earlier confirmation deletes nothing more.
func testClaimConfirm(t *testing.T, s store.Store) {
	MustCreate(t, s, "juliet")
	addMessages(t, s, "juliet", 5)
	lost, lostSettle := claim(t, s, "juliet")
	CheckMessages(t, lost, 0, 5)
	mustSettle(t, lostSettle, 1, false)
	mustSettle(t, lostSettle, 2, false)
	if m, settle := claim(t, s, "juliet"); len(m) != 0 || settle(bg, 0, true) != nil {
		t.Fatalf("a claim during a delivery got %d messages", len(m))
	}
	// The first delivery is never settled: after its lease, messages 2 to 4 come back.
	again, settle := claimAfterLease(t, s, "juliet")
	CheckMessages(t, again, 2, 3)
	mustSettle(t, settle, 2, false)
	mustSettle(t, settle, 1, true) // less than confirmed: message 4 is released
	mustSettle(t, settle, 3, true) // after the final call: nothing
	wantLeft(t, s, "juliet", 4, 1)
}

// ClaimRenew: a delivery that goes on longer than the lease keeps its claim as long as
// it renews it (a settle with final false, here with no new confirmation): no other claim
// gets its messages meanwhile (through b: the same store, or another on the same
// database, as another node), however long it lasts, and its final settle still releases
// the rest. Both stores have a lease of 1 s.
func ClaimRenew(t *testing.T, s, b store.Store) {
	if got := s.ClaimLease(); got != time.Second {
		t.Fatalf("ClaimLease() = %v, want the 1s configured", got)
	}
	MustCreate(t, s, "juliet")
	addMessages(t, s, "juliet", 4)
	msgs, settle := claim(t, s, "juliet")
	CheckMessages(t, msgs, 0, 4)
	mustSettle(t, settle, 1, false)
	// Three leases long, renewed about every 20 ms: a claim from another delivery (another
	// session, another node) finds nothing the whole time.
	for start := time.Now(); time.Since(start) < 3*s.ClaimLease(); time.Sleep(20 * time.Millisecond) {
		if err := settle(bg, 0, false); err != nil {
			t.Fatalf("renewal after %v: %v", time.Since(start), err)
		}
		if m, other := claim(t, b, "juliet"); len(m) != 0 || other(bg, 0, true) != nil {
			t.Fatalf("after %v (lease %v, renewed): another claim got %d of the claimed messages", time.Since(start), s.ClaimLease(), len(m))
		}
		if m, err := b.TakeOffline(bg, "juliet"); err != nil || len(m) != 0 {
			t.Fatalf("after %v (lease %v, renewed): TakeOffline got %d of the claimed messages, %v", time.Since(start), s.ClaimLease(), len(m), err)
		}
	}
	mustSettle(t, settle, 2, true)
	wantLeft(t, s, "juliet", 2, 2)
}

// testClaimLost: a delivery that let its lease run out, and whose messages another claim
// took, learns it when it renews (ErrClaimLost), so that it writes no more of them; its
// late settles still delete what it wrote, but release nothing of the other claim's.
func testClaimLost(t *testing.T, s store.Store) {
	MustCreate(t, s, "juliet")
	addMessages(t, s, "juliet", 4)
	lost, lostSettle := claim(t, s, "juliet")
	CheckMessages(t, lost, 0, 4)
	again, settle := claimAfterLease(t, s, "juliet")
	CheckMessages(t, again, 0, 4)
	if err := lostSettle(bg, 1, false); !errors.Is(err, store.ErrClaimLost) {
		t.Fatalf("renewal of a claim taken by another: %v, want ErrClaimLost", err)
	}
	if m, other := claim(t, s, "juliet"); len(m) != 0 || other(bg, 0, true) != nil {
		t.Fatalf("the lost claim's renewal gave %d of the new claim's messages to a third", len(m))
	}
	mustSettle(t, lostSettle, 1, true) // message 0 was written: it goes
	if m, other := claim(t, s, "juliet"); len(m) != 0 || other(bg, 0, true) != nil {
		t.Fatalf("the lost claim's final settle released %d of the new claim's messages to a third", len(m))
	}
	if err := settle(bg, 0, false); err != nil {
		t.Fatalf("renewal of the live claim: %v", err)
	}
	mustSettle(t, settle, 2, true) // 0 and 1 written (0 deleted already)
	wantLeft(t, s, "juliet", 2, 2)
}

// ConcurrentClaim: claims from two stores on one database (or one store twice) while
// messages arrive, each settling all it got: every message is claimed exactly once.
func ConcurrentClaim(t *testing.T, a, b store.Store) {
	const n = 200
	MustCreate(t, a, "juliet")
	var wg sync.WaitGroup
	done := make(chan struct{})
	got := make([][]store.OfflineMessage, 2)
	errs := make(chan error, 3)
	for w, s := range []store.Store{a, b} {
		wg.Go(func() {
			claimAll := func() error {
				msgs, settle, err := s.ClaimOffline(bg, "juliet")
				if err != nil {
					return err
				}
				got[w] = append(got[w], msgs...)
				return settle(bg, len(msgs), true)
			}
			for range 1_000_000 {
				select {
				case <-done:
					if err := claimAll(); err != nil {
						errs <- err
					}
					return
				default:
				}
				if err := claimAll(); err != nil {
					errs <- err
					return
				}
			}
			errs <- errors.New("claimer gave up before the writer finished")
		})
	}
	for i := range n {
		if err := a.AddOffline(bg, "juliet", SampleMessage(i)); err != nil {
			t.Error(err)
			break
		}
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, g := range got {
		for _, m := range g {
			seen[string(m.Stanza)]++
		}
	}
	if len(seen) != n {
		t.Fatalf("%d distinct messages claimed, want %d", len(seen), n)
	}
	for k, c := range seen {
		if c != 1 {
			t.Fatalf("message %.40q claimed %d times", k, c)
		}
	}
}

// WaitRelease: WaitOffline through b about a user whose messages a delivery through a (the
// same store, or another on the same database, as another node) holds: false with none
// stored, true at once with some unclaimed; while all are claimed it waits (here until a
// short context ends); when the delivery's final settle releases what it did not confirm,
// a waiting call returns true at once, not when the lease (a minute) ends, and a claim
// then gets the rest. waiting, if not nil, tells how many calls of b wait for the user's
// release, so that the release comes while one does; with nil the call may also see the
// messages free.
func WaitRelease(t *testing.T, a, b store.Store, waiting func(user string) int) {
	if a.ClaimLease() < 30*time.Second {
		t.Fatalf("lease %v: too short to tell a release from its end", a.ClaimLease())
	}
	MustCreate(t, a, "juliet")
	if more, err := b.WaitOffline(bg, "juliet"); more || err != nil {
		t.Fatalf("WaitOffline with nothing stored: %v, %v; want false at once", more, err)
	}
	if more, err := b.WaitOffline(bg, "nobody"); more || err != nil {
		t.Fatalf("WaitOffline for no account: %v, %v; want false at once", more, err)
	}
	addMessages(t, a, "juliet", 4)
	if more, err := b.WaitOffline(bg, "juliet"); !more || err != nil {
		t.Fatalf("WaitOffline with messages not claimed: %v, %v; want true at once", more, err)
	}
	msgs, settle := claim(t, a, "juliet")
	CheckMessages(t, msgs, 0, 4)
	mustSettle(t, settle, 1, false)
	short, cancel := context.WithTimeout(bg, 100*time.Millisecond)
	more, err := b.WaitOffline(short, "juliet")
	cancel()
	if more || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitOffline while all are claimed: %v, %v; want it to wait until its context ends", more, err)
	}
	type result struct {
		more bool
		err  error
	}
	res := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(bg, 20*time.Second) // the lease is a minute
		defer cancel()
		more, err := b.WaitOffline(ctx, "juliet")
		res <- result{more, err}
	}()
	if waiting != nil {
		for deadline := time.Now().Add(10 * time.Second); waiting("juliet") == 0; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("WaitOffline never waited for the claim")
			}
		}
	}
	released := time.Now()
	mustSettle(t, settle, 2, true) // 0 and 1 written, 2 and 3 released
	r := <-res
	if !r.more || r.err != nil {
		t.Fatalf("WaitOffline after the release: %v, %v; want true", r.more, r.err)
	}
	t.Logf("WaitOffline returned %v after the release", time.Since(released))
	rest, settle := claim(t, b, "juliet")
	CheckMessages(t, rest, 2, 2)
	mustSettle(t, settle, 2, true)
	if more, err := b.WaitOffline(bg, "juliet"); more || err != nil {
		t.Fatalf("WaitOffline after all were delivered: %v, %v; want false", more, err)
	}
}

// testWaitLease: a claim that is never settled (its server died) keeps WaitOffline waiting
// no longer than its lease.
func testWaitLease(t *testing.T, s store.Store) {
	MustCreate(t, s, "juliet")
	addMessages(t, s, "juliet", 2)
	msgs, _ := claim(t, s, "juliet") // never settled
	CheckMessages(t, msgs, 0, 2)
	ctx, cancel := context.WithTimeout(bg, 20*time.Second)
	defer cancel()
	if more, err := s.WaitOffline(ctx, "juliet"); !more || err != nil {
		t.Fatalf("WaitOffline on an abandoned claim: %v, %v; want true when its lease ends", more, err)
	}
	again, settle := claimAfterLease(t, s, "juliet")
	CheckMessages(t, again, 0, 2)
	mustSettle(t, settle, 2, true)
}

func testDeleteCascade(t *testing.T, s store.Store) {
	MustCreate(t, s, "juliet")
	MustCreate(t, s, "romeo")
	for _, u := range []string{"juliet", "romeo"} {
		s.PutRosterItem(bg, u, SampleItem("nurse@example.com"))
		s.AddOffline(bg, u, SampleMessage(1))
	}
	if err := s.DeleteAccount(bg, "juliet"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Account(bg, "juliet"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("account still there: %v", err)
	}
	// A new account with the same name starts empty.
	MustCreate(t, s, "juliet")
	if r, _ := s.Roster(bg, "juliet"); len(r) != 0 {
		t.Errorf("roster survived deletion: %v", r)
	}
	if m, _ := s.TakeOffline(bg, "juliet"); len(m) != 0 {
		t.Errorf("offline messages survived deletion: %d", len(m))
	}
	// The other account is untouched.
	if r, _ := s.Roster(bg, "romeo"); len(r) != 1 {
		t.Errorf("romeo's roster: %v", r)
	}
	if m, _ := s.TakeOffline(bg, "romeo"); len(m) != 1 {
		t.Errorf("romeo's offline: %d", len(m))
	}
}

func testConcurrent(t *testing.T, s store.Store) {
	const workers, each = 20, 10
	MustCreate(t, s, "hub")
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			user := fmt.Sprintf("user%d", w)
			if err := s.CreateAccount(bg, SampleAccount(user)); err != nil {
				errs <- err
				return
			}
			for i := range each {
				jid := fmt.Sprintf("c%d@example.com", i)
				if err := s.PutRosterItem(bg, user, SampleItem(jid)); err != nil {
					errs <- err
					return
				}
				if err := s.PutRosterItem(bg, "hub", SampleItem(user+"-"+jid)); err != nil {
					errs <- err
					return
				}
				if err := s.AddOffline(bg, "hub", SampleMessage(w*each+i)); err != nil {
					errs <- err
					return
				}
				if _, err := s.Roster(bg, user); err != nil {
					errs <- err
					return
				}
			}
			if err := s.CreateAccount(bg, SampleAccount("hub")); !errors.Is(err, store.ErrExists) {
				errs <- fmt.Errorf("racing duplicate: %v", err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if r, _ := s.Roster(bg, "hub"); len(r) != workers*each {
		t.Errorf("hub roster has %d items, want %d", len(r), workers*each)
	}
	msgs, _ := s.TakeOffline(bg, "hub")
	if len(msgs) != workers*each {
		t.Errorf("hub has %d offline messages, want %d", len(msgs), workers*each)
	}
	// Each writer's own messages stay in its order.
	last := map[string]int{}
	for _, m := range msgs {
		var i int
		fmt.Sscanf(string(m.Stanza), "<message to='juliet@example.com'><body>%d</body>", &i)
		w := fmt.Sprint(i / each)
		if prev, ok := last[w]; ok && prev > i {
			t.Fatalf("writer %s out of order: %d after %d", w, i, prev)
		}
		last[w] = i
	}
}

func testContext(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(bg)
	cancel()
	if err := s.CreateAccount(ctx, SampleAccount("juliet")); !errors.Is(err, context.Canceled) {
		t.Errorf("CreateAccount with cancelled context: %v", err)
	}
	if _, err := s.Account(bg, "juliet"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("account created despite cancellation: %v", err)
	}
}

func testClosed(t *testing.T, s store.Store) {
	MustCreate(t, s, "juliet")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Account(bg, "juliet"); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Account after Close: %v", err)
	}
	if err := s.AddOffline(bg, "juliet", SampleMessage(0)); !errors.Is(err, store.ErrClosed) {
		t.Errorf("AddOffline after Close: %v", err)
	}
}

func testLimits(t *testing.T, s store.Store) {
	MustCreate(t, s, "juliet")
	addMessages(t, s, "juliet", 3)
	if err := s.AddOffline(bg, "juliet", SampleMessage(3)); !errors.Is(err, store.ErrFull) {
		t.Errorf("fourth offline message: %v, want ErrFull", err)
	}
	msgs, _ := s.TakeOffline(bg, "juliet")
	CheckMessages(t, msgs, 0, 3)
	if err := s.AddOffline(bg, "juliet", SampleMessage(0)); err != nil {
		t.Errorf("after taking: %v", err)
	}

	for _, j := range []string{"a@x", "b@x"} {
		if err := s.PutRosterItem(bg, "juliet", SampleItem(j)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutRosterItem(bg, "juliet", SampleItem("c@x")); !errors.Is(err, store.ErrFull) {
		t.Errorf("third contact: %v, want ErrFull", err)
	}
	// Updating an existing contact is always allowed.
	if err := s.PutRosterItem(bg, "juliet", store.RosterItem{JID: "a@x", Subscription: store.SubBoth}); err != nil {
		t.Errorf("update at the limit: %v", err)
	}
	if err := s.DeleteRosterItem(bg, "juliet", "b@x"); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRosterItem(bg, "juliet", SampleItem("c@x")); err != nil {
		t.Errorf("after a delete: %v", err)
	}
}

// testText checks that every store gives back the same text: free text cleaned to valid
// UTF-8, keys that no JID can contain refused.
func testText(t *testing.T, s store.Store) {
	a := SampleAccount("juliet")
	a.Name, a.Email = "Juli\xffet\x00", "ju\xc3liet@example.com"
	if err := s.CreateAccount(bg, a); err != nil {
		t.Fatal(err)
	}
	got, err := s.Account(bg, "juliet")
	if err != nil || got.Name != "Juli\uFFFDet\uFFFD" || got.Email != "ju\uFFFDliet@example.com" {
		t.Errorf("account text = %q, %q, %v", got.Name, got.Email, err)
	}
	it := store.RosterItem{JID: "romeo@example.net", Name: "Ro\x00meo", Groups: []string{"ok", "\xfe"}}
	groups := it.Groups
	if err := s.PutRosterItem(bg, "juliet", it); err != nil {
		t.Fatal(err)
	}
	if groups[1] != "\xfe" {
		t.Error("the store changed the caller's groups")
	}
	if got, err := s.RosterItem(bg, "juliet", "romeo@example.net"); err != nil || got.Name != "Ro\uFFFDmeo" || !reflect.DeepEqual(got.Groups, []string{"ok", "\uFFFD"}) {
		t.Errorf("roster text = %q, %q, %v", got.Name, got.Groups, err)
	}
	m := SampleMessage(1)
	m.From = "romeo@example.net/\xff"
	if err := s.AddOffline(bg, "juliet", m); err != nil {
		t.Fatal(err)
	}
	if msgs, err := s.TakeOffline(bg, "juliet"); err != nil || len(msgs) != 1 || msgs[0].From != "romeo@example.net/\uFFFD" {
		t.Errorf("offline sender = %+v, %v", msgs, err)
	}
	// Empty groups and stanzas read back as nil from every store.
	if err := s.PutRosterItem(bg, "juliet", store.RosterItem{JID: "nurse@example.com", Groups: []string{}, PendingStanza: []byte{}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.RosterItem(bg, "juliet", "nurse@example.com"); got.Groups != nil || got.PendingStanza != nil {
		t.Errorf("empty slices = %#v, %#v", got.Groups, got.PendingStanza)
	}
	for _, bad := range []string{"ju\xffliet", "jul\x00iet"} {
		if err := s.CreateAccount(bg, store.Account{Username: bad}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("CreateAccount(%q): %v, want ErrInvalid", bad, err)
		}
		if _, err := s.Account(bg, bad); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Account(%q): %v, want ErrNotFound", bad, err)
		}
		if err := s.PutRosterItem(bg, "juliet", store.RosterItem{JID: bad + "@example.net"}); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("PutRosterItem(%q): %v, want ErrInvalid", bad, err)
		}
		if _, err := s.RosterItem(bg, "juliet", bad); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("RosterItem(%q): %v, want ErrNotFound", bad, err)
		}
		if m, err := s.TakeOffline(bg, bad); err != nil || len(m) != 0 {
			t.Errorf("TakeOffline(%q) = %v, %v", bad, m, err)
		}
		if r, err := s.Roster(bg, bad); err != nil || len(r) != 0 {
			t.Errorf("Roster(%q) = %v, %v", bad, r, err)
		}
	}
	// Times are kept in UTC to the microsecond.
	at := time.Date(2026, 1, 2, 3, 4, 5, 678999, time.FixedZone("Verona", 3600))
	n := store.Account{Username: "nurse", Created: at}
	if err := s.CreateAccount(bg, n); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Account(bg, "nurse"); !got.Created.Equal(at.Truncate(time.Microsecond)) || got.Created.Location() != time.UTC {
		t.Errorf("Created = %v, want %v in UTC", got.Created, at.Truncate(time.Microsecond))
	}
}

// key returns the roster key of contact in user's roster (the example domain is fixed).
func key(user, contact string) store.RosterKey {
	return store.RosterKey{User: user, JID: contact + "@example.com"}
}

func testUpdateRoster(t *testing.T, s store.Store) {
	MustCreate(t, s, "juliet")
	MustCreate(t, s, "romeo")
	jr, rj := key("juliet", "romeo"), key("romeo", "juliet")
	// A request: juliet asks, romeo keeps it pending. Both slots start empty.
	err := store.UpdatePair(bg, s, jr, rj, func(a, b *store.RosterSlot) error {
		if !a.HasAccount || !b.HasAccount || a.Exists || b.Exists || a.Key != jr || b.Key != rj {
			return fmt.Errorf("slots on entry: %+v %+v", a, b)
		}
		if a.Item.JID != jr.JID || a.Item.Subscription != store.SubNone {
			return fmt.Errorf("empty item on entry: %+v", a.Item)
		}
		a.Exists, a.Item.AskOut = true, true
		b.Exists, b.Item.PendingIn, b.Item.PendingStanza = true, true, []byte("<presence type='subscribe'/>")
		b.Item.JID = "ignored@example.com" // the key decides
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if it, err := s.RosterItem(bg, "juliet", jr.JID); err != nil || !it.AskOut || it.Subscription != store.SubNone {
		t.Errorf("juliet's item: %+v, %v", it, err)
	}
	if it, err := s.RosterItem(bg, "romeo", rj.JID); err != nil || !it.PendingIn || string(it.PendingStanza) != "<presence type='subscribe'/>" {
		t.Errorf("romeo's item: %+v, %v", it, err)
	}
	// The approval: both change together; the slots hold what is stored.
	err = store.UpdatePair(bg, s, rj, jr, func(a, b *store.RosterSlot) error {
		if !a.Exists || !b.Exists || !a.Item.PendingIn || !b.Item.AskOut {
			return fmt.Errorf("slots on entry: %+v %+v", a, b)
		}
		a.Item.PendingIn, a.Item.PendingStanza, a.Item.Subscription = false, nil, store.SubFrom
		b.Item.AskOut, b.Item.Subscription = false, store.SubTo
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Roster(bg, "juliet"); len(r) != 1 || r[0].Subscription != store.SubTo || r[0].AskOut {
		t.Errorf("juliet's roster: %+v", r)
	}
	if r, _ := s.Roster(bg, "romeo"); len(r) != 1 || r[0].Subscription != store.SubFrom || r[0].PendingIn || r[0].PendingStanza != nil {
		t.Errorf("romeo's roster: %+v", r)
	}
	// Equal keys share one slot, so the second sees the first's change.
	self := key("juliet", "juliet")
	err = store.UpdatePair(bg, s, self, self, func(a, b *store.RosterSlot) error {
		if a != b {
			return errors.New("equal keys have two slots")
		}
		a.Exists, a.Item.Subscription = true, store.SubBoth
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Deleting one item and keeping the other.
	err = store.UpdatePair(bg, s, jr, self, func(a, b *store.RosterSlot) error {
		if !b.Exists || b.Item.Subscription != store.SubBoth {
			return fmt.Errorf("self item: %+v", b)
		}
		a.Exists = false
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.RosterItem(bg, "juliet", jr.JID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted item: %v", err)
	}
	// Deleting what does not exist is no error; neither is changing nothing.
	if err := store.UpdateItem(bg, s, jr, func(a *store.RosterSlot) error { a.Exists = false; return nil }); err != nil {
		t.Errorf("delete of a missing item: %v", err)
	}
	if err := store.UpdateItem(bg, s, rj, func(*store.RosterSlot) error { return nil }); err != nil {
		t.Errorf("no change: %v", err)
	}
	// A slot of a user without an account reads as empty and may stay so.
	err = store.UpdatePair(bg, s, key("romeo", "tybalt"), key("tybalt", "romeo"), func(a, b *store.RosterSlot) error {
		if b.HasAccount || b.Exists || !a.HasAccount {
			return fmt.Errorf("slots: %+v %+v", a, b)
		}
		a.Exists = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if it, err := s.RosterItem(bg, "romeo", "tybalt@example.com"); err != nil || it.Subscription != store.SubNone {
		t.Errorf("item beside a missing account: %+v, %v", it, err)
	}
	// The items fn got are its own: changing them after the call changes nothing stored.
	var kept *store.RosterSlot
	store.UpdateItem(bg, s, rj, func(a *store.RosterSlot) error { kept = a; return nil })
	kept.Item.Name = "changed"
	if it, _ := s.RosterItem(bg, "romeo", rj.JID); it.Name != "" {
		t.Errorf("slot aliased the store: %+v", it)
	}
}

func testUpdateRosterErrors(t *testing.T, s store.Store) {
	MustCreate(t, s, "juliet")
	MustCreate(t, s, "romeo")
	jr, rj := key("juliet", "romeo"), key("romeo", "juliet")
	if err := s.PutRosterItem(bg, "juliet", SampleItem(jr.JID)); err != nil {
		t.Fatal(err)
	}
	unchanged := func(what string) {
		t.Helper()
		if it, err := s.RosterItem(bg, "juliet", jr.JID); err != nil || !reflect.DeepEqual(it, SampleItem(jr.JID)) {
			t.Errorf("%s: juliet's item changed: %+v, %v", what, it, err)
		}
		if _, err := s.RosterItem(bg, "romeo", rj.JID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: romeo's item was written: %v", what, err)
		}
	}
	// fn's error comes back as it is, and nothing is written.
	errStop := errors.New("stop")
	err := store.UpdatePair(bg, s, jr, rj, func(a, b *store.RosterSlot) error {
		a.Item.Subscription, b.Exists = store.SubBoth, true
		return errStop
	})
	if err != errStop {
		t.Errorf("fn error: %v", err)
	}
	unchanged("fn error")
	// A bad item on one side writes neither.
	err = store.UpdatePair(bg, s, jr, rj, func(a, b *store.RosterSlot) error {
		a.Item.Subscription = store.SubBoth
		b.Exists, b.Item.Subscription = true, "pending"
		return nil
	})
	if !errors.Is(err, store.ErrInvalid) {
		t.Errorf("bad subscription: %v", err)
	}
	unchanged("bad subscription")
	// An item for a user without an account.
	err = store.UpdatePair(bg, s, jr, key("tybalt", "juliet"), func(a, b *store.RosterSlot) error {
		a.Exists = false
		b.Exists = true
		return nil
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("item of a missing account: %v", err)
	}
	unchanged("missing account")
	for name, keys := range map[string][]store.RosterKey{
		"no keys":   nil,
		"empty JID": {{User: "juliet"}},
		"no user":   {{JID: "romeo@example.com"}},
		"bad JID":   {{User: "juliet", JID: "ro\xffmeo@example.com"}},
	} {
		called := false
		err := s.UpdateRoster(bg, keys, func([]*store.RosterSlot) error { called = true; return nil })
		if !errors.Is(err, store.ErrInvalid) || called {
			t.Errorf("%s: %v (fn called: %v), want ErrInvalid", name, err, called)
		}
	}
	ctx, cancel := context.WithCancel(bg)
	cancel()
	if err := store.UpdateItem(ctx, s, rj, func(a *store.RosterSlot) error { a.Exists = true; return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	unchanged("cancelled")
}

// testConcurrentSubscriptions has 100 users subscribe to each other at once, as 100 clients
// would: each user asks its 8 nearest neighbours on a ring and answers for them in one
// UpdatePair, so both users of a pair update the same two items at the same time. A lost
// update would leave one direction out; every pair must end as "both" on both sides.
func testConcurrentSubscriptions(t *testing.T, s store.Store) {
	const users, near = 100, 4
	name := func(i int) string { return fmt.Sprintf("user%d", (i+users)%users) }
	for i := range users {
		MustCreate(t, s, name(i))
	}
	gain := func(sub, dir string) string {
		switch {
		case sub == dir || sub == store.SubBoth:
			return sub
		case sub == store.SubNone:
			return dir
		default:
			return store.SubBoth
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, users)
	start := make(chan struct{})
	for i := range users {
		wg.Go(func() {
			<-start
			for d := 1; d <= near; d++ {
				for _, j := range []int{i + d, i - d} {
					me, them := name(i), name(j)
					err := store.UpdatePair(bg, s, key(me, them), key(them, me), func(a, b *store.RosterSlot) error {
						a.Exists, b.Exists = true, true
						a.Item.Subscription = gain(a.Item.Subscription, store.SubTo)
						b.Item.Subscription = gain(b.Item.Subscription, store.SubFrom)
						return nil
					})
					if err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := range users {
		r, err := s.Roster(bg, name(i))
		if err != nil {
			t.Fatal(err)
		}
		if len(r) != 2*near {
			t.Fatalf("%s has %d contacts, want %d", name(i), len(r), 2*near)
		}
		for _, it := range r {
			if it.Subscription != store.SubBoth {
				t.Errorf("%s's item %s is %q, want both (a lost update)", name(i), it.JID, it.Subscription)
			}
		}
	}
}

// ConcurrentTake has two goroutines take user's offline messages from a and b (two handles
// on one database, or one store twice) while a third adds them, and checks that every
// message is taken exactly once, each taker's share in order.
func ConcurrentTake(t *testing.T, a, b store.Store) {
	const n = 200
	MustCreate(t, a, "juliet")
	var wg sync.WaitGroup
	done := make(chan struct{})
	got := make([][]store.OfflineMessage, 2)
	errs := make(chan error, 3)
	for w, s := range []store.Store{a, b} {
		wg.Go(func() {
			// Bounded so that a writer that stalls cannot keep the takers spinning forever.
			for range 1_000_000 {
				select {
				case <-done:
					// One more take after the writer finished: nothing may be left behind.
					msgs, err := s.TakeOffline(bg, "juliet")
					if err != nil {
						errs <- err
					}
					got[w] = append(got[w], msgs...)
					return
				default:
				}
				msgs, err := s.TakeOffline(bg, "juliet")
				if err != nil {
					errs <- err
					return
				}
				got[w] = append(got[w], msgs...)
			}
			errs <- errors.New("taker gave up before the writer finished")
		})
	}
	for i := range n {
		if err := a.AddOffline(bg, "juliet", SampleMessage(i)); err != nil {
			t.Error(err)
			break
		}
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	seen := make([]int, n)
	for w, msgs := range got {
		last := -1
		for _, m := range msgs {
			var i int
			if _, err := fmt.Sscanf(string(m.Stanza), "<message to='juliet@example.com'><body>%d</body>", &i); err != nil || i < 0 || i >= n {
				t.Fatalf("taker %d got %q", w, m.Stanza)
			}
			if i <= last {
				t.Errorf("taker %d got message %d after %d", w, i, last)
			}
			last = i
			seen[i]++
		}
	}
	for i, c := range seen {
		if c != 1 {
			t.Errorf("message %d taken %d times", i, c)
		}
	}
	t.Logf("takers got %d and %d messages", len(got[0]), len(got[1]))
}
