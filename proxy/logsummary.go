package proxy

import (
	"sync"
	"time"
)

// summaryInterval is how often a logSummary prints the count of the lines it held back.
// A variable so that tests can shorten it before New.
var summaryInterval = 10 * time.Second

// logSummary keeps one kind of per-connection log line from flooding the log: the first
// line after a quiet period is printed as it is, the ones that follow within an interval
// are counted, and one line per interval says how many there were. The records of the
// connections are not affected: each still has its own.
type logSummary struct {
	logf     func(string, ...any)
	interval time.Duration
	what     string // "connections closed for ...", after the count

	mu    sync.Mutex
	n     int         // lines held back in the current window
	since time.Time   // start of the current window
	timer *time.Timer // runs while a window is open; nil when quiet
	gen   uint64      // window number, so a timer of a closed window does nothing
}

func newLogSummary(logf func(string, ...any), interval time.Duration, what string) *logSummary {
	return &logSummary{logf: logf, interval: interval, what: what}
}

// add logs line, or counts it when a line of this kind was logged less than an interval
// ago.
func (l *logSummary) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.timer != nil {
		l.n++
		return
	}
	l.logf("%s (more of these are summed up every %v)", line, l.interval)
	l.open()
}

// open starts a window. l.mu must be held.
func (l *logSummary) open() {
	l.gen++
	gen := l.gen
	l.since = time.Now()
	l.timer = time.AfterFunc(l.interval, func() { l.tick(gen) })
}

// tick ends a window: it prints the count and opens the next window, or, when nothing
// came, goes quiet so that the next line is printed as it is.
func (l *logSummary) tick(gen uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if gen != l.gen || l.timer == nil {
		return
	}
	l.timer = nil
	if l.n == 0 {
		return
	}
	l.printLocked(l.interval)
	l.open()
}

// flush prints what is counted and closes the window (when a listener stops), so that no
// count is lost and no timer outlives the proxy's Serve.
func (l *logSummary) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.timer == nil {
		return
	}
	l.timer.Stop()
	l.timer = nil
	l.gen++
	if l.n > 0 {
		l.printLocked(time.Since(l.since).Round(time.Millisecond))
	}
}

func (l *logSummary) printLocked(d time.Duration) {
	l.logf("proxy: %d more %s in the last %v", l.n, l.what, d)
	l.n = 0
}
