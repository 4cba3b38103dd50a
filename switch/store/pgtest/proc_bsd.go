//go:build unix && !linux

package pgtest

import "syscall"

// dieWithParent does nothing: only Linux has a parent-death signal. A test process that
// dies leaves its server running, to be stopped by hand (its PID is in the data directory).
func dieWithParent(*syscall.SysProcAttr) {}
