package server

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/switch/store"
	"github.com/stanzascope/stanzascope/switch/store/pgstore"
	"github.com/stanzascope/stanzascope/switch/store/pgtest"
	"github.com/stanzascope/stanzascope/switch/switchtest"
)

// BenchmarkLogin logs a user with 20 contacts in and out over loopback, as a client does:
// a 1.0 stream, SASL PLAIN (its PBKDF2 check, 4096 iterations, is a fixed part of every
// figure), binding, initial presence (the roster read, the broadcast and probes, the
// offline queue taken) until the user's own presence comes back, then the closing tag.
// Bolt (fsync per write) against PostgreSQL with its default durability, over TCP.
func BenchmarkLogin(b *testing.B) {
	b.Run("Bolt", func(b *testing.B) {
		db, err := store.OpenBolt(filepath.Join(b.TempDir(), "switch.db"))
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		benchLogin(b, db)
	})
	b.Run("Postgres", func(b *testing.B) {
		c := pgtest.SharedConfig(b, pgtest.Config{Durable: true})
		url, err := c.CreateDatabase(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		db, err := pgstore.Open(context.Background(), url)
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		benchLogin(b, db)
	})
}

func benchLogin(b *testing.B, db store.Store) {
	ts := startServer(b, func(c *Config) { c.Store = db })
	switchtest.AddAccount(b, db, "u0", "pw")
	for i := range 20 {
		contact := fmt.Sprintf("c%d", i)
		switchtest.AddAccount(b, db, contact, "pw")
		if err := db.PutRosterItem(context.Background(), "u0", store.RosterItem{JID: contact + "@localhost", Subscription: store.SubBoth}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		conn, err := idleClient(ts.addr, "u0", false)
		if err != nil {
			b.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(time.Minute))
		buf := make([]byte, 4096)
		var got []byte
		for !strings.Contains(string(got), "<presence") {
			n, err := conn.Read(buf)
			if err != nil {
				b.Fatalf("waiting for the presence: %v (got %q)", err, got)
			}
			got = append(got, buf[:n]...)
		}
		io.WriteString(conn, "</stream:stream>")
		io.Copy(io.Discard, conn) // until the switch closes: the session has ended
		conn.Close()
	}
}
