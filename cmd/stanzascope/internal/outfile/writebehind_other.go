//go:build !linux

package outfile

import "os"

// Elsewhere the kernel's cache is left to itself: the files are written plainly.
const canWriteBehind = false

func startWriteBack(*os.File, int64, int64) error { return errNotSupported }
func dropWritten(*os.File, int64, int64) error    { return errNotSupported }
