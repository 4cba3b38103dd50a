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
	// It measures a login, not the limit on logins per address (120 a minute by default,
	// which -benchtime 200x passed).
	ts := startServer(b, func(c *Config) { c.Store = db; c.LoginsPerMinute = -1 })
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

// BenchmarkOfflineDelivery logs in a user with 100 stored messages on Bolt (fsync per
// write) and reads them all: what confirming the delivery to the store costs (one write
// per chunk of offlineChunk messages, each after the chunk was written to the client).
func BenchmarkOfflineDelivery(b *testing.B) {
	db, err := store.OpenBolt(filepath.Join(b.TempDir(), "switch.db"), store.WithLimits(store.Limits{Offline: 1000}))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	// It measures a login, not the limit on logins per address (120 a minute by default,
	// which -benchtime 200x passed).
	ts := startServer(b, func(c *Config) { c.Store = db; c.LoginsPerMinute = -1 })
	switchtest.AddAccount(b, db, "u0", "pw")
	const n = 100
	stanza := []byte("<message to='u0@localhost' type='chat' from='jane@localhost/Home'><body>I wish to complain about this parrot what I purchased not half an hour ago from this very boutique.</body></message>")
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		for range n {
			if err := db.AddOffline(context.Background(), "u0", store.OfflineMessage{Stanza: stanza, From: "jane@localhost/Home", Stamp: time.Now()}); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		conn, err := idleClient(ts.addr, "u0", false)
		if err != nil {
			b.Fatal(err)
		}
		conn.SetDeadline(time.Now().Add(time.Minute))
		buf := make([]byte, 32<<10)
		var got []byte
		for strings.Count(string(got), "</message>") < n {
			k, err := conn.Read(buf)
			if err != nil {
				b.Fatalf("reading the stored messages: %v (got %d)", err, strings.Count(string(got), "</message>"))
			}
			got = append(got, buf[:k]...)
		}
		io.WriteString(conn, "</stream:stream>")
		io.Copy(io.Discard, conn) // until the switch closes: the session has ended
		conn.Close()
	}
}
