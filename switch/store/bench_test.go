package store

import (
	"fmt"
	"testing"
)

// The Bolt figures are dominated by fsync: one per mutating call, by design.

func benchStores(b *testing.B, fn func(b *testing.B, s Store)) {
	b.Run("Memory", func(b *testing.B) {
		s := NewMemory()
		defer s.Close()
		fn(b, s)
	})
	b.Run("Bolt", func(b *testing.B) {
		s, err := OpenBolt(b.TempDir() + "/switch.db")
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		fn(b, s)
	})
}

func BenchmarkAddOffline(b *testing.B) {
	benchStores(b, func(b *testing.B, s Store) {
		if err := s.CreateAccount(bg, sampleAccount("juliet")); err != nil {
			b.Fatal(err)
		}
		m := sampleMessage(1)
		b.ReportAllocs()
		for b.Loop() {
			if err := s.AddOffline(bg, "juliet", m); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkOfflineRoundTrip stores one message and takes it back, as for a message to a
// user who logs in later: two transactions for Bolt. (Timing TakeOffline alone would need
// StopTimer around the refill, which costs more than what it measures.)
func BenchmarkOfflineRoundTrip(b *testing.B) {
	benchStores(b, func(b *testing.B, s Store) {
		if err := s.CreateAccount(bg, sampleAccount("juliet")); err != nil {
			b.Fatal(err)
		}
		m := sampleMessage(1)
		b.ReportAllocs()
		for b.Loop() {
			if err := s.AddOffline(bg, "juliet", m); err != nil {
				b.Fatal(err)
			}
			if msgs, err := s.TakeOffline(bg, "juliet"); err != nil || len(msgs) != 1 {
				b.Fatal(len(msgs), err)
			}
		}
	})
}

func BenchmarkPutRosterItem(b *testing.B) {
	benchStores(b, func(b *testing.B, s Store) {
		if err := s.CreateAccount(bg, sampleAccount("juliet")); err != nil {
			b.Fatal(err)
		}
		items := make([]RosterItem, 100)
		for i := range items {
			items[i] = sampleItem(fmt.Sprintf("c%d@example.net", i))
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := s.PutRosterItem(bg, "juliet", items[i%len(items)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkRoster reads a 100-contact roster, as at every login.
func BenchmarkRoster(b *testing.B) {
	benchStores(b, func(b *testing.B, s Store) {
		if err := s.CreateAccount(bg, sampleAccount("juliet")); err != nil {
			b.Fatal(err)
		}
		for i := range 100 {
			if err := s.PutRosterItem(bg, "juliet", sampleItem(fmt.Sprintf("c%d@example.net", i))); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		for b.Loop() {
			if r, err := s.Roster(bg, "juliet"); err != nil || len(r) != 100 {
				b.Fatal(len(r), err)
			}
		}
	})
}

func BenchmarkAccount(b *testing.B) {
	benchStores(b, func(b *testing.B, s Store) {
		if err := s.CreateAccount(bg, sampleAccount("juliet")); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Account(bg, "juliet"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
