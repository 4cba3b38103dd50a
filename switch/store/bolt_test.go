package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func openTestBolt(t *testing.T) *Bolt {
	t.Helper()
	b, err := OpenBolt(filepath.Join(t.TempDir(), "switch.db"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBolt(t *testing.T) {
	testStore(t, func(t *testing.T) Store { return openTestBolt(t) })
}

func TestBoltReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "switch.db")
	b, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	a := mustCreate(t, b, "juliet")
	if err := b.PutRosterItem(bg, "juliet", sampleItem("romeo@example.net")); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := b.AddOffline(bg, "juliet", sampleMessage(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	b, err = OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if got, err := b.Account(bg, "juliet"); err != nil || !equalAccount(got, a) {
		t.Errorf("account after reopen: %+v, %v", got, err)
	}
	if it, err := b.RosterItem(bg, "juliet", "romeo@example.net"); err != nil || it.Subscription != SubFrom || string(it.PendingStanza) != "<presence type='subscribe'/>" {
		t.Errorf("roster after reopen: %+v, %v", it, err)
	}
	msgs, err := b.TakeOffline(bg, "juliet")
	if err != nil {
		t.Fatal(err)
	}
	checkMessages(t, msgs, 0, 3)
}

func TestBoltPermissions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new", "dir", "switch.db")
	b, err := OpenBolt(path)
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
	b, err := OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	start := time.Now()
	_, err = OpenBolt(path, WithLockTimeout(100*time.Millisecond))
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "locked by another process") {
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
	if _, err := OpenBolt(junk); err == nil || !strings.Contains(err.Error(), "not a usable database") {
		t.Errorf("junk file: %v", err)
	}

	// A database from a future version of this program is refused, not misread.
	future := filepath.Join(dir, "future.db")
	db, err := bolt.Open(future, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		m, _ := tx.CreateBucketIfNotExists(bucketMeta)
		return m.Put(keyFormat, []byte("99"))
	})
	db.Close()
	if _, err := OpenBolt(future); err == nil || !strings.Contains(err.Error(), "layout version") {
		t.Errorf("future layout: %v", err)
	}

	// A record with an unknown version is an error, not a zero value.
	b, err := OpenBolt(filepath.Join(dir, "records.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	b.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAccounts).Put([]byte("juliet"), []byte(`{"v":2,"username":"juliet"}`))
	})
	if _, err := b.Account(bg, "juliet"); err == nil || !strings.Contains(err.Error(), "version 2") {
		t.Errorf("future record: %v", err)
	}

	if _, err := OpenBolt(filepath.Join(junk, "sub", "x.db")); err == nil {
		t.Error("path under a regular file accepted")
	}
}

func TestDefaultPath(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", "/data/home")
	if p, err := DefaultPath(); err != nil || p != "/data/home/stanzascope/switch.db" {
		t.Errorf("with XDG_DATA_HOME: %q, %v", p, err)
	}
	t.Setenv("HOME", "/home/juliet")
	for _, xdg := range []string{"", "relative/path"} {
		t.Setenv("XDG_DATA_HOME", xdg)
		if p, err := DefaultPath(); err != nil || p != "/home/juliet/.local/share/stanzascope/switch.db" {
			t.Errorf("XDG_DATA_HOME=%q: %q, %v", xdg, p, err)
		}
	}
}
