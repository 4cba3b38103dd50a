package store_test

import (
	"fmt"
	"testing"

	"github.com/stanzascope/stanzascope/switch/store"
	"github.com/stanzascope/stanzascope/switch/store/storetest"
)

// The store.Bolt figures are dominated by fsync: one per mutating call, by design.

func benchStores(b *testing.B, fn func(b *testing.B, s store.Store)) {
	b.Run("Memory", func(b *testing.B) {
		s := store.NewMemory()
		defer s.Close()
		fn(b, s)
	})
	b.Run("Bolt", func(b *testing.B) {
		s, err := store.OpenBolt(b.TempDir() + "/switch.db")
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		fn(b, s)
	})
}

func BenchmarkAddOffline(b *testing.B) {
	benchStores(b, func(b *testing.B, s store.Store) {
		if err := s.CreateAccount(ctx, storetest.SampleAccount("juliet")); err != nil {
			b.Fatal(err)
		}
		m := storetest.SampleMessage(1)
		b.ReportAllocs()
		for b.Loop() {
			if err := s.AddOffline(ctx, "juliet", m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkOfflineRoundTrip stores one message and takes it back, as for a message to a
// user who logs in later: two transactions for store.Bolt. (Timing TakeOffline alone would need
// StopTimer around the refill, which costs more than what it measures.)
func BenchmarkOfflineRoundTrip(b *testing.B) {
	benchStores(b, func(b *testing.B, s store.Store) {
		if err := s.CreateAccount(ctx, storetest.SampleAccount("juliet")); err != nil {
			b.Fatal(err)
		}
		m := storetest.SampleMessage(1)
		b.ReportAllocs()
		for b.Loop() {
			if err := s.AddOffline(ctx, "juliet", m); err != nil {
				b.Fatal(err)
			}
			if msgs, err := s.TakeOffline(ctx, "juliet"); err != nil || len(msgs) != 1 {
				b.Fatal(len(msgs), err)
			}
		}
	})
}

func BenchmarkPutRosterItem(b *testing.B) {
	benchStores(b, func(b *testing.B, s store.Store) {
		if err := s.CreateAccount(ctx, storetest.SampleAccount("juliet")); err != nil {
			b.Fatal(err)
		}
		items := make([]store.RosterItem, 100)
		for i := range items {
			items[i] = storetest.SampleItem(fmt.Sprintf("c%d@example.net", i))
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := s.PutRosterItem(ctx, "juliet", items[i%len(items)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkRoster reads a 100-contact roster, as at every login.
func BenchmarkRoster(b *testing.B) {
	benchStores(b, func(b *testing.B, s store.Store) {
		if err := s.CreateAccount(ctx, storetest.SampleAccount("juliet")); err != nil {
			b.Fatal(err)
		}
		for i := range 100 {
			if err := s.PutRosterItem(ctx, "juliet", storetest.SampleItem(fmt.Sprintf("c%d@example.net", i))); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		for b.Loop() {
			if r, err := s.Roster(ctx, "juliet"); err != nil || len(r) != 100 {
				b.Fatal(len(r), err)
			}
		}
	})
}

func BenchmarkAccount(b *testing.B) {
	benchStores(b, func(b *testing.B, s store.Store) {
		if err := s.CreateAccount(ctx, storetest.SampleAccount("juliet")); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Account(ctx, "juliet"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
