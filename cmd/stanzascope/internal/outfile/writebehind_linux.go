package outfile

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

const canWriteBehind = true

// startWriteBack asks the kernel to start writing [off, off+n) of f to disk, without
// waiting for it.
func startWriteBack(f *os.File, off, n int64) error {
	return syncRange(f, off, n, unix.SYNC_FILE_RANGE_WRITE)
}

// dropWritten waits until [off, off+n) of f is on disk, then drops those pages from the
// page cache: they are clean, and nobody will read them soon.
func dropWritten(f *os.File, off, n int64) error {
	if err := syncRange(f, off, n, unix.SYNC_FILE_RANGE_WAIT_BEFORE|unix.SYNC_FILE_RANGE_WRITE|unix.SYNC_FILE_RANGE_WAIT_AFTER); err != nil {
		return err
	}
	// Advice: the kernel may keep pages it cannot drop (tmpfs keeps them all).
	_ = unix.Fadvise(int(f.Fd()), off, n, unix.FADV_DONTNEED)
	return nil
}

func syncRange(f *os.File, off, n int64, flags int) error {
	err := unix.SyncFileRange(int(f.Fd()), off, n, flags)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ESPIPE), errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EOPNOTSUPP):
		return errNotSupported
	}
	return err
}
