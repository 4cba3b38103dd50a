package server

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/switch/scram"
	"github.com/stanzascope/stanzascope/switch/store"
	"github.com/stanzascope/stanzascope/switch/store/pgstore"
	"github.com/stanzascope/stanzascope/switch/store/pgtest"
)

// TestConcurrentSubscriptions has 100 clients subscribe to each other at once: each asks
// its 8 nearest neighbours on a ring, so both users of a pair change the same two roster
// items at the same time; then each approves the 8 requests it received, all at once
// again. Every pair must end as "both" on both sides, with nothing pending: the store's
// transactions, not a server-wide lock, keep the two ends of each subscription together.
// On Memory and on PostgreSQL (Bolt passes the same test at the store level, in
// storetest), and race-free under -race.
func TestConcurrentSubscriptions(t *testing.T) {
	t.Run("Memory", func(t *testing.T) { concurrentSubscriptions(t, store.NewMemory()) })
	t.Run("Postgres", func(t *testing.T) {
		db, err := pgstore.Open(context.Background(), pgtest.Database(t))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		concurrentSubscriptions(t, db)
	})
}

func concurrentSubscriptions(t *testing.T, db store.Store) {
	const users, near = 100, 4
	ts := startServer(t, func(c *Config) { c.Store = db })
	name := func(i int) string { return fmt.Sprintf("user%d", (i+users)%users) }
	clients := make([]*rawClient, users)
	creds, err := scram.NewCredentials("pw", scram.MinIterations) // one derivation for all
	if err != nil {
		t.Fatal(err)
	}
	for i := range users {
		if err := db.CreateAccount(context.Background(), store.Account{Username: name(i), Creds: creds}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range users {
		clients[i] = legacyLogin(t, ts.addr, name(i), "pw", "r")
		clients[i].send("<presence/>") // available, so that requests are delivered at once
	}
	// each runs step for every client at once and waits for all of them.
	each := func(step func(i int, c *rawClient) error) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, users)
		start := make(chan struct{})
		for i, c := range clients {
			wg.Go(func() {
				<-start
				if err := step(i, c); err != nil {
					errs <- fmt.Errorf("%s: %w", name(i), err)
				}
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	// expect reads until n presences of type typ came, ignoring the others.
	expect := func(c *rawClient, typ string, n int) error {
		deadline := time.Now().Add(60 * time.Second)
		for got := 0; got < n; {
			s, err := c.tryStanza(time.Until(deadline))
			if err != nil {
				return fmt.Errorf("%d of %d %s presences: %w (%q)", got, n, typ, err, s)
			}
			if strings.HasPrefix(s, "<presence") && strings.Contains(s, "type='"+typ+"'") {
				got++
			}
		}
		return nil
	}
	neighbours := func(i int) []string {
		var ns []string
		for d := 1; d <= near; d++ {
			ns = append(ns, name(i+d), name(i-d))
		}
		return ns
	}
	each(func(i int, c *rawClient) error {
		var b strings.Builder
		for _, n := range neighbours(i) {
			fmt.Fprintf(&b, "<presence to='%s@localhost' type='subscribe'/>", n)
		}
		c.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.WriteString(c.conn, b.String()); err != nil {
			return err
		}
		return expect(c, "subscribe", 2*near)
	})
	each(func(i int, c *rawClient) error {
		var b strings.Builder
		for _, n := range neighbours(i) {
			fmt.Fprintf(&b, "<presence to='%s@localhost' type='subscribed'/>", n)
		}
		c.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.WriteString(c.conn, b.String()); err != nil {
			return err
		}
		return expect(c, "subscribed", 2*near)
	})
	for i := range users {
		r, err := db.Roster(context.Background(), name(i))
		if err != nil {
			t.Fatal(err)
		}
		if len(r) != 2*near {
			t.Fatalf("%s has %d contacts, want %d: %+v", name(i), len(r), 2*near, r)
		}
		for _, it := range r {
			if it.Subscription != store.SubBoth || it.AskOut || it.PendingIn {
				t.Errorf("%s's item %s: %+v, want both with nothing pending", name(i), it.JID, it)
			}
		}
	}
}
