package store_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/switch/store"
	"github.com/stanzascope/stanzascope/switch/store/storetest"
)

// boltMeta is what a bbolt meta page says about the file (bbolt's internal/common.Meta).
type boltMeta struct {
	pageSize        int
	root, freelist  uint64
	highWater, txid uint64
}

// readMeta returns the newer of the file's two meta pages.
func readMeta(t *testing.T, b []byte) boltMeta {
	t.Helper()
	var best boltMeta
	for _, off := range []int{0, int(binary.LittleEndian.Uint32(b[16+8:]))} {
		m := b[off+16:]
		if binary.LittleEndian.Uint32(m) != 0xED0CDAED {
			t.Fatalf("no bbolt meta page at %d", off)
		}
		cur := boltMeta{
			pageSize:  int(binary.LittleEndian.Uint32(m[8:])),
			root:      binary.LittleEndian.Uint64(m[16:]),
			freelist:  binary.LittleEndian.Uint64(m[32:]),
			highWater: binary.LittleEndian.Uint64(m[40:]),
			txid:      binary.LittleEndian.Uint64(m[48:]),
		}
		if cur.txid >= best.txid {
			best = cur
		}
	}
	return best
}

// populated writes a database with enough accounts, rosters and offline messages to span
// many pages, and returns its bytes.
func populated(t *testing.T) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "good.db")
	b, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		user := fmt.Sprintf("user%02d", i)
		storetest.MustCreate(t, b, user)
		for j := range 5 {
			if err := b.PutRosterItem(ctx, user, storetest.SampleItem(fmt.Sprintf("contact%d@example.net", j))); err != nil {
				t.Fatal(err)
			}
		}
		for j := range 5 {
			if err := b.AddOffline(ctx, user, storetest.SampleMessage(j)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestBoltDamaged opens damaged copies of a database: each is refused at open with an
// error that names the file and says what to do, and none panics (issue: 3 of 8 damaged
// copies used to panic at open or at the first login).
func TestBoltDamaged(t *testing.T) {
	good := populated(t)
	meta := readMeta(t, good)
	ps := meta.pageSize
	page := func(b []byte, id uint64) []byte { return b[int(id)*ps : int(id+1)*ps] }
	cases := []struct {
		name   string
		damage func(b []byte) []byte
	}{
		{"freelist page header", func(b []byte) []byte {
			p := page(b, meta.freelist)
			binary.LittleEndian.PutUint16(p[8:], 0x0001) // flags: a branch page, not a freelist
			return b
		}},
		{"freelist page id", func(b []byte) []byte {
			binary.LittleEndian.PutUint64(page(b, meta.freelist), 9999)
			return b
		}},
		{"root page header", func(b []byte) []byte {
			binary.LittleEndian.PutUint64(page(b, meta.root), meta.root+3)
			return b
		}},
		{"root page zeroed", func(b []byte) []byte {
			clear(page(b, meta.root))
			return b
		}},
		{"freelist frees a page in use", func(b []byte) []byte {
			p := page(b, meta.freelist)
			binary.LittleEndian.PutUint16(p[10:], 1) // count
			binary.LittleEndian.PutUint64(p[16:], meta.root)
			return b
		}},
		{"pages beyond the end of the file", func(b []byte) []byte {
			// As a truncation that kept the pages open reads (the meta, root and freelist
			// pages): the meta page counts more pages than the file has.
			for _, off := range []int{0, ps} {
				m := b[off+16:]
				if binary.LittleEndian.Uint64(m[48:]) == meta.txid {
					binary.LittleEndian.PutUint64(m[40:], uint64(len(b)/ps+16))
					h := fnv.New64a()
					h.Write(m[:56])
					binary.LittleEndian.PutUint64(m[56:], h.Sum64())
				}
			}
			return b
		}},
		{"truncated to half", func(b []byte) []byte { return b[:len(b)/2] }},
		{"truncated to a quarter", func(b []byte) []byte { return b[:len(b)/4] }},
		{"data pages zeroed", func(b []byte) []byte {
			for id := uint64(2); id < meta.highWater; id++ {
				if id != meta.root && id != meta.freelist {
					clear(page(b, id))
				}
			}
			return b
		}},
		{"data pages scribbled", func(b []byte) []byte {
			for id := uint64(2); id < meta.highWater; id++ {
				if id != meta.root && id != meta.freelist {
					p := page(b, id)
					for i := 16; i < len(p); i += 7 {
						p[i] ^= 0x5A
					}
				}
			}
			return b
		}},
		{"page counts", func(b []byte) []byte {
			for id := uint64(2); id < meta.highWater; id++ {
				binary.LittleEndian.PutUint16(page(b, id)[10:], 0xFFFF)
			}
			return b
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "switch.db")
			bad := tc.damage(append([]byte(nil), good...))
			if err := os.WriteFile(path, bad, 0o600); err != nil {
				t.Fatal(err)
			}
			// Twice: a failed open leaves no lock behind.
			for range 2 {
				var b *store.Bolt
				var err error
				func() {
					defer func() {
						if r := recover(); r != nil {
							t.Fatalf("OpenBolt panicked: %v", r)
						}
					}()
					b, err = store.OpenBolt(path, store.WithLockTimeout(100*time.Millisecond))
				}()
				if err == nil {
					b.Close()
					t.Fatal("a damaged database opened")
				}
				if !errors.Is(err, store.ErrDamaged) {
					t.Fatalf("error %v is not ErrDamaged", err)
				}
				for _, want := range []string{path, "backup"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not say %q", err, want)
					}
				}
			}
			if after, err := os.ReadFile(path); err != nil || !bytes.Equal(after, bad) {
				t.Errorf("the damaged file changed at open (%v)", err)
			}
		})
	}
}

// TestBoltDamagedWhileOpen: a file damaged under a running store (here truncated to its
// meta pages, so reading any other page faults) makes the calls fail with ErrDamaged, not
// panic; the store refuses every later call instead of writing into the damaged file.
func TestBoltDamagedWhileOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "switch.db")
	good := populated(t)
	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := b.Account(ctx, "user07"); err != nil {
		t.Fatal(err)
	}
	ps := readMeta(t, good).pageSize
	if err := os.Truncate(path, int64(2*ps)); err != nil {
		t.Fatal(err)
	}
	calls := []struct {
		name string
		call func() error
	}{
		{"Account", func() error { _, err := b.Account(ctx, "user07"); return err }},
		{"Roster", func() error { _, err := b.Roster(ctx, "user08"); return err }},
		{"AddOffline", func() error { return b.AddOffline(ctx, "user09", storetest.SampleMessage(1)) }},
		{"TakeOffline", func() error { _, err := b.TakeOffline(ctx, "user10"); return err }},
	}
	for _, c := range calls {
		var err error
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("%s panicked: %v", c.name, r)
				}
			}()
			err = c.call()
		}()
		if !errors.Is(err, store.ErrDamaged) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s on a truncated file: %v, want ErrDamaged naming the file", c.name, err)
		}
	}
}
