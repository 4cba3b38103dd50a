package pgstore_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/stanzascope/stanzascope/switch/store"
	"github.com/stanzascope/stanzascope/switch/store/pgstore"
	"github.com/stanzascope/stanzascope/switch/store/pgtest"
	"github.com/stanzascope/stanzascope/switch/store/storetest"
)

// One PostgreSQL cluster for the package's tests; each test gets a database of its own.
func TestMain(m *testing.M) { pgtest.Main(m) }

var ctx = context.Background()

func open(t testing.TB, url string, opts ...store.Option) *pgstore.Store {
	t.Helper()
	s, err := pgstore.Open(ctx, url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, opts ...store.Option) store.Store {
		return open(t, pgtest.Database(t), opts...)
	})
}

// TestTwoNodesTake takes one user's offline messages through two stores on one database,
// as two switch nodes would, while messages arrive: each is delivered exactly once.
func TestTwoNodesTake(t *testing.T) {
	url := pgtest.Database(t)
	a, b := open(t, url), open(t, url)
	defer a.Close()
	defer b.Close()
	storetest.ConcurrentTake(t, a, b)
}

// TestTwoNodesClaim claims one user's offline messages through two stores on one
// database, as two switch nodes delivering them would, while messages arrive: each is
// claimed exactly once.
func TestTwoNodesClaim(t *testing.T) {
	url := pgtest.Database(t)
	a, b := open(t, url), open(t, url)
	defer a.Close()
	defer b.Close()
	storetest.ConcurrentClaim(t, a, b)
}

// TestTwoNodesWaitRelease: a node whose WaitOffline waits for another node's claim on one
// database is woken by that claim's release (PostgreSQL's notification), not by the end of
// its lease.
func TestTwoNodesWaitRelease(t *testing.T) {
	url := pgtest.Database(t)
	a, b := open(t, url), open(t, url)
	defer a.Close()
	defer b.Close()
	storetest.WaitRelease(t, a, b, func(user string) int { return pgstore.Waiting(b, user) })
}

// TestTwoNodesClaimRenew: a delivery on one node that renews its claim keeps it for as
// long as it goes on: the other node's claims and takes on the same database get nothing.
func TestTwoNodesClaimRenew(t *testing.T) {
	url := pgtest.Database(t)
	a, b := open(t, url, store.WithClaimLease(time.Second)), open(t, url, store.WithClaimLease(time.Second))
	defer a.Close()
	defer b.Close()
	storetest.ClaimRenew(t, a, b)
}

// TestTwoNodesSubscribe has two stores on one database change both ends of many
// subscriptions at once: the account locks keep each pair's update whole across nodes.
func TestTwoNodesSubscribe(t *testing.T) {
	url := pgtest.Database(t)
	a, b := open(t, url), open(t, url)
	defer a.Close()
	defer b.Close()
	for _, u := range []string{"juliet", "romeo"} {
		storetest.MustCreate(t, a, u)
	}
	jr := store.RosterKey{User: "juliet", JID: "romeo@example.com"}
	rj := store.RosterKey{User: "romeo", JID: "juliet@example.com"}
	const each = 50
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	// Each node bumps a counter kept in both items' names; a lost update loses a count.
	for _, s := range []store.Store{a, b} {
		wg.Go(func() {
			for range each {
				err := store.UpdatePair(ctx, s, jr, rj, func(x, y *store.RosterSlot) error {
					n := len(x.Item.Name)
					if len(y.Item.Name) != n {
						return errors.New("the two ends differ")
					}
					x.Exists, y.Exists = true, true
					x.Item.Name += "+"
					y.Item.Name += "+"
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, k := range []store.RosterKey{jr, rj} {
		it, err := a.RosterItem(ctx, k.User, k.JID)
		if err != nil || len(it.Name) != 2*each {
			t.Errorf("%s's item has %d counts, want %d: %v", k.User, len(it.Name), 2*each, err)
		}
	}
}

// TestSchema checks the versioned schema: nodes that start at once on a new database
// migrate it once; a database from a newer program is refused with a clear error.
func TestSchema(t *testing.T) {
	url := pgtest.Database(t)
	var wg sync.WaitGroup
	stores := make([]*pgstore.Store, 4)
	errs := make([]error, len(stores))
	for i := range stores {
		wg.Go(func() { stores[i], errs[i] = pgstore.Open(ctx, url) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v, rows int
	if err := conn.QueryRow(ctx, "SELECT max(version), count(*) FROM schema_version").Scan(&v, &rows); err != nil {
		t.Fatal(err)
	}
	if v != pgstore.SchemaVersion || rows != 1 {
		t.Errorf("schema_version: version %d in %d rows, want %d in 1", v, rows, pgstore.SchemaVersion)
	}
	// No column can hold a password: only salts and SCRAM keys.
	var cols string
	if err := conn.QueryRow(ctx, `SELECT string_agg(column_name, ',' ORDER BY column_name) FROM information_schema.columns
		WHERE table_name = 'accounts'`).Scan(&cols); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(cols, "password") {
		t.Errorf("accounts has a password column: %s", cols)
	}
	if _, err := conn.Exec(ctx, "UPDATE schema_version SET version = 99"); err != nil {
		t.Fatal(err)
	}
	_, err = pgstore.Open(ctx, url)
	if err == nil || !strings.Contains(err.Error(), "schema version is 99") {
		t.Errorf("newer schema: %v", err)
	}
}

// TestUnavailable stops the database under an open store: operations fail promptly with
// ErrUnavailable, nothing acknowledged before is lost, and the store works again once the
// database is back.
// The package's tests run one at a time, so the shared cluster can be stopped here.
func TestUnavailable(t *testing.T) {
	url := pgtest.Database(t)
	c := pgtest.Shared(t)
	s := open(t, url)
	defer s.Close()
	storetest.MustCreate(t, s, "juliet")
	for i := range 3 {
		if err := s.AddOffline(ctx, "juliet", storetest.SampleMessage(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := s.Account(ctx, "juliet"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Account with the database down: %v, want ErrUnavailable", err)
	} else {
		t.Logf("Account with the database down, after %v: %v", time.Since(start).Round(time.Millisecond), err)
	}
	if err := s.AddOffline(ctx, "juliet", storetest.SampleMessage(3)); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("AddOffline with the database down: %v, want ErrUnavailable", err)
	}
	if m, err := s.TakeOffline(ctx, "juliet"); !errors.Is(err, store.ErrUnavailable) || len(m) != 0 {
		t.Errorf("TakeOffline with the database down: %d messages, %v", len(m), err)
	}
	if d := time.Since(start); d > pgstore.OpTimeout {
		t.Errorf("failing took %v", d)
	}
	if _, err := pgstore.Open(ctx, url); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Open with the database down: %v, want ErrUnavailable", err)
	}

	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Account(ctx, "juliet"); err != nil {
		t.Errorf("Account after restart: %v", err)
	}
	msgs, err := s.TakeOffline(ctx, "juliet")
	if err != nil {
		t.Fatal(err)
	}
	storetest.CheckMessages(t, msgs, 0, 3)
}

func TestBadURL(t *testing.T) {
	_, err := pgstore.Open(ctx, "postgres://juliet:r0m30@127.0.0.1:notaport/db")
	if err == nil || strings.Contains(err.Error(), "r0m30") {
		t.Errorf("bad URL: %v", err)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://juliet:r0m30@db.example.com/switch":               "postgres://juliet:xxxxx@db.example.com/switch",
		"postgresql://db/switch?user=juliet&password=r0m30":           "postgresql://db/switch?password=xxxxx&user=juliet",
		"postgres://db.example.com/switch":                            "postgres://db.example.com/switch",
		"host=db user=juliet password=r0m30 dbname=switch":            "host=db user=juliet password=xxxxx dbname=switch",
		"host=db password='r0 m30' dbname=switch":                     "host=db password=xxxxx dbname=switch",
		"postgres://juliet:r0m30@db.example.com/%zz":                  "postgres://(unparsable URL)",
		"postgres://juliet@db.example.com:5433/switch?sslmode=verify": "postgres://juliet@db.example.com:5433/switch?sslmode=verify",
	} {
		if got := pgstore.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	if !pgstore.IsURL("postgresql://x") || !pgstore.IsURL("postgres://x") || pgstore.IsURL("/var/lib/switch.db") {
		t.Error("IsURL")
	}
}
