package outfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// directFS says whether the file system of dir is one where O_DIRECT is known to work,
// so that a test can require the file to be written direct there.
func directFS(t *testing.T, dir string) bool {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return st.Type == unix.EXT4_SUPER_MAGIC || st.Type == unix.XFS_SUPER_MAGIC || st.Type == unix.BTRFS_SUPER_MAGIC
}

// smallBuffer makes direct Files' buffers n bytes for the test, so that a few kilobytes
// of writes fill them many times, and what a Flush hands over visible after a millisecond.
func smallBuffer(t testing.TB, n int) {
	oldSize, oldAfter := bufSize, visibleAfter
	bufSize, visibleAfter = n, time.Millisecond
	t.Cleanup(func() { bufSize, visibleAfter = oldSize, oldAfter })
}

// A step of a scripted run: write n bytes, or (n < 0) Flush.
type step int

const flush step = -1

// run appends (or with trunc, writes from 0) to a file of initial bytes the steps, and
// checks after every Flush that a plain read of the file gives the bytes before plus
// everything written, and after Close that the file is exactly that. It returns whether
// the file was written direct.
func run(t testing.TB, dir string, initial int, trunc bool, steps []step, seed uint64) bool {
	path := filepath.Join(dir, "log")
	r := rand.New(rand.NewPCG(seed, 2))
	before := make([]byte, initial)
	for i := range before {
		before[i] = 'a' + byte(r.IntN(26))
	}
	if err := os.WriteFile(path, before, 0o644); err != nil {
		t.Fatal(err)
	}
	flag := os.O_APPEND
	want := before
	if trunc {
		flag, want = os.O_TRUNC, nil
	}
	o, err := Open(path, flag)
	if err != nil {
		t.Fatal(err)
	}
	wasDirect := o.d != nil
	// check reads the file plainly until it holds want, for at most 10 s (a Flush makes
	// what it handed over visible within Visible, here a millisecond).
	check := func(when string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Equal(got, want) {
				return
			}
			if time.Now().After(deadline) || when == "after Close" || len(got) > len(want) {
				i := 0
				for i < min(len(got), len(want)) && got[i] == want[i] {
					i++
				}
				t.Fatalf("%s: the file holds %d bytes, want %d; they differ from offset %d (initial %d, direct %v)",
					when, len(got), len(want), i, initial, wasDirect)
			}
			time.Sleep(time.Millisecond) // polling, with a deadline
		}
	}
	for i, s := range steps {
		if s == flush {
			if err := o.Flush(); err != nil {
				t.Fatal(err)
			}
			// Half the time, write on while the timer may be writing out.
			if r.IntN(2) == 0 {
				check("after a Flush")
			}
			continue
		}
		// Half the time into the buffer, as the JSON log writes its lines.
		var p []byte
		if r.IntN(2) == 0 {
			p = o.AvailableBuffer()
		}
		for range s {
			p = append(p, byte(i)+byte(r.IntN(256)))
		}
		want = append(want, p...) // p may be the File's buffer: not to be read after Write
		if n, err := o.Write(p); n != len(p) || err != nil {
			t.Fatalf("Write(%d bytes) = %d, %v", len(p), n, err)
		}
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	check("after Close")
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v (%v), want 0600", st.Mode().Perm(), err)
	}
	return wasDirect
}

// Property: whatever the sizes of the writes, wherever the Flushes fall, from whatever
// length the file had, what a Flush handed over is readable at once and the closed file is
// exactly the bytes written; direct, and with direct writing turned off. The buffer is
// made small (3 blocks) so that every case of a block (the first one, unaligned; a tail
// written plainly, then again direct) comes many times.
func TestDirectProperty(t *testing.T) {
	smallBuffer(t, 3*block)
	dir := t.TempDir()
	sizes := []int{0, 1, block - 1, block, block + 1, 3*block - 5, 3 * block, 7*block + 100}
	r := rand.New(rand.NewPCG(12, 0))
	for _, off := range []bool{false, true} {
		noDirect = off
		for c := range 60 {
			initial := sizes[c%len(sizes)]
			if c >= len(sizes) {
				initial = r.IntN(5 * block)
			}
			var steps []step
			for range 1 + r.IntN(40) {
				switch k := r.IntN(10); {
				case k < 3:
					steps = append(steps, flush)
				case k < 6:
					steps = append(steps, step(1+r.IntN(block/4)))
				case k < 9:
					steps = append(steps, step(1+r.IntN(2*block)))
				default:
					steps = append(steps, step(1+r.IntN(5*bufSize)))
				}
			}
			direct := run(t, dir, initial, c%5 == 4, steps, uint64(c))
			if !off && !direct && directFS(t, dir) {
				t.Fatal("not written direct on a file system that can")
			}
			if off && direct {
				t.Fatal("written direct with direct writing turned off")
			}
		}
	}
	noDirect = false
}

// A file system that refuses a direct write after others went through (EINVAL: here
// forced from an offset on): the File writes behind from there, and the file still
// holds every byte, in order, after every Flush and at Close.
func TestDirectRefusedMidway(t *testing.T) {
	smallBuffer(t, 3*block)
	dir := t.TempDir()
	if !directFS(t, dir) {
		t.Skipf("%s: no file system known to write direct", dir)
	}
	defer func() { refuse = nil }()
	r := rand.New(rand.NewPCG(13, 0))
	for c, from := range []int64{0, block, 3 * block, 7 * block, 20 * block, 20 * block} {
		refuse = func(off int64) bool { return off >= from }
		var steps []step
		for range 40 {
			if r.IntN(4) == 0 {
				steps = append(steps, flush)
			} else {
				steps = append(steps, step(1+r.IntN(3*block)))
			}
		}
		if !run(t, dir, r.IntN(2*block), c%2 == 1, steps, uint64(c)) {
			t.Fatal("not written direct at first")
		}
	}
}

// FuzzDirect: the property of TestDirectProperty for any sequence of steps. The first two
// bytes of the input are the file's initial length; each byte after is a step: 0 a Flush,
// else a write of that many bytes times 37 (up to 9 KiB, the buffer is 3 blocks).
func FuzzDirect(f *testing.F) {
	f.Add([]byte{0, 0, 10, 0, 200, 200, 0, 1})
	f.Add([]byte{0x0f, 0xff, 0, 111, 0, 0, 255, 255, 255, 255})
	smallBuffer(f, 3*block)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 2 || len(in) > 200 {
			return
		}
		initial := int(binary.BigEndian.Uint16(in)) % (4 * block)
		var steps []step
		for _, b := range in[2:] {
			if b == 0 {
				steps = append(steps, flush)
			} else {
				steps = append(steps, step(int(b)*37))
			}
		}
		run(t, dir, initial, false, steps, uint64(len(in)))
	})
}

// Written direct, a long log leaves nothing of itself in the page cache but its last
// block (the tail, written plainly at Close) and its first (unaligned when appending).
func TestDirectLeavesNoCache(t *testing.T) {
	dir := t.TempDir()
	if !directFS(t, dir) {
		t.Skipf("%s: no file system known to write direct", dir)
	}
	path := filepath.Join(dir, "log.jsonl")
	if err := os.WriteFile(path, []byte("an unaligned line before\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := Open(path, os.O_APPEND)
	if err != nil {
		t.Fatal(err)
	}
	if o.d == nil {
		t.Fatal("not written direct")
	}
	const total = 4 * Span
	spans(t, o, total, 5)
	if err := o.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	got := resident(t, path)
	t.Logf("written direct: %d of %d bytes in the page cache", got, total)
	if got > 2*block {
		t.Fatalf("%d bytes of a %d-byte log written direct are in the page cache; want at most %d", got, total, 2*block)
	}
}

// A write error (here the file size limit, EFBIG; a failing disk is the same to the
// writer) is returned by the Write, Flush or Close that meets it, as an *fs.PathError,
// direct or not; and nothing after is said to have been written.
func TestWriteErrorReturned(t *testing.T) { bothWays(t, testWriteErrorReturned) }

func testWriteErrorReturned(t *testing.T) {
	const limit = 3<<20 + 100
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "log")
	o, err := Open(path, os.O_TRUNC)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	// SIGXFSZ is ignored by Go programs: the write fails with EFBIG instead.
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: limit, Max: old.Max}); err != nil {
		t.Fatal(err)
	}
	defer syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old)
	p := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	var werr error
	written := 0
	for i := 0; i < 100 && werr == nil; i++ {
		var n int
		n, werr = o.Write(p)
		written += n
		if werr == nil && i%7 == 6 {
			werr = o.Flush()
		}
	}
	if werr == nil {
		werr = o.Close()
	}
	var pe *fs.PathError
	if !errors.Is(werr, syscall.EFBIG) || !errors.As(werr, &pe) {
		t.Fatalf("writing past the limit: %v (%T), want EFBIG in an *fs.PathError", werr, werr)
	}
	// Written direct, the error of a buffer handed off is the next hand-off's.
	if written > limit+len(p)+2*bufSize {
		t.Fatalf("%d bytes said written past a limit of %d", written, limit)
	}
}

// TestBuffersGrowWhenTheDiskLags: a hand-off that waits for the disk doubles the next
// buffer, up to maxBufSize; one that does not wait keeps the size.
func TestBuffersGrowWhenTheDiskLags(t *testing.T) {
	for _, tc := range []struct {
		size   int
		waited bool
		want   int
	}{
		{4 << 20, false, 4 << 20},
		{4 << 20, true, 8 << 20},
		{8 << 20, true, 16 << 20},
		{16 << 20, true, 16 << 20},
		{16 << 20, false, 16 << 20},
	} {
		if got := grown(tc.size, tc.waited); got != tc.want {
			t.Errorf("grown(%d, %v) = %d, want %d", tc.size, tc.waited, got, tc.want)
		}
	}
}
