//go:build linux

package proxy

import (
	"syscall"
	"time"
)

// threadCPU returns the CPU time (user and system) the calling thread used so far: with
// runtime.LockOSThread, the CPU time of one goroutine, which other processes on a busy
// machine do not add to as they do to the time on the clock.
func threadCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
