package outfile

import (
	"errors"
	"io"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// block is the alignment of a direct write: of its offset in the file, of its length and
// of its memory. 4096 suits every disk and file system in use (a logical block of 512 or
// 4096 bytes); one that wants more refuses the first write, and the file is written
// behind.
const block = 4096

// refuse, set by tests, says which direct writes to refuse as a file system refuses
// O_DIRECT (EINVAL).
var refuse func(off int64) bool

// bufSize is the size of each of a direct File's two buffers: what one direct write
// writes. On the project's VM every write costs the job far more than its bytes do:
// with buffers of 256 KiB the main job spent 28 % more CPU per message than with 1 MiB,
// with 1 MiB 4 % more than written behind, with 4 MiB 3 to 11 % less
// (docs/BENCHMARKS.md).
// A variable so that the tests can make it small and fill it often.
var bufSize = 4 << 20

// maxBufSize bounds the buffers' growth: a buffer that fills before the disk has written
// the one handed off before makes the writer wait, and the traffic with it, so the next
// buffers are twice as large, up to this. On the project's VM, the disk now and then took
// longer for 4 MiB than the main job took to log them (its CPUs idle a tenth of the time
// more than without the log); with 16 MiB buffers they were idle a third less and
// delivered 6 % more (docs/BENCHMARKS.md). A light log keeps 2 x bufSize.
var maxBufSize = 16 << 20

// direct writes a regular file with O_DIRECT: the disk takes the bytes straight from the
// buffer, and the page cache neither copies nor keeps them. The buffer maps onto the
// file at base, a multiple of block; its whole blocks are written direct, its tail (less
// than a block, at a Flush or Close) through the page cache, and again direct, whole,
// once the block is full.
type direct struct {
	fd   int    // the file opened with O_DIRECT
	pfd  int    // the File's own descriptor, without O_APPEND: for what is written plainly
	buf  []byte // aligned, bufSize bytes, more once the disk made the writer wait (maxBufSize)
	base int64  // offset in the file of buf[0]; a multiple of block
	n    int    // buf[:n] is the file from base, as it is to be
	// buf[:lo] is what the file held before Open, unknown to us and not ours to write
	// again: the block that holds it is written plainly, never direct. 0 after that
	// block.
	lo int
	// buf[lo:done] is in the file already, written plainly by a Flush.
	done int
	err  error // sticky: the first error of a write

	// A full buffer is written by a goroutine of its own while the next one fills: the
	// writer (the log's queue, and through it the traffic) does not wait for the disk
	// unless the disk is slower than the traffic. Waiting for each write of 1 MiB cost
	// the main job 16 % more CPU per message than writing behind (docs/BENCHMARKS.md).
	spare  []byte     // the other buffer; nil until the first hand-off
	flight chan error // the answer of the write of spare; nil when none runs
	// flightBase is where spare goes in the file; flightVisible is what visible was
	// when it was handed off.
	flightBase, flightVisible int64
}

// openDirect opens the file of f (path) again with O_DIRECT, to be written from off on.
// It returns nil when it cannot: the caller writes behind.
func openDirect(f *os.File, path string, off int64) *direct {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil // EINVAL: the file system has no direct I/O
	}
	pfd := int(f.Fd())
	var a, b unix.Stat_t
	if unix.Fstat(fd, &a) != nil || unix.Fstat(pfd, &b) != nil || a.Dev != b.Dev || a.Ino != b.Ino {
		unix.Close(fd) // path names another file by now
		return nil
	}
	// The tail is written with pwrite at our own offsets, which O_APPEND would ignore.
	fl, err := unix.FcntlInt(uintptr(pfd), unix.F_GETFL, 0)
	if err == nil && fl&unix.O_APPEND != 0 {
		_, err = unix.FcntlInt(uintptr(pfd), unix.F_SETFL, fl&^unix.O_APPEND)
	}
	if err != nil {
		unix.Close(fd)
		return nil
	}
	base := off &^ (block - 1)
	lo := int(off - base)
	return &direct{fd: fd, pfd: pfd, buf: aligned(bufSize), base: base, n: lo, lo: lo, done: lo}
}

// aligned returns n bytes of memory that start at a multiple of block. (Go does not move
// what it allocates on the heap.)
func aligned(n int) []byte {
	b := make([]byte, n+block)
	skip := int(-uintptr(unsafe.Pointer(&b[0])) & (block - 1))
	return b[skip : skip+n : skip+n]
}

// available returns an empty slice over the free part of the buffer.
func (d *direct) available() []byte { return d.buf[d.n:d.n] }

// end is the offset in the file of the end of what was written.
func (d *direct) end() int64 { return d.base + int64(d.n) }

// visible is the offset in the file up to which it holds what was written.
func (d *direct) visible() int64 {
	if d.flight != nil {
		return d.flightVisible
	}
	return d.base + int64(d.done)
}

// failure is the first error of a write, if any.
func (d *direct) failure() error { return d.err }

// write puts p in the buffer, and the buffer to the disk each time it is full.
func (d *direct) write(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	written := 0
	for len(p) > 0 {
		k := copy(d.buf[d.n:], p)
		d.n += k
		p = p[k:]
		written += k
		if d.n == len(d.buf) {
			if err := d.handOff(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

// handOff hands the full buffer to a goroutine that writes it direct, once the one
// handed off before is written, and goes on with the other buffer.
func (d *direct) handOff() error {
	if d.err != nil {
		return d.err
	}
	waited := d.flight != nil && len(d.flight) == 0 // the disk is not done with the last one
	err := d.wait()
	if err == nil && d.lo > 0 {
		err = d.writeOut(false) // the first block is the file's too: see writeOut
	}
	if err != nil {
		if !errors.Is(err, errNotSupported) {
			d.err = err
		}
		return err
	}
	if d.n < len(d.buf) {
		return nil
	}
	if size := grown(len(d.buf), waited); len(d.spare) < size {
		d.spare = aligned(size) // the smaller one goes: both grow, one at each hand-off
	}
	buf, base := d.buf, d.base
	d.flightBase, d.flightVisible = base, d.visible()
	ch := make(chan error, 1)
	d.flight = ch
	fd, pfd := d.fd, d.pfd
	go func() { ch <- directly(fd, pfd, buf, base) }()
	d.buf, d.spare = d.spare, buf
	d.base += int64(len(buf))
	d.n, d.done = 0, 0
	return nil
}

// grown is the size of the next buffer after one of size: twice as large, up to
// maxBufSize, when the writer waited for the disk (waited), else the same.
func grown(size int, waited bool) int {
	if waited {
		return max(size, min(2*size, maxBufSize))
	}
	return size
}

// wait waits for the write of the buffer handed off, if one runs. The file system
// refusing it (errNotSupported), it writes that buffer plainly.
func (d *direct) wait() error {
	if d.flight == nil {
		return nil
	}
	err := <-d.flight
	d.flight = nil
	if errors.Is(err, errNotSupported) {
		if perr := plainly(d.pfd, d.spare, d.flightBase); perr != nil {
			return perr
		}
	}
	return err
}

// out writes the whole blocks of the buffer direct and keeps its tail; with tail, it
// writes the tail plainly too, so that the file holds everything written.
func (d *direct) out(tail bool) error {
	if d.err != nil {
		return d.err
	}
	err := d.wait()
	if err == nil {
		err = d.writeOut(tail)
	}
	if err != nil && !errors.Is(err, errNotSupported) {
		d.err = err
	}
	return err
}

func (d *direct) writeOut(tail bool) error {
	from := 0
	if d.lo > 0 {
		// The first block holds bytes of the file that the buffer does not: written
		// plainly once it is whole (or at a Flush), never direct.
		end := min(block, d.n)
		if (tail || end == block) && d.done < end {
			if err := d.plain(d.done, end); err != nil {
				return err
			}
			d.done = end
		}
		if d.n < block {
			return nil
		}
		from = block
	}
	whole := d.n &^ (block - 1)
	if whole > from {
		if err := directly(d.fd, d.pfd, d.buf[from:whole], d.base+int64(from)); err != nil {
			return err
		}
	}
	if whole > 0 {
		d.n = copy(d.buf, d.buf[whole:d.n])
		d.done = max(d.done-whole, 0)
		d.base += int64(whole)
		d.lo = 0
	}
	if tail && d.done < d.n {
		if err := d.plain(d.done, d.n); err != nil {
			return err
		}
		d.done = d.n
	}
	return nil
}

// directly writes buf (whole blocks) at off with O_DIRECT on fd. The kernel writes back
// and drops any page of the range that the cache holds (a tail written plainly), so a
// reader then reads the new bytes from the disk. A short write that ends within a block
// (the disk is full?) is finished plainly on pfd, which says why if it fails too.
func directly(fd, pfd int, buf []byte, off int64) error {
	if refuse != nil && refuse(off) {
		return errNotSupported
	}
	for len(buf) > 0 {
		n, err := unix.Pwrite(fd, buf, off)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EINVAL):
			// The file system wants another alignment, or has no direct I/O after
			// all: the caller writes behind from here.
			return errNotSupported
		case err != nil:
			return err
		case n == 0:
			return io.ErrShortWrite
		}
		buf, off = buf[n:], off+int64(n)
		if n%block != 0 {
			return plainly(pfd, buf, off)
		}
	}
	return nil
}

// plain writes buf[from:to] through the page cache.
func (d *direct) plain(from, to int) error {
	return plainly(d.pfd, d.buf[from:to], d.base+int64(from))
}

// plainly writes buf at off on pfd, through the page cache.
func plainly(pfd int, buf []byte, off int64) error {
	for len(buf) > 0 {
		n, err := unix.Pwrite(pfd, buf, off)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return err
		case n == 0:
			return io.ErrShortWrite
		}
		buf, off = buf[n:], off+int64(n)
	}
	return nil
}

// leave writes plainly what the buffer holds that is not in the file, closes the direct
// descriptor and returns the offset of the end of what was written.
func (d *direct) leave() (int64, error) {
	err := d.wait()
	if err == nil || errors.Is(err, errNotSupported) {
		err = d.plain(max(d.lo, d.done), d.n)
	}
	return d.base + int64(d.n), errors.Join(err, d.close())
}

// close waits for the write of the buffer handed off and closes the direct descriptor.
func (d *direct) close() error {
	d.wait()
	if err := unix.Close(d.fd); err != nil {
		return &os.PathError{Op: "close", Path: "O_DIRECT", Err: err}
	}
	return nil
}
