package loadgen

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// progress writes a live status line, rewritten once a second, to a terminal.
type progress struct {
	w io.Writer // nil: no progress
}

func newProgress(w io.Writer) *progress { return &progress{w: w} }

// run starts rewriting the line with line(elapsed) every second; the returned function
// stops it, writes the final line and ends it.
func (p *progress) run(line func(elapsed time.Duration) string) (stop func()) {
	if p.w == nil {
		return func() {}
	}
	start := time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintf(p.w, "\r\x1b[K%s", line(time.Since(start)))
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
			fmt.Fprintf(p.w, "\r\x1b[K%s\n", line(time.Since(start)))
		})
	}
}
