package server

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/switch/store"
	"github.com/stanzascope/stanzascope/switch/store/pgstore"
	"github.com/stanzascope/stanzascope/switch/store/pgtest"
)

var bodyRe = regexp.MustCompile(`<body>(m\d+)</body>`)

// readUntilSync reads c's stanzas until the answer to a ping it sends, and returns the
// bodies of the messages among them (presences are skipped).
func readUntilSync(t *testing.T, c *rawClient) []string {
	t.Helper()
	c.send("<iq id='sync' type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	var got []string
	for range 200 {
		s := c.readStanza()
		switch {
		case strings.HasPrefix(s, "<message"):
			m := bodyRe.FindStringSubmatch(s)
			if m == nil {
				t.Fatalf("unexpected message %q", s)
			}
			got = append(got, m[1])
		case strings.Contains(s, "id='sync'"):
			return got
		}
	}
	t.Fatal("no answer to the ping in 200 stanzas")
	return nil
}

// TestOfflineReconnectGetsRest is the reconnect after a network drop in the middle of an
// offline delivery: the session delivering the messages holds their claim while its client
// stops reading; the user logs in again at once from a new connection (another resource,
// as clients that pick one at random do), whose initial delivery finds every message
// still claimed; then the first connection is killed. The new session gets every message
// the first one did not write, in this login and oldest first, and no message is written
// twice over the two connections. On each store (PostgreSQL: the release is heard through
// the database, as a node of a cluster hears it).
func TestOfflineReconnectGetsRest(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testOfflineReconnect(t, store.NewMemory()) })
	t.Run("bolt", func(t *testing.T) {
		db, err := store.OpenBolt(filepath.Join(t.TempDir(), "switch.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() }) // after the server stopped
		testOfflineReconnect(t, db)
	})
	t.Run("postgres", func(t *testing.T) {
		db, err := pgstore.Open(context.Background(), pgtest.Database(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		testOfflineReconnect(t, db)
	})
}

func testOfflineReconnect(t *testing.T, db store.Store) {
	// The default lease (a minute): the rest must come from the release, not its end.
	if db.ClaimLease() < 30*time.Second {
		t.Fatalf("lease %v: too short to tell a release from its end", db.ClaimLease())
	}
	const n = offlineChunk + 8
	ts, first, kill := heldDelivery(t, db, n, true)

	// The new connection logs in while the first still holds the claim: its own
	// delivery finds nothing to claim (the ping's answer comes after it).
	second := legacyLogin(t, ts.addr, "dana", "pw", "Work")
	second.send("<presence/>")
	got := readUntilSync(t, second)

	killed := time.Now()
	kill()
	// What reached the first connection before the held write (the writer may have
	// written m0 to m2 on their own), then its end.
	var firstGot []string
	for {
		s, err := first.tryStanza(10 * time.Second)
		if err != nil {
			break
		}
		if m := bodyRe.FindStringSubmatch(s); m != nil {
			firstGot = append(firstGot, m[1])
		}
	}

	for deadline := time.Now().Add(20 * time.Second); len(firstGot)+len(got) < n; {
		if time.Now().After(deadline) {
			t.Fatalf("the new session got %d messages in this login (%v), the first connection %d (%v); want %d in all",
				len(got), got, len(firstGot), firstGot, n)
		}
		s, err := second.tryStanza(time.Until(deadline))
		if err != nil {
			continue
		}
		if m := bodyRe.FindStringSubmatch(s); m != nil {
			got = append(got, m[1])
		}
	}
	t.Logf("%d messages on the first connection, %d on the new one, the last %v after the kill", len(firstGot), len(got), time.Since(killed))
	all := append(firstGot, got...)
	for i, b := range all {
		if want := fmt.Sprintf("m%d", i); b != want {
			t.Fatalf("message %d over both connections is %s (first %v, new %v)", i, b, firstGot, got)
		}
	}
	// Nothing more comes, and nothing is left.
	if more := readUntilSync(t, second); len(more) != 0 {
		t.Fatalf("messages again after all were delivered: %v", more)
	}
	if left, err := db.TakeOffline(context.Background(), "dana"); err != nil || len(left) != 0 {
		t.Fatalf("left in the store: %d messages, %v", len(left), err)
	}
}
