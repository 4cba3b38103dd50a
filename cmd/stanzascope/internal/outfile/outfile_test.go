package outfile

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// bothWays runs f twice: with files written direct where the file system allows it, and
// with direct writing turned off (written behind on Linux, plainly elsewhere).
func bothWays(t *testing.T, f func(t *testing.T)) {
	for _, way := range []struct {
		name     string
		noDirect bool
	}{{"direct", false}, {"behind", true}} {
		t.Run(way.name, func(t *testing.T) {
			defer func(v bool) { noDirect = v }(noDirect)
			noDirect = way.noDirect
			f(t)
		})
	}
}

// spans writes n bytes of pseudo-random data to o in writes of varying sizes (up to
// 64 KiB, as the log's buffer writes) and returns them.
func spans(t *testing.T, o *File, n int, seed uint64) []byte {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	for p := data; len(p) > 0; {
		k := min(len(p), 1+r.IntN(64<<10))
		w, err := o.Write(p[:k])
		if err != nil || w != k {
			t.Fatalf("Write(%d bytes) = %d, %v", k, w, err)
		}
		p = p[k:]
	}
	return data
}

// Every byte written is in the file, in order, after what an appended file held; across
// many steps of write-back; and the file is private even when it existed.
func TestEveryByteKept(t *testing.T) { bothWays(t, testEveryByteKept) }

func testEveryByteKept(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.jsonl")
	before := []byte("a line from the run before\n")
	if err := os.WriteFile(path, before, 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := Open(path, os.O_APPEND)
	if err != nil {
		t.Fatal(err)
	}
	if o.d == nil && !o.behind && canWriteBehind {
		t.Fatal("a regular file is written neither direct nor behind")
	}
	data := spans(t, o, 3*Span+Span/3, 1)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, append(before, data...)) {
		t.Fatalf("the file holds %d bytes, not the %d+%d written", len(got), len(before), len(data))
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}
	if o.behind && o.dropped <= int64(len(before)) {
		t.Fatalf("nothing was dropped from the cache after %d bytes (dropped up to %d)", len(data), o.dropped)
	}
}

// A file that is not a regular file (a device, a pipe) is written plainly, and keeps its
// mode: /dev/null made 0600 by a root process breaks every other user of the machine (it
// did, in this test, before Private looked).
func TestNotRegularFile(t *testing.T) {
	before, err := os.Stat(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	o, err := Open(os.DevNull, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if o.behind || o.d != nil {
		t.Fatal("a device is written behind or direct")
	}
	spans(t, o, 2*Span+1, 2)
	if after, err := os.Stat(os.DevNull); err != nil || after.Mode() != before.Mode() {
		t.Fatalf("%s was %v, is %v (%v)", os.DevNull, before.Mode(), after.Mode(), err)
	}
}

// Truncating starts at 0, whatever the file held.
func TestTruncateStartsAtZero(t *testing.T) { bothWays(t, testTruncateStartsAtZero) }

func testTruncateStartsAtZero(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.pcap")
	if err := os.WriteFile(path, bytes.Repeat([]byte("x"), 1000), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := Open(path, os.O_TRUNC)
	if err != nil {
		t.Fatal(err)
	}
	data := spans(t, o, Span+7, 3)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, data) {
		t.Fatalf("the file holds %d bytes, want the %d written", len(got), len(data))
	}
}
