package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"
)

// opener makes a fresh, empty store for one subtest; the suite closes it.
type opener func(t *testing.T) Store

// testStore is the conformance suite every Store implementation must pass.
func testStore(t *testing.T, open opener) {
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s Store)
	}{
		{"Accounts", testAccounts},
		{"AccountAliasing", testAccountAliasing},
		{"DeleteCascade", testDeleteCascade},
		{"Roster", testRoster},
		{"RosterAliasing", testRosterAliasing},
		{"Offline", testOffline},
		{"Concurrent", testConcurrent},
		{"Context", testContext},
		{"Closed", testClosed},
		{"Limits", testLimits},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			defer s.Close()
			tc.fn(t, s)
		})
	}
}

var bg = context.Background()

func sampleAccount(name string) Account {
	return Account{
		Username: name,
		Creds: Credentials{
			Salt:       []byte("0123456789abcdef"),
			Iterations: 4096,
			SHA1:       Keys{StoredKey: bytes.Repeat([]byte{1}, 20), ServerKey: bytes.Repeat([]byte{2}, 20)},
			SHA256:     Keys{StoredKey: bytes.Repeat([]byte{3}, 32), ServerKey: bytes.Repeat([]byte{4}, 32)},
		},
		Name:    "Juliet Capulet",
		Email:   "juliet@example.com",
		Created: time.Date(2026, 11, 25, 17, 0, 0, 123, time.UTC),
	}
}

func mustCreate(t *testing.T, s Store, name string) Account {
	t.Helper()
	a := sampleAccount(name)
	if err := s.CreateAccount(bg, a); err != nil {
		t.Fatalf("CreateAccount(%q): %v", name, err)
	}
	return a
}

func equalAccount(a, b Account) bool {
	return a.Created.Equal(b.Created) && reflect.DeepEqual(
		Account{a.Username, a.Creds, a.Name, a.Email, time.Time{}},
		Account{b.Username, b.Creds, b.Name, b.Email, time.Time{}})
}

func testAccounts(t *testing.T, s Store) {
	a := mustCreate(t, s, "juliet")
	if err := s.CreateAccount(bg, sampleAccount("juliet")); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate CreateAccount: %v, want ErrExists", err)
	}
	got, err := s.Account(bg, "juliet")
	if err != nil || !equalAccount(got, a) {
		t.Fatalf("Account = %+v, %v; want %+v", got, err, a)
	}
	if _, err := s.Account(bg, "romeo"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Account(unknown): %v, want ErrNotFound", err)
	}
	if err := s.CreateAccount(bg, Account{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("CreateAccount(empty name): %v, want ErrInvalid", err)
	}
	// A zero creation time is filled in.
	if err := s.CreateAccount(bg, Account{Username: "nurse"}); err != nil {
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
	if err := s.SetCredentials(bg, "romeo", c); !errors.Is(err, ErrNotFound) {
		t.Errorf("SetCredentials(unknown): %v", err)
	}
	if err := s.DeleteAccount(bg, "romeo"); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteAccount(unknown): %v", err)
	}
}

func testAccountAliasing(t *testing.T, s Store) {
	a := sampleAccount("juliet")
	if err := s.CreateAccount(bg, a); err != nil {
		t.Fatal(err)
	}
	a.Creds.Salt[0] = 'X' // the caller reuses its buffer
	a.Creds.SHA256.StoredKey[0] = 99
	got, _ := s.Account(bg, "juliet")
	if !equalAccount(got, sampleAccount("juliet")) {
		t.Fatal("store aliased the caller's slices")
	}
	got.Creds.SHA1.ServerKey[0] = 99 // the caller scribbles on what it got
	again, _ := s.Account(bg, "juliet")
	if !equalAccount(again, sampleAccount("juliet")) {
		t.Fatal("store handed out its own slices")
	}
}

func sampleItem(jid string) RosterItem {
	return RosterItem{
		JID:           jid,
		Name:          "R",
		Groups:        []string{"Friends", "Verona"},
		Subscription:  SubFrom,
		AskOut:        true,
		PendingIn:     true,
		PendingStanza: []byte("<presence type='subscribe'/>"),
	}
}

func testRoster(t *testing.T, s Store) {
	mustCreate(t, s, "juliet")
	if r, err := s.Roster(bg, "juliet"); err != nil || len(r) != 0 {
		t.Fatalf("empty roster = %v, %v", r, err)
	}
	if r, err := s.Roster(bg, "nobody"); err != nil || len(r) != 0 {
		t.Fatalf("roster of unknown user = %v, %v", r, err)
	}
	for _, j := range []string{"romeo@example.net", "benvolio@example.net", "nurse@example.com"} {
		if err := s.PutRosterItem(bg, "juliet", sampleItem(j)); err != nil {
			t.Fatal(err)
		}
	}
	r, err := s.Roster(bg, "juliet")
	if err != nil || len(r) != 3 {
		t.Fatalf("Roster = %v, %v", r, err)
	}
	want := []string{"benvolio@example.net", "nurse@example.com", "romeo@example.net"}
	for i, it := range r {
		if it.JID != want[i] || !reflect.DeepEqual(it, sampleItem(want[i])) {
			t.Errorf("item %d = %+v", i, it)
		}
	}
	// Replace: state changes, groups removed.
	up := RosterItem{JID: "romeo@example.net", Subscription: SubBoth}
	if err := s.PutRosterItem(bg, "juliet", up); err != nil {
		t.Fatal(err)
	}
	got, err := s.RosterItem(bg, "juliet", "romeo@example.net")
	if err != nil || got.Subscription != SubBoth || len(got.Groups) != 0 || got.AskOut || got.PendingStanza != nil {
		t.Errorf("after replace: %+v, %v", got, err)
	}
	// Default subscription.
	if err := s.PutRosterItem(bg, "juliet", RosterItem{JID: "tybalt@example.net"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.RosterItem(bg, "juliet", "tybalt@example.net"); got.Subscription != SubNone {
		t.Errorf("default subscription = %q", got.Subscription)
	}
	if _, err := s.RosterItem(bg, "juliet", "mercutio@example.net"); !errors.Is(err, ErrNotFound) {
		t.Errorf("RosterItem(missing): %v", err)
	}
	if err := s.DeleteRosterItem(bg, "juliet", "benvolio@example.net"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRosterItem(bg, "juliet", "benvolio@example.net"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second DeleteRosterItem: %v", err)
	}
	if r, _ := s.Roster(bg, "juliet"); len(r) != 3 {
		t.Errorf("after delete: %d items", len(r))
	}
	for name, it := range map[string]RosterItem{
		"empty JID":    {Subscription: SubBoth},
		"bad sub":      {JID: "a@b", Subscription: "pending"},
		"huge JID":     {JID: string(make([]byte, MaxJID+1))},
		"unknown user": {JID: "a@b"},
	} {
		user, want := "juliet", ErrInvalid
		if name == "unknown user" {
			user, want = "nobody", ErrNotFound
		}
		if err := s.PutRosterItem(bg, user, it); !errors.Is(err, want) {
			t.Errorf("PutRosterItem(%s): %v, want %v", name, err, want)
		}
	}
}

func testRosterAliasing(t *testing.T, s Store) {
	mustCreate(t, s, "juliet")
	it := sampleItem("romeo@example.net")
	if err := s.PutRosterItem(bg, "juliet", it); err != nil {
		t.Fatal(err)
	}
	it.Groups[0] = "Enemies"
	it.PendingStanza[0] = 'X'
	got, _ := s.RosterItem(bg, "juliet", "romeo@example.net")
	if !reflect.DeepEqual(got, sampleItem("romeo@example.net")) {
		t.Fatalf("store aliased input: %+v", got)
	}
	got.Groups[1] = "Mantua"
	r, _ := s.Roster(bg, "juliet")
	r[0].PendingStanza[1] = 'Y'
	if again, _ := s.RosterItem(bg, "juliet", "romeo@example.net"); !reflect.DeepEqual(again, sampleItem("romeo@example.net")) {
		t.Fatalf("store handed out its slices: %+v", again)
	}
}

func sampleMessage(i int) OfflineMessage {
	return OfflineMessage{
		Stanza: fmt.Appendf(nil, "<message to='juliet@example.com'><body>%d</body></message>", i),
		From:   "romeo@example.net/orchard",
		Stamp:  time.Date(2026, 11, 25, 17, 0, i, 0, time.UTC),
	}
}

func checkMessages(t *testing.T, got []OfflineMessage, from, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("got %d messages, want %d", len(got), n)
	}
	for i, m := range got {
		w := sampleMessage(from + i)
		if !bytes.Equal(m.Stanza, w.Stanza) || m.From != w.From || !m.Stamp.Equal(w.Stamp) {
			t.Fatalf("message %d = %+v, want %+v", i, m, w)
		}
	}
}

func testOffline(t *testing.T, s Store) {
	mustCreate(t, s, "juliet")
	if m, err := s.TakeOffline(bg, "juliet"); err != nil || len(m) != 0 {
		t.Fatalf("TakeOffline(empty) = %v, %v", m, err)
	}
	// More than 10 so that a store ordering keys as strings would fail.
	for i := range 25 {
		m := sampleMessage(i)
		if err := s.AddOffline(bg, "juliet", m); err != nil {
			t.Fatal(err)
		}
		m.Stanza[0] = 'X' // must not reach the store
	}
	got, err := s.TakeOffline(bg, "juliet")
	if err != nil {
		t.Fatal(err)
	}
	checkMessages(t, got, 0, 25)
	if m, err := s.TakeOffline(bg, "juliet"); err != nil || len(m) != 0 {
		t.Fatalf("second TakeOffline = %d messages, %v", len(m), err)
	}
	// The queue keeps working after being emptied.
	s.AddOffline(bg, "juliet", sampleMessage(30))
	got, _ = s.TakeOffline(bg, "juliet")
	checkMessages(t, got, 30, 1)
	if err := s.AddOffline(bg, "nobody", sampleMessage(0)); !errors.Is(err, ErrNotFound) {
		t.Errorf("AddOffline(unknown user): %v", err)
	}
	if m, err := s.TakeOffline(bg, "nobody"); err != nil || len(m) != 0 {
		t.Errorf("TakeOffline(unknown user) = %v, %v", m, err)
	}
}

func testDeleteCascade(t *testing.T, s Store) {
	mustCreate(t, s, "juliet")
	mustCreate(t, s, "romeo")
	for _, u := range []string{"juliet", "romeo"} {
		s.PutRosterItem(bg, u, sampleItem("nurse@example.com"))
		s.AddOffline(bg, u, sampleMessage(1))
	}
	if err := s.DeleteAccount(bg, "juliet"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Account(bg, "juliet"); !errors.Is(err, ErrNotFound) {
		t.Errorf("account still there: %v", err)
	}
	// A new account with the same name starts empty.
	mustCreate(t, s, "juliet")
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

func testConcurrent(t *testing.T, s Store) {
	const workers, each = 20, 10
	mustCreate(t, s, "hub")
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			user := fmt.Sprintf("user%d", w)
			if err := s.CreateAccount(bg, sampleAccount(user)); err != nil {
				errs <- err
				return
			}
			for i := range each {
				jid := fmt.Sprintf("c%d@example.com", i)
				if err := s.PutRosterItem(bg, user, sampleItem(jid)); err != nil {
					errs <- err
					return
				}
				if err := s.PutRosterItem(bg, "hub", sampleItem(user+"-"+jid)); err != nil {
					errs <- err
					return
				}
				if err := s.AddOffline(bg, "hub", sampleMessage(w*each+i)); err != nil {
					errs <- err
					return
				}
				if _, err := s.Roster(bg, user); err != nil {
					errs <- err
					return
				}
			}
			if err := s.CreateAccount(bg, sampleAccount("hub")); !errors.Is(err, ErrExists) {
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

func testContext(t *testing.T, s Store) {
	ctx, cancel := context.WithCancel(bg)
	cancel()
	if err := s.CreateAccount(ctx, sampleAccount("juliet")); !errors.Is(err, context.Canceled) {
		t.Errorf("CreateAccount with cancelled context: %v", err)
	}
	if _, err := s.Account(bg, "juliet"); !errors.Is(err, ErrNotFound) {
		t.Errorf("account created despite cancellation: %v", err)
	}
}

func testClosed(t *testing.T, s Store) {
	mustCreate(t, s, "juliet")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Account(bg, "juliet"); !errors.Is(err, ErrClosed) {
		t.Errorf("Account after Close: %v", err)
	}
	if err := s.AddOffline(bg, "juliet", sampleMessage(0)); !errors.Is(err, ErrClosed) {
		t.Errorf("AddOffline after Close: %v", err)
	}
}

// setLimits lowers a store's per-user limits so the test does not need 1000 writes.
func setLimits(t *testing.T, s Store, l limits) {
	switch s := s.(type) {
	case *Memory:
		s.limits = l
	case *Bolt:
		s.limits = l
	default:
		t.Fatalf("no limits hook for %T", s)
	}
}

func testLimits(t *testing.T, s Store) {
	setLimits(t, s, limits{offline: 3, roster: 2})
	mustCreate(t, s, "juliet")
	for i := range 3 {
		if err := s.AddOffline(bg, "juliet", sampleMessage(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddOffline(bg, "juliet", sampleMessage(3)); !errors.Is(err, ErrFull) {
		t.Errorf("fourth offline message: %v, want ErrFull", err)
	}
	msgs, _ := s.TakeOffline(bg, "juliet")
	checkMessages(t, msgs, 0, 3)
	if err := s.AddOffline(bg, "juliet", sampleMessage(0)); err != nil {
		t.Errorf("after taking: %v", err)
	}

	for _, j := range []string{"a@x", "b@x"} {
		if err := s.PutRosterItem(bg, "juliet", sampleItem(j)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutRosterItem(bg, "juliet", sampleItem("c@x")); !errors.Is(err, ErrFull) {
		t.Errorf("third contact: %v, want ErrFull", err)
	}
	// Updating an existing contact is always allowed.
	if err := s.PutRosterItem(bg, "juliet", RosterItem{JID: "a@x", Subscription: SubBoth}); err != nil {
		t.Errorf("update at the limit: %v", err)
	}
	if err := s.DeleteRosterItem(bg, "juliet", "b@x"); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRosterItem(bg, "juliet", sampleItem("c@x")); err != nil {
		t.Errorf("after a delete: %v", err)
	}
}
