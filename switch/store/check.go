package store

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// ErrDamaged means the database file is damaged: bbolt's consistency check failed, the
// file is shorter than its pages say, or reading it panicked. The error names the file and
// says what to do: restore it from a backup, or start with another file. The file is left
// as it was.
var ErrDamaged = errors.New("store: database file is damaged")

// damaged returns an ErrDamaged error for the file at path, with what was found.
func damaged(path, what string) error {
	return fmt.Errorf("%w: %s: %s; restore it from a backup, or move it away (keep it for a"+
		" repair) and start with another database file", ErrDamaged, path, what)
}

// safely runs fn and turns a panic (bbolt asserting on a damaged page) or a fault reading
// the mapped file (a file truncated under us) into an ErrDamaged error.
func safely(path string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			what := fmt.Sprint(r)
			if _, ok := r.(runtime.Error); ok {
				// A fault reading the mapped file (or an index bbolt read from it): the
				// file is most often shorter than its pages say.
				what = "a page could not be read, the file may be truncated (" + what + ")"
			}
			err = damaged(path, what)
		}
	}()
	return fn()
}

// openFile opens the bbolt file at path with o, mapping bbolt's errors to ours. When bbolt
// panics while opening, the descriptor it opened is closed here, so that its lock does
// not outlive the failed open.
func openFile(path string, o *bolt.Options) (*bolt.DB, error) {
	var f *os.File
	o.OpenFile = func(name string, flag int, perm os.FileMode) (*os.File, error) {
		var err error
		f, err = os.OpenFile(name, flag, perm)
		return f, err
	}
	var db *bolt.DB
	err := safely(path, func() error {
		var err error
		db, err = bolt.Open(path, 0o600, o)
		return err
	})
	switch {
	case err == nil:
		return db, nil
	case errors.Is(err, ErrDamaged):
		if f != nil {
			f.Close()
		}
		return nil, err
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("%w: %s", ErrLocked, path)
	case errors.Is(err, berrors.ErrChecksum):
		return nil, damaged(path, "both meta pages fail their checksum")
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrVersionMismatch):
		return nil, fmt.Errorf("store: %s is not a usable database file: %w", path, err)
	default:
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
}

// maxReported bounds the problems named in an ErrDamaged error.
const maxReported = 3

// checkFile checks the existing database file at path before it is opened for writing:
// opened read-only (nothing is written to it), every page the meta page counts must be in
// the file, every bucket and value is read, then bbolt's own consistency check
// (Tx.Check: page references, freelist, page types) runs. Reading everything here, in this
// goroutine, means that what would panic or fault does so where safely recovers it, not in
// Tx.Check's own goroutine. It costs one pass over the file at start.
func checkFile(path string, lockTimeout time.Duration) error {
	// PreLoadFreelist: the freelist is read in this goroutine, not by Tx.Check's.
	db, err := openFile(path, &bolt.Options{ReadOnly: true, PreLoadFreelist: true, Timeout: lockTimeout})
	if err != nil {
		return err
	}
	defer db.Close()
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("store: %s: %w", path, err)
	}
	return safely(path, func() error {
		return db.View(func(tx *bolt.Tx) error {
			if tx.Size() > fi.Size() {
				return damaged(path, fmt.Sprintf("the file is %d bytes but its pages need %d (truncated?)", fi.Size(), tx.Size()))
			}
			if err := tx.ForEach(func(name []byte, b *bolt.Bucket) error { return walk(b) }); err != nil {
				return damaged(path, err.Error())
			}
			var problems []string
			n := 0
			for err := range tx.Check() {
				// Drain the channel: Tx.Check's goroutine ends only when it is read out.
				if n++; n <= maxReported {
					problems = append(problems, err.Error())
				}
			}
			if n == 0 {
				return nil
			}
			what := strings.Join(problems, "; ")
			if n > maxReported {
				what += fmt.Sprintf("; and %d more problems", n-maxReported)
			}
			return damaged(path, what)
		})
	})
}

// walk reads every key and value under b, nested buckets included. A value is read once
// per page it may span and at its end, so a page beyond the end of the file faults here.
func walk(b *bolt.Bucket) error {
	var sum byte
	err := b.ForEach(func(k, v []byte) error {
		if v == nil {
			if nb := b.Bucket(k); nb != nil {
				return walk(nb)
			}
			return nil
		}
		for i := 0; i < len(v); i += minPageSize {
			sum ^= v[i]
		}
		if len(v) > 0 {
			sum ^= v[len(v)-1]
		}
		return nil
	})
	_ = sum
	return err
}

// minPageSize is the smallest page a bbolt file can have (its minimum is 1 KiB): reading
// a value every minPageSize bytes touches every page it spans.
const minPageSize = 1024
