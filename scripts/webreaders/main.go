// Command webreaders attaches N readers to a running stanzascope web view, as N browsers
// watching it would, for measuring what the web view costs the traffic (scripts/bench.sh:
// proxy throughput with and without 3 browsers). Each reader reads the event stream and
// counts the records and what it was told it missed; at the end (--duration, or Ctrl-C)
// or SIGTERM) one line per reader is printed:
//
//	reader 1: 120345 records, 0 missed
//
// Usage:
//
//	go run ./scripts/webreaders --url http://127.0.0.1:8080/ [--token T] [--n 3] [--duration 30s] [--stall] [--records N]
//
// --stall makes the readers stop reading after the first event, as a frozen browser tab:
// the traffic must not notice.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
)

func main() {
	u := flag.String("url", "http://127.0.0.1:8080/", "the web view's `URL`, as stanzascope printed it")
	token := flag.String("token", "", "the web view's token (--web-token), when the URL does not carry it")
	n := flag.Int("n", 3, "number of readers")
	d := flag.Duration("duration", 0, "stop after this `duration` (0: at Ctrl-C)")
	stall := flag.Bool("stall", false, "stop reading after the first event, as a frozen tab")
	until := flag.Int("records", 0, "stop a reader after `N` records (0: no limit)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM) // SIGTERM: scripts/bench.sh stops it so
	defer stop()
	if *d > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *d)
		defer cancel()
	}
	events, err := eventsURL(*u, *token)
	if err != nil {
		fmt.Fprintln(os.Stderr, "webreaders:", err)
		os.Exit(2)
	}
	results := make([]result, *n)
	var wg sync.WaitGroup
	for i := range *n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = read(ctx, events, *stall, *until)
		}()
	}
	wg.Wait()
	failed := false
	for i, r := range results {
		fmt.Printf("reader %d: %d records, %d missed", i+1, r.records, r.missed)
		if r.err != nil {
			fmt.Printf(" (%v)", r.err)
			failed = true
		}
		fmt.Println()
	}
	if failed {
		os.Exit(1)
	}
}

// eventsURL turns the page's URL into the event stream's, keeping the token.
func eventsURL(page, token string) (string, error) {
	u, err := url.Parse(page)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return "", fmt.Errorf("--url %q is not the web view's http URL", page)
	}
	q := u.Query()
	if token != "" {
		q.Set("token", token)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/events"
	u.RawQuery = q.Encode()
	return u.String(), nil
}

type result struct {
	records, missed int
	err             error
}

// read reads one event stream until ctx ends, or until it has read until records
// (when until > 0).
func read(ctx context.Context, events string, stall bool, until int) result {
	var res result
	req, err := http.NewRequestWithContext(ctx, "GET", events, nil)
	if err != nil {
		res.err = err
		return res
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		res.err = err
		return res
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		res.err = fmt.Errorf("%s", resp.Status)
		return res
	}
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	event := ""
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, context.Canceled) {
				res.err = err
			}
			return res
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case strings.HasPrefix(line, "event: "):
			event = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			data := line[len("data: "):]
			switch event {
			case "records":
				// Counted, not parsed: the readers share the machine with the traffic they
				// measure, and a browser's parsing is not the server's cost. Each summary
				// is one object that starts with its index.
				if !strings.HasPrefix(data, `[{"i":`) {
					res.err = fmt.Errorf("bad records event: %.80s", data)
					return res
				}
				res.records += strings.Count(data, `{"i":`)
				if until > 0 && res.records >= until {
					return res
				}
			case "missed":
				var m struct{ N int }
				if err := json.Unmarshal([]byte(data), &m); err == nil {
					res.missed += m.N
				}
			}
		case line == "":
			event = ""
			if stall {
				<-ctx.Done() // hold the connection open, read nothing more
				return res
			}
		}
	}
}
