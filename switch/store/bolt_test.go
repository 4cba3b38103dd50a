package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/switch/store"
	"github.com/stanzascope/stanzascope/switch/store/storetest"
	bolt "go.etcd.io/bbolt"
)

var ctx = context.Background()

func TestBolt(t *testing.T) {
	storetest.Run(t, func(t *testing.T, opts ...store.Option) store.Store {
		b, err := store.OpenBolt(filepath.Join(t.TempDir(), "switch.db"), opts...)
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

func TestBoltReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "switch.db")
	b, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	a := storetest.MustCreate(t, b, "juliet")
	if err := b.PutRosterItem(ctx, "juliet", storetest.SampleItem("romeo@example.net")); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := b.AddOffline(ctx, "juliet", storetest.SampleMessage(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b, err = store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got, err := b.Account(ctx, "juliet"); err != nil || !storetest.EqualAccount(got, a) {
		t.Errorf("account after reopen: %+v, %v", got, err)
	}
	if it, err := b.RosterItem(ctx, "juliet", "romeo@example.net"); err != nil || it.Subscription != store.SubFrom || string(it.PendingStanza) != "<presence type='subscribe'/>" {
		t.Errorf("roster after reopen: %+v, %v", it, err)
	}
	msgs, err := b.TakeOffline(ctx, "juliet")
	if err != nil {
		t.Fatal(err)
	}
	storetest.CheckMessages(t, msgs, 0, 3)
}

func TestBoltPermissions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new", "dir", "switch.db")
	b, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Path() != path {
		t.Errorf("Path = %q", b.Path())
	}
	for p, want := range map[string]os.FileMode{path: 0o600, filepath.Dir(path): 0o700, filepath.Dir(filepath.Dir(path)): 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got&^want != 0 {
			t.Errorf("%s has mode %o, want at most %o", p, got, want)
		}
	}
}

// TestBoltLocked checks that a second opener gets a clear error instead of hanging. flock
// locks conflict between two opens even inside one process; TestKillDurability checks the
// same against a real second process.
func TestBoltLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "switch.db")
	b, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	start := time.Now()
	_, err = store.OpenBolt(path, store.WithLockTimeout(100*time.Millisecond))
	if !errors.Is(err, store.ErrLocked) || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("second open took %v", d)
	}
}

func TestBoltBadFiles(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, []byte(strings.Repeat("not a database\n", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := store.OpenBolt(junk); err == nil || !strings.Contains(err.Error(), "not a usable database") {
		t.Errorf("junk file: %v", err)
	}

	// A database from a future version of this program is refused, not misread.
	future := filepath.Join(dir, "future.db")
	db, err := bolt.Open(future, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		m, _ := tx.CreateBucketIfNotExists([]byte("meta"))
		return m.Put([]byte("format"), []byte("99"))
	})
	db.Close()
	if _, err := store.OpenBolt(future); err == nil || !strings.Contains(err.Error(), "layout version") {
		t.Errorf("future layout: %v", err)
	}

	// A record with an unknown version is an error, not a zero value.
	records := filepath.Join(dir, "records.db")
	b, err := store.OpenBolt(records)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	if db, err = bolt.Open(records, 0o600, nil); err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("accounts")).Put([]byte("juliet"), []byte(`{"v":2,"username":"juliet"}`))
	})
	db.Close()
	if b, err = store.OpenBolt(records); err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Account(ctx, "juliet"); err == nil || !strings.Contains(err.Error(), "version 2") {
		t.Errorf("future record: %v", err)
	}

	if _, err := store.OpenBolt(filepath.Join(junk, "sub", "x.db")); err == nil {
		t.Error("path under a regular file accepted")
	}
}

func TestDefaultPath(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", "/data/home")
	if p, err := store.DefaultPath(); err != nil || p != "/data/home/stanzascope/switch.db" {
		t.Errorf("with XDG_DATA_HOME: %q, %v", p, err)
	}
	t.Setenv("HOME", "/home/juliet")
	for _, xdg := range []string{"", "relative/path"} {
		t.Setenv("XDG_DATA_HOME", xdg)
		if p, err := store.DefaultPath(); err != nil || p != "/home/juliet/.local/share/stanzascope/switch.db" {
			t.Errorf("XDG_DATA_HOME=%q: %q, %v", xdg, p, err)
		}
	}
}

// TestBoltWaitRelease: a WaitOffline that waits is woken by the release.
func TestBoltWaitRelease(t *testing.T) {
	s, err := store.OpenBolt(filepath.Join(t.TempDir(), "switch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.WaitRelease(t, s, s, func(user string) int { return store.Waiting(s, user) })
}
