package storetest

import (
	"fmt"
	"testing"

	"github.com/stanzascope/stanzascope/switch/store"
)

// BenchOpener makes a fresh, empty store for one benchmark; Benchmark closes it.
type BenchOpener func(b *testing.B) store.Store

// Benchmark runs the same store benchmarks against the stores open makes, so that the
// figures of Memory, Bolt and PostgreSQL compare one for one. Each reports allocations.
func Benchmark(b *testing.B, open BenchOpener) {
	for _, bc := range []struct {
		name string
		fn   func(b *testing.B, s store.Store)
	}{
		{"Account", benchAccount},
		{"Login", benchLogin},
		{"AddOffline", benchAddOffline},
		{"OfflineRoundTrip", benchOfflineRoundTrip},
		{"PutRosterItem", benchPutRosterItem},
		{"Subscribe", benchSubscribe},
		{"Roster", benchRoster},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := open(b)
			defer s.Close()
			MustCreate(b, s, "juliet")
			b.ReportAllocs()
			bc.fn(b, s)
		})
	}
}

// benchAccount reads an account, as a SASL exchange does for the credentials.
func benchAccount(b *testing.B, s store.Store) {
	for b.Loop() {
		if _, err := s.Account(bg, "juliet"); err != nil {
			b.Fatal(err)
		}
	}
}

// benchLogin is what a login and its initial presence ask of the store: the credentials,
// the roster (20 contacts, for the presence broadcast and probes) and the offline queue
// (empty).
func benchLogin(b *testing.B, s store.Store) {
	fill(b, s, 20)
	for b.Loop() {
		if _, err := s.Account(bg, "juliet"); err != nil {
			b.Fatal(err)
		}
		if r, err := s.Roster(bg, "juliet"); err != nil || len(r) != 20 {
			b.Fatal(len(r), err)
		}
		if m, err := s.TakeOffline(bg, "juliet"); err != nil || len(m) != 0 {
			b.Fatal(len(m), err)
		}
	}
}

// benchAddOffline stores messages for an offline user. The queue is emptied, off the
// clock, before it reaches the store's limit.
func benchAddOffline(b *testing.B, s store.Store) {
	m := SampleMessage(1)
	n := 0
	for b.Loop() {
		if n == store.MaxOffline/2 {
			b.StopTimer()
			if _, err := s.TakeOffline(bg, "juliet"); err != nil {
				b.Fatal(err)
			}
			n = 0
			b.StartTimer()
		}
		if err := s.AddOffline(bg, "juliet", m); err != nil {
			b.Fatal(err)
		}
		n++
	}
}

// benchOfflineRoundTrip stores one message and takes it back, as for a message to a user
// who logs in later.
func benchOfflineRoundTrip(b *testing.B, s store.Store) {
	m := SampleMessage(1)
	for b.Loop() {
		if err := s.AddOffline(bg, "juliet", m); err != nil {
			b.Fatal(err)
		}
		if msgs, err := s.TakeOffline(bg, "juliet"); err != nil || len(msgs) != 1 {
			b.Fatal(len(msgs), err)
		}
	}
}

// benchPutRosterItem replaces one of 100 contacts (a roster set).
func benchPutRosterItem(b *testing.B, s store.Store) {
	items := make([]store.RosterItem, 100)
	for i := range items {
		items[i] = SampleItem(fmt.Sprintf("c%d@example.net", i))
	}
	i := 0
	for b.Loop() {
		it := items[i%len(items)]
		it.Name = fmt.Sprint(i) // a change, so that every store writes
		if err := s.PutRosterItem(bg, "juliet", it); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// benchSubscribe changes both ends of a subscription in one UpdatePair, alternating a
// request and its withdrawal so that every iteration writes two items.
func benchSubscribe(b *testing.B, s store.Store) {
	MustCreate(b, s, "romeo")
	jr, rj := key("juliet", "romeo"), key("romeo", "juliet")
	ask := false
	for b.Loop() {
		ask = !ask
		err := store.UpdatePair(bg, s, jr, rj, func(a, c *store.RosterSlot) error {
			a.Exists, c.Exists = true, true
			a.Item.AskOut, c.Item.PendingIn = ask, ask
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// benchRoster reads a 100-contact roster.
func benchRoster(b *testing.B, s store.Store) {
	fill(b, s, 100)
	for b.Loop() {
		if r, err := s.Roster(bg, "juliet"); err != nil || len(r) != 100 {
			b.Fatal(len(r), err)
		}
	}
}

// fill gives juliet n contacts.
func fill(b *testing.B, s store.Store, n int) {
	for i := range n {
		if err := s.PutRosterItem(bg, "juliet", SampleItem(fmt.Sprintf("c%d@example.net", i))); err != nil {
			b.Fatal(err)
		}
	}
}
