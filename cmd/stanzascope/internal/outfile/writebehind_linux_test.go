package outfile

import (
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// resident returns how many bytes of path's pages are in the page cache (mincore).
func resident(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	page := os.Getpagesize()
	vec := make([]byte, (len(m)+page-1)/page)
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal("mincore:", errno)
	}
	n := 0
	for _, v := range vec {
		n += int(v & 1)
	}
	return n * page
}

// A long log written behind (direct writing turned off) leaves about two spans of itself
// in the page cache, where a file written plainly leaves all of it (on a file system that
// keeps pages: tmpfs keeps them all, whatever it is told, and there the test checks only
// that writing works).
func TestCacheHoldsTwoSpans(t *testing.T) {
	defer func(v bool) { noDirect = v }(noDirect)
	noDirect = true
	dir := t.TempDir()
	var fsst unix.Statfs_t
	if err := unix.Statfs(dir, &fsst); err != nil {
		t.Fatal(err)
	}
	tmpfs := fsst.Type == unix.TMPFS_MAGIC
	path := filepath.Join(dir, "log.jsonl")
	o, err := Open(path, os.O_APPEND)
	if err != nil {
		t.Fatal(err)
	}
	const total = 8 * Span
	spans(t, o, total, 4)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	got := resident(t, path)
	t.Logf("written behind: %d of %d bytes in the page cache (tmpfs: %v)", got, total, tmpfs)
	if tmpfs {
		return
	}
	// What was written since the last step, the span being written back, and the one
	// dropped last whose pages the kernel may still be freeing.
	if limit := 3 * Span; got > limit {
		t.Fatalf("%d bytes of an %d-byte log are in the page cache; want at most %d", got, total, limit)
	}

	// The same written plainly stays in the cache: what the check above would see
	// without the write-behind.
	plain := filepath.Join(dir, "plain.jsonl")
	o, err = Open(plain, os.O_APPEND)
	if err != nil {
		t.Fatal(err)
	}
	o.behind = false
	spans(t, o, total, 4)
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("written plainly: %d of %d bytes in the page cache", resident(t, plain), total)
}
