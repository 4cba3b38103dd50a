package pgstore_test

import (
	"testing"

	"github.com/stanzascope/stanzascope/switch/store"
	"github.com/stanzascope/stanzascope/switch/store/pgtest"
	"github.com/stanzascope/stanzascope/switch/store/storetest"
)

// BenchmarkPostgres runs storetest's benchmarks, the ones switch/store runs on Memory and
// Bolt, on a cluster with PostgreSQL's default durability (fsync and synchronous commit
// on, as in production), over TCP on loopback, a fresh database each.
func BenchmarkPostgres(b *testing.B) {
	c := pgtest.SharedConfig(b, pgtest.Config{Durable: true})
	storetest.Benchmark(b, func(b *testing.B) store.Store {
		url, err := c.CreateDatabase(ctx)
		if err != nil {
			b.Fatal(err)
		}
		return open(b, url)
	})
}
