package store_test

import (
	"path/filepath"
	"testing"

	"github.com/stanzascope/stanzascope/switch/store"
	"github.com/stanzascope/stanzascope/switch/store/storetest"
)

// The benchmarks are storetest's, the same for every store (switch/store/pgstore runs them
// on PostgreSQL). The Bolt figures are dominated by fsync: one per mutating call, by design.

func BenchmarkMemory(b *testing.B) {
	storetest.Benchmark(b, func(b *testing.B) store.Store { return store.NewMemory() })
}

func BenchmarkBolt(b *testing.B) {
	storetest.Benchmark(b, func(b *testing.B) store.Store {
		s, err := store.OpenBolt(filepath.Join(b.TempDir(), "switch.db"))
		if err != nil {
			b.Fatal(err)
		}
		return s
	})
}
