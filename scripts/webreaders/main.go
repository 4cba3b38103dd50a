// Command webreaders attaches N readers to a running stanzascope web view, as N browsers
// watching it would, for measuring what the web view costs the traffic (scripts/bench.sh:
// proxy throughput with and without 3 browsers). Each reader does with the event stream
// what the page (inspect/web/static/app.js) does: the same endpoint and protocol, each
// event's JSON parsed as the page parses it (records, skipped runs, lane labels), so what
// the server sends and how often is what a browser costs it. It does not draw, and does
// not fetch skipped runs (the page does that when a person clicks). At the end
// (--duration, Ctrl-C or SIGTERM) one line per reader is printed:
//
//	reader 1: 25123 records (10000 history, 15123 live in 180 frames), 1480233 not sent live (1402000 gone from the history)
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
	until := flag.Int("records", 0, "stop a reader after `N` records read or skipped (0: no limit)")
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
		fmt.Printf("reader %d: %d records (%d history, %d live in %d frames), %d not sent live (%d gone from the history)",
			i+1, r.records, r.history, r.records-r.history, r.frames, r.skipped, r.gone)
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
	records, history int // records read, and of them before "live"
	frames           int // live "records" events
	skipped, gone    int // records not sent live, and of them gone from the history
	err              error
}

// summary is what the page reads of a record's summary to draw it.
type summary struct {
	I     uint64 `json:"i"`
	Seq   uint64 `json:"seq"`
	Kind  string `json:"kind"`
	Label string `json:"label"`
	Src   string `json:"src"`
	Dst   string `json:"dst"`
	Req   uint64 `json:"req"`
	Bound string `json:"bound"`
}

// read reads one event stream until ctx ends, or until it has read or been told it was
// not sent until records (when until > 0).
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
	live := false
	var sums []summary
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
			data := []byte(line[len("data: "):])
			switch event {
			case "records":
				sums = sums[:0]
				if err := json.Unmarshal(data, &sums); err != nil {
					res.err = fmt.Errorf("bad records event: %w", err)
					return res
				}
				res.records += len(sums)
				if live {
					res.frames++
				} else {
					res.history += len(sums)
				}
				if until > 0 && res.records+res.skipped >= until {
					return res
				}
			case "skipped":
				var g struct{ N, Gone int }
				if err := json.Unmarshal(data, &g); err != nil {
					res.err = fmt.Errorf("bad skipped event: %w", err)
					return res
				}
				res.skipped += g.N
				res.gone += g.Gone
				if until > 0 && res.records+res.skipped >= until {
					return res
				}
			case "lanes":
				var lanes []struct {
					Conn uint64 `json:"conn"`
					JID  string `json:"jid"`
				}
				if err := json.Unmarshal(data, &lanes); err != nil {
					res.err = fmt.Errorf("bad lanes event: %w", err)
					return res
				}
			case "live":
				live = true
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
