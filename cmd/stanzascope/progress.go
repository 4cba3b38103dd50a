package main

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// Reading a big file shows a progress line on standard error when that is a terminal
// (never on standard output, which holds the records, and not when standard error goes to
// a file or a pipe).
var (
	progressMin   int64 = 50 << 20               // files at least this big get a progress line
	progressEvery       = 500 * time.Millisecond // how often it is redrawn
	// progressTerminal reports whether standard error is a terminal; tests replace it.
	progressTerminal = writerIsTerminal
)

// progress counts the bytes read from a file and the stanzas read from them, and redraws
// one line on a terminal: bytes read, percent, stanzas per second, time left. It is
// driven by the reads themselves, so it needs no goroutine of its own.
type progress struct {
	src     io.Reader
	w       io.Writer
	size    int64
	read    atomic.Int64
	stanzas atomic.Int64
	start   time.Time
	last    time.Time
	now     func() time.Time
	shown   atomic.Bool
}

// newProgress returns a progress for the input src, or nil when there is to be no
// progress line: not a regular file, smaller than progressMin, or stderr not a terminal.
func newProgress(src io.Reader, stderr io.Writer, isTerminal func(io.Writer) bool) *progress {
	file, ok := src.(*os.File)
	if !ok || !isTerminal(stderr) {
		return nil
	}
	st, err := file.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() < progressMin {
		return nil
	}
	now := time.Now()
	return &progress{src: src, w: stderr, size: st.Size(), start: now, last: now, now: time.Now}
}

// Read reads from the file and redraws the line when it is due.
func (p *progress) Read(b []byte) (int, error) {
	n, err := p.src.Read(b)
	p.read.Add(int64(n))
	if t := p.now(); t.Sub(p.last) >= progressEvery {
		p.last = t
		p.draw(t)
	}
	return n, err
}

// sink counts the stanzas that go to next.
func (p *progress) sink(next inspect.Sink) inspect.Sink {
	return inspect.SinkFunc(func(r *inspect.Record) error {
		if r.Kind == inspect.KindStanza {
			p.stanzas.Add(1)
		}
		return next.Write(r)
	})
}

// draw writes the line over the last one.
func (p *progress) draw(t time.Time) {
	read, size := p.read.Load(), p.size
	elapsed := t.Sub(p.start).Seconds()
	line := fmt.Sprintf("\rinspect: %s of %s (%d%%)", sizeOf(read), sizeOf(size), 100*read/size)
	if elapsed > 0 {
		line += fmt.Sprintf(", %.0f stanzas/s", float64(p.stanzas.Load())/elapsed)
		if read > 0 && read < size {
			left := time.Duration(float64(size-read) / (float64(read) / elapsed) * float64(time.Second))
			line += ", " + clockOf(left) + " left"
		}
	}
	io.WriteString(p.w, line+"\x1b[K")
	p.shown.Store(true)
}

// done erases the line, so that the summary that follows starts on a clean line.
func (p *progress) done() {
	if p.shown.Load() {
		io.WriteString(p.w, "\r\x1b[K")
	}
}

// sizeOf writes a byte count for a person.
func sizeOf(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// clockOf writes a duration as h:mm:ss or m:ss.
func clockOf(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
