// Package outfile opens the files stanzascope writes records to (the JSON log, the
// capture of --pcap-out): private to the user, and written behind.
//
// Written behind: a log of a busy proxy grows by hundreds of megabytes a second, and
// left to itself the kernel keeps every page of it in the page cache until memory runs
// short. Filling the cache is not free: on the project's benchmark machine (a VM),
// appending beyond the first 2 GB of cache cost 3 s of system time per GB instead of
// 0.3 s, and that time was the proxy's. So, as databases do with their logs, a File
// starts the write-back of every span of Span bytes as soon as it is written, and once
// the span before it is on disk it tells the kernel that those pages are not needed
// again. The cache then holds about two spans of the file, and a slow disk slows the
// writer (and through the lossless chain, the traffic) instead of piling up dirty pages.
package outfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Span is how many bytes a File writes between two steps of write-back.
const Span = 8 << 20

// File is an output file opened by Open. Its Write is os.File's, plus the write-behind
// on Linux for a regular file. It is not safe for concurrent use.
type File struct {
	f *os.File
	// Offsets in the file: the end of what was written, the end of what write-back was
	// started for, and the end of what was dropped from the cache.
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

// Open opens path as Private does, to be written behind.
func Open(path string, flag int) (*File, error) {
	f, err := Private(path, flag)
	if err != nil {
		return nil, err
	}
	out := &File{f: f}
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && canWriteBehind {
		// Appending starts at the end of what the file holds; what it held before is
		// not ours to drop.
		off := int64(0)
		if flag&os.O_APPEND != 0 {
			off = st.Size()
		}
		out.written, out.started, out.dropped = off, off, off
		out.behind = true
	}
	return out, nil
}

// Write writes p to the file. Every Span bytes it starts the write-back of what was
// written and drops from the cache what was written back before. An error of the
// write-back (the disk failed) is returned as the write's: the bytes may not be kept.
func (o *File) Write(p []byte) (int, error) {
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
		return n, &fs.PathError{Op: "write-back", Path: o.f.Name(), Err: err}
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

// Close closes the file. The pages of its last spans stay in the cache; the kernel
// writes them back as it does any file's.
func (o *File) Close() error { return o.f.Close() }

// errNotSupported is the write-back's answer on a file system or system that cannot.
var errNotSupported = errors.New("write-behind not supported")
