package server

import (
	"context"
	"errors"
	"net"
	"syscall"
	"time"
)

// Back-off after a failed accept: the first retry waits acceptMinDelay, each further one
// twice as long, up to acceptMaxDelay (as net/http and the proxy do).
const (
	acceptMinDelay = 5 * time.Millisecond
	acceptMaxDelay = time.Second
)

// acceptLogInterval bounds how often a run of failed accepts is logged: a process out of
// descriptors fails thousands of accepts, and one line per interval says enough.
const acceptLogInterval = 10 * time.Second

// temporaryAccept reports whether an accept error concerns this moment (or the one
// connection being accepted) rather than the listener: out of descriptors (EMFILE, ENFILE)
// or kernel memory, a connection reset or refused by a firewall before it was accepted. The
// listener is still good and the server retries.
func temporaryAccept(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	for _, e := range [...]syscall.Errno{
		syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
		syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EINTR, syscall.EAGAIN, syscall.EPERM,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// acceptRetry is the back-off state of the accept loop, and what it has told the log.
type acceptRetry struct {
	logf     func(string, ...any)
	delay    time.Duration
	since    time.Time // first failure of the current run; zero when accepting
	failures int       // failed accepts in the current run
	logged   time.Time // last log line of the current run
	unlogged int       // failures since that line
}

// failed notes a temporary accept error, logs it if no line was written for
// acceptLogInterval, and waits before the next accept. It returns false if ctx ended while
// waiting.
func (r *acceptRetry) failed(ctx context.Context, err error) bool {
	now := time.Now()
	if r.failures == 0 {
		r.since = now
	}
	r.failures++
	r.unlogged++
	r.delay = min(max(2*r.delay, acceptMinDelay), acceptMaxDelay)
	if r.logged.IsZero() {
		r.logf("switch: accept: %v; new connections wait in the listen queue, retrying with back-off (at most one line per %v)", err, acceptLogInterval)
		r.logged, r.unlogged = now, 0
	} else if now.Sub(r.logged) >= acceptLogInterval {
		r.logf("switch: accept still failing: %v (%d failures in the last %v)", err, r.unlogged, now.Sub(r.logged).Round(time.Second))
		r.logged, r.unlogged = now, 0
	}
	t := time.NewTimer(r.delay)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// ok notes a successful accept, and logs the recovery after a run of failures.
func (r *acceptRetry) ok() {
	if r.failures == 0 {
		return
	}
	r.logf("switch: accepting connections again after %d failed accepts over %v", r.failures, time.Since(r.since).Round(time.Millisecond))
	*r = acceptRetry{logf: r.logf}
}
