package proxy

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// TestSetupTimeoutMessage: a client that sends nothing is closed after the setup timeout
// with connection-timeout, and the log and the record name that timeout, not the idle
// timeout (which is not set).
func TestSetupTimeoutMessage(t *testing.T) {
	var logs logLines
	tp := startProxy(t, Config{Upstream: politeServer(t, nil), SetupTimeout: 200 * time.Millisecond, Logf: logs.logf}, false)
	c := dial(t, tp.addr)
	expectStreamError(t, readAll(t, c), inspect.CondConnectionTimeout)
	const want = "the client sent no complete stream header within 200ms of connecting (setup timeout)"
	tp.sink.waitNote(t, want)
	tp.stop()
	if !strings.Contains(logs.String(), want) || strings.Contains(logs.String(), "for 0s") {
		t.Fatalf("log:\n%s", logs.String())
	}
}

// TestSetupTimeoutTrickle: a client that sends its stream header one byte at a time,
// each well within the idle timeout, is still closed when the setup timeout is up (the
// idle deadline, set before each read, used to replace it).
func TestSetupTimeoutTrickle(t *testing.T) {
	tp := startProxy(t, Config{Upstream: politeServer(t, nil), SetupTimeout: 400 * time.Millisecond, IdleTimeout: 2 * time.Second}, false)
	c := dial(t, tp.addr)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(30 * time.Millisecond)
		defer tick.Stop()
		for i := range len(clientHeader) {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := c.Write([]byte{clientHeader[i]}); err != nil {
				return
			}
		}
	}()
	// The client is still trickling when the proxy closes, so the proxy's kernel answers
	// its next byte with a reset, which may come before or after the proxy's FIN: read
	// the whole stream error, stop writing, then take either as the close.
	out := readUntil(t, c, "</stream:stream>")
	close(stop)
	<-done
	expectStreamError(t, out, inspect.CondConnectionTimeout)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("after the stream error: %d bytes, %v; want the connection closed", n, err)
	}
	tp.sink.waitNote(t, "within 400ms of connecting (setup timeout)")
}

// TestSlowlorisSummary: many connections that send nothing, on the plaintext and the
// Direct TLS listener, print one log line at once and one summary line for the rest,
// while each connection has its own record.
func TestSlowlorisSummary(t *testing.T) {
	old := summaryInterval
	summaryInterval = time.Hour // everything in one window: the summary comes at the end
	t.Cleanup(func() { summaryInterval = old })
	for _, direct := range []bool{false, true} {
		t.Run(fmt.Sprintf("direct=%v", direct), func(t *testing.T) {
			const n = 40
			var logs logLines
			tp := startProxy(t, Config{Upstream: politeServer(t, nil), CA: newCA(t), SetupTimeout: 300 * time.Millisecond, Logf: logs.logf}, direct)
			var wg sync.WaitGroup
			for range n {
				c := dial(t, tp.addr)
				wg.Add(1)
				go func() {
					defer wg.Done()
					c.SetReadDeadline(time.Now().Add(10 * time.Second))
					io.Copy(io.Discard, c) // until the proxy closes it
				}()
			}
			wg.Wait()
			deadline := time.Now().Add(10 * time.Second)
			for strings.Count(tp.sink.notes(), "(setup timeout)") < n && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			tp.stop()
			if got := strings.Count(tp.sink.notes(), "(setup timeout)"); got != n {
				t.Fatalf("%d records of a setup timeout, want one per connection (%d)", got, n)
			}
			lines := strings.Split(logs.String(), "\n")
			if len(lines) != 2 {
				t.Fatalf("%d log lines, want 2 (the first, then a summary):\n%s", len(lines), logs.String())
			}
			if !strings.Contains(lines[0], "(setup timeout) (more of these are summed up every 1h0m0s)") {
				t.Errorf("first line %q", lines[0])
			}
			if m := regexp.MustCompile(`^proxy: (\d+) more connections closed for setup timeout \(no stream header in time\) in the last \S+$`).FindStringSubmatch(lines[1]); m == nil || m[1] != fmt.Sprint(n-1) {
				t.Errorf("summary line %q, want %d more", lines[1], n-1)
			}
		})
	}
}

// TestLogSummaryIntervals: lines within an interval are counted and printed once per
// interval; after a quiet interval the next line is printed as it is.
func TestLogSummaryIntervals(t *testing.T) {
	var logs logLines
	l := newLogSummary(logs.logf, 50*time.Millisecond, "things")
	count := func() int {
		logs.mu.Lock()
		defer logs.mu.Unlock()
		return len(logs.lines)
	}
	waitLines := func(n int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for count() < n && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if count() < n {
			t.Fatalf("%d lines, want %d:\n%s", count(), n, logs.String())
		}
	}
	l.add("first")
	l.add("second")
	l.add("third")
	waitLines(2)
	// The window with a count opened another; once that one passes quietly the summary
	// goes quiet, and the next line is printed as it is.
	deadline := time.Now().Add(5 * time.Second)
	for {
		l.mu.Lock()
		quiet := l.timer == nil
		l.mu.Unlock()
		if quiet || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	l.add("fourth")
	l.flush()
	want := "first (more of these are summed up every 50ms)\nproxy: 2 more things in the last 50ms\nfourth (more of these are summed up every 50ms)"
	if logs.String() != want {
		t.Fatalf("log:\n%s\nwant:\n%s", logs.String(), want)
	}
}
