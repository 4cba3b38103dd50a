// Package outfile opens the files stanzascope writes records to (the JSON log, the
// capture of --pcap-out): private to the user, and kept out of the page cache.
//
// A log of a busy proxy grows by hundreds of megabytes a second, and left to itself the
// kernel copies every byte of it into the page cache and keeps the pages until memory
// runs short. Neither is free: on the project's benchmark machine (a VM), appending
// beyond the first 2 GB of cache cost 3 s of system time per GB instead of 0.3 s, and
// that time was the proxy's. So, where it can, a File writes direct (O_DIRECT): whole
// aligned blocks from buffers of its own (two of 4 MiB, one filling while the other is
// written by a goroutine), straight to the disk. What a Flush hands over is in the file
// within Visible: its whole blocks direct, and what is less than a block through the
// cache, so that other readers (tail -f, stanzascope inspect on a live log) see every
// line; the next direct write writes that block again, whole.
//
// Where the file system refuses O_DIRECT, a File writes behind instead, as databases do
// with their logs: it starts the write-back of every span of Span bytes as soon as it is
// written, and once the span before it is on disk it tells the kernel that those pages
// are not needed again. The cache then holds about two spans of the file, and a slow
// disk slows the writer (and through the lossless chain, the traffic) instead of piling
// up dirty pages. A device or a pipe is written plainly.
package outfile

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"time"
)

// Span is how many bytes a File writes behind between two steps of write-back.
const Span = 8 << 20

// Visible is how long at most a File written direct keeps what a Flush handed over
// before it writes it out (twice that when a Flush comes just after the last time
// it looked). Under load its buffer fills and goes to the disk sooner; a Flush after every
// burst of records would otherwise write a partial block through the page cache each
// time, which the next direct write has to write back and drop again, at ten times the
// cost of writing the log plainly.
const Visible = 50 * time.Millisecond

// File is an output file opened by Open: a buffered writer, safe for concurrent use.
// Write buffers; Flush hands what was written to the file, where other readers see it;
// Close writes everything and closes.
//
// Written direct, the buffers are the File's own (4 MiB, aligned), and a Flush makes
// what it hands over visible within Visible. Otherwise the buffer is a bufio.Writer of 64 KiB
// in front of os.File's Write, plus the write-behind on Linux for a regular file, and a
// Flush writes at once.
type File struct {
	f  *os.File
	mu sync.Mutex // Write, Flush, Close, and the timer of a File written direct

	d *direct // writing direct; nil otherwise
	// Written direct: the timer, whether it runs, the end offset that the last Flush
	// handed over, and the one it must be visible from by the time the timer fires.
	timer         *time.Timer
	armed         bool
	promised, due int64
	closed        bool

	failed error // the error of a fall-back from direct writing in the timer

	bw *bufio.Writer // the buffer when not written direct
	// Written behind: offsets in the file of the end of what was written, the end of
	// what write-back was started for, and the end of what was dropped from the cache.
	written, started, dropped int64
	behind                    bool // writing behind: a regular file on a system that can
}

// Private opens path for writing, creating it with mode 0600, and sets the mode of a
// regular file that already existed to 0600 too: a log, a capture or TLS secrets are
// nobody else's business even when an older file was world-readable. A device or a pipe
// (/dev/null, /dev/stdout, a FIFO) keeps its mode: it is not a file we keep, and making
// /dev/null private breaks every other user of the machine. flag adds os.O_APPEND or
// os.O_TRUNC.
func Private(path string, flag int) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|flag, 0o600)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err == nil && st.Mode().IsRegular() {
		err = f.Chmod(0o600)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("making %s private: %w", path, err)
	}
	return f, nil
}

// Open opens path as Private does, to be written direct where the file system allows
// it, else behind.
func Open(path string, flag int) (*File, error) {
	f, err := Private(path, flag)
	if err != nil {
		return nil, err
	}
	o := &File{f: f}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		o.bw = bufio.NewWriterSize(unbuffered{o}, 64<<10)
		return o, nil
	}
	// Appending starts at the end of what the file holds; what it held before is
	// not ours to drop or to write again.
	off := int64(0)
	if flag&os.O_APPEND != 0 {
		off = st.Size()
	}
	if !noDirect {
		if o.d = openDirect(f, path, off); o.d != nil {
			o.timer = time.AfterFunc(time.Hour, o.tick)
			o.timer.Stop()
			return o, nil
		}
	}
	o.behindFrom(off)
	return o, nil
}

// noDirect turns direct writing off: the tests of the other paths set it. visibleAfter
// is Visible, shorter in tests.
var (
	noDirect     = false
	visibleAfter = Visible
)

// behindFrom starts writing the file behind (or plainly, where the system cannot), from
// off on.
func (o *File) behindFrom(off int64) {
	o.written, o.started, o.dropped = off, off, off
	o.behind = canWriteBehind
	o.bw = bufio.NewWriterSize(unbuffered{o}, 64<<10)
}

// Write writes p into the buffer, and the buffer to the file when it is full. An error
// of the disk is returned by the Write (or Flush, or Close) that meets it.
func (o *File) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failed != nil {
		return 0, o.pathError("write", o.failed)
	}
	if o.d == nil {
		return o.bw.Write(p)
	}
	n, err := o.d.write(p)
	if errors.Is(err, errNotSupported) {
		if err = o.fallBack(); err == nil {
			var m int
			m, err = o.bw.Write(p[n:]) // the rest, behind
			n += m
		}
	}
	return n, o.pathError("write", err)
}

// AvailableBuffer returns an empty slice over the free part of the buffer, for the
// caller to append to and pass to Write (as bufio.Writer's: the JSON log's lines are
// encoded straight into the buffer).
func (o *File) AvailableBuffer() []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.d == nil {
		return o.bw.AvailableBuffer()
	}
	return o.d.available()
}

// Flush hands what was written to the file. Written direct, it is visible to other
// readers within Visible: the whole blocks are written direct and the rest through the
// page cache then, or sooner with a full buffer. Otherwise Flush writes at once.
func (o *File) Flush() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failed != nil {
		return o.pathError("write", o.failed)
	}
	if o.d == nil {
		return o.bw.Flush()
	}
	if err := o.d.failure(); err != nil {
		return o.pathError("write", err)
	}
	if o.promised = o.d.end(); o.promised > o.d.visible() && !o.armed {
		o.due, o.armed = o.promised, true
		o.timer.Reset(visibleAfter)
	}
	return nil
}

// tick is the timer of a File written direct: it writes out what a Flush handed over at
// least Visible ago if the buffer has not gone to the disk since, and looks again later
// for what Flushes handed over since then.
func (o *File) tick() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.armed = false
	if o.d == nil || o.closed {
		return
	}
	vis := o.d.visible()
	switch {
	case vis >= o.promised:
	case vis >= o.due:
		o.due, o.armed = o.promised, true
		o.timer.Reset(visibleAfter)
	default:
		// An error is the next Write's, Flush's or Close's to return (sticky in d).
		if err := o.d.out(true); errors.Is(err, errNotSupported) {
			o.failed = o.fallBack() // the next Write, Flush or Close says so
		}
	}
}

// fallBack leaves direct writing, which the file system refused at the first write:
// what the buffer holds is written plainly, and the file is written behind from there.
func (o *File) fallBack() error {
	d := o.d
	o.d = nil
	end, err := d.leave()
	o.behindFrom(end)
	if err != nil {
		// Named as every error of the File is: the caller (Close) returns it as it is.
		return o.pathError("write", err)
	}
	_, err = o.f.Seek(end, io.SeekStart)
	return err
}

func (o *File) pathError(op string, err error) error {
	if err == nil {
		return nil
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return err
	}
	return &fs.PathError{Op: op, Path: o.f.Name(), Err: err}
}

// unbuffered is the File's writer under its bufio.Writer when it is not written direct:
// every Span bytes it starts the write-back of what was written and drops from the
// cache what was written back before. An error of the write-back (the disk failed) is
// returned as the write's: the bytes may not be kept.
type unbuffered struct{ o *File }

func (u unbuffered) Write(p []byte) (int, error) {
	o := u.o
	n, err := o.f.Write(p)
	o.written += int64(n)
	if err != nil || !o.behind || o.written-o.started < Span {
		return n, err
	}
	if err := o.writeBehind(); err != nil {
		if errors.Is(err, errNotSupported) {
			o.behind = false // the file system cannot: plain writes from now on
			return n, nil
		}
		return n, o.pathError("write-back", err)
	}
	return n, nil
}

// writeBehind starts the write-back of [started, written) and drops [dropped, started),
// whose write-back was started the step before, once it is on disk.
func (o *File) writeBehind() error {
	if err := startWriteBack(o.f, o.started, o.written-o.started); err != nil {
		return err
	}
	if o.started > o.dropped {
		if err := dropWritten(o.f, o.dropped, o.started-o.dropped); err != nil {
			return err
		}
	}
	o.dropped, o.started = o.started, o.written
	return nil
}

// Close writes what the buffer holds and closes the file, which is then exactly as long
// as what was written. Written behind, the pages of its last spans stay in the cache;
// the kernel writes them back as it does any file's.
func (o *File) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return errors.New("outfile: closed twice")
	}
	o.closed = true
	err := o.pathError("write", o.failed)
	if o.d != nil {
		o.timer.Stop()
		err = o.d.out(true)
		if errors.Is(err, errNotSupported) {
			err = o.fallBack()
		} else {
			err = errors.Join(o.pathError("write", err), o.d.close())
		}
	}
	if o.d == nil {
		err = errors.Join(err, o.bw.Flush())
	}
	return errors.Join(err, o.f.Close())
}

// errNotSupported is the answer of the write-back or of a direct write on a file system
// or system that cannot.
var errNotSupported = errors.New("not supported")
