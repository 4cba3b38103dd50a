package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/inspect/logs"
	"github.com/stanzascope/stanzascope/inspect/web"
)

// readCaptureFile reads a pcap or pcapng file, reassembles the XMPP connections on ports
// and writes their records to sink. It is nil until the capture code's file sets it.
var readCaptureFile func(ctx context.Context, path string, ports []int, sink inspect.Sink, stderr io.Writer) error

// readLive captures XMPP traffic on ports from a network interface until ctx ends. It is
// nil until the capture code's file sets it.
var readLive func(ctx context.Context, iface string, ports []int, sink inspect.Sink, stderr io.Writer) error

// stdin is where "inspect -" reads; tests replace it.
var stdin io.Reader = os.Stdin

func init() {
	register(&command{
		name:    "inspect",
		summary: "show a saved XML stream, JSON log or capture, or live traffic on an interface",
		run:     runInspect,
	})
}

const inspectUsage = `inspect FILE|-  |  LOG LOG...  |  --iface IFACE [--port N]...  [flags]

FILE is a raw XML stream (one direction, with or without a stream header), a JSON-lines
log written by --log or --format json, a pcap/pcapng capture, or the debug log of
slixmpp, Prosody (with mod_stanza_debug), ejabberd or Smack; the kind is found from the
content (--input-format names it). "-" reads standard input. Several JSON logs (of
several proxies, each with its --node) are merged in the order of their times; the
connections of a log without node names are named after its file.`

func runInspect(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("inspect", inspectUsage, stderr)
	out := addOutputFlags(fs, false)
	webf := addWebFlags(fs, "off")
	iface := fs.String("iface", "", "capture live traffic on network interface `IFACE`")
	ports := fs.IntSlice("port", []int{5222}, "TCP `port`s that carry XMPP (captures and --iface)")
	dirFlag := fs.String("dir", "auto", "direction of a raw XML stream: auto (a header with an id is the server's), c2s or s2c")
	formatFlag := fs.String("input-format", "auto", "what FILE is: auto, "+strings.Join(logs.Names(), ", "))
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *iface != "" && fs.NArg() > 0:
		return usagef("give either FILE or --iface, not both")
	case *iface == "" && fs.NArg() == 0:
		return usagef("give one FILE (or - for standard input), JSON logs to merge, or --iface")
	}
	for _, p := range *ports {
		if p < 1 || p > 65535 {
			return usagef("--port %d is not a TCP port", p)
		}
	}
	dir, ok := inspect.ParseDirection(*dirFlag)
	if !ok && *dirFlag != "auto" {
		return usagef("--dir must be auto, c2s or s2c, not %q", *dirFlag)
	}
	if *dirFlag == "auto" {
		dir = inspect.DirNone
	}
	format := logs.Unknown
	if *formatFlag != "auto" {
		f, ok := logs.ParseFormat(*formatFlag)
		if !ok {
			return usagef("--input-format must be auto or one of %s, not %q", strings.Join(logs.Names(), ", "), *formatFlag)
		}
		format = f
	}
	if err := out.validate(); err != nil {
		return err
	}
	if err := webf.validate(); err != nil {
		return err
	}
	if *iface != "" {
		// Live traffic, as in the proxy and the switch: each output gets its own queue,
		// which flushes its output whenever it runs empty, so --log is written as the
		// traffic comes, not at exit, and a slow terminal skips (and says where) rather
		// than holding the capture up.
		out.live, out.stderr = true, stderr
	}
	stopWeb, err := webf.start(out, web.Options{Title: strings.TrimSpace("stanzascope inspect " + strings.Join(append(fs.Args(), *iface), " "))},
		func(f string, a ...any) { fmt.Fprintf(stderr, f+"\n", a...) })
	if err != nil {
		return err
	}
	defer stopWeb()
	if *iface != "" {
		if readLive == nil {
			return errors.New("live capture is not available in this build")
		}
		return webf.keepServing(ctx, runPipeline(ctx, out, stdout, stderr, func(ctx context.Context, sink inspect.Sink) error {
			return readLive(ctx, *iface, *ports, sink, stderr)
		}), stderr)
	}
	if fs.NArg() > 1 {
		if format != logs.Unknown && format != logs.JSON {
			return usagef("only JSON logs can be merged; --input-format %s takes one FILE", *formatFlag)
		}
		read, closeAll, err := mergedLogs(fs.Args())
		if err != nil {
			return err
		}
		defer closeAll()
		out.noIQTrack = true // as for one log: the logs hold what the tracker derived
		return webf.keepServing(ctx, runPipeline(ctx, out, stdout, stderr, read), stderr)
	}
	name := fs.Arg(0)
	src, closeSrc, err := openInput(name)
	if err != nil {
		return err
	}
	defer closeSrc()
	pr := newProgress(src, stderr, progressTerminal)
	if pr != nil {
		src = pr
	}
	br := bufio.NewReaderSize(src, logs.DetectSize)
	if format == logs.Unknown {
		if format, err = detectInput(br); err != nil {
			return fmt.Errorf("reading %s: %w", name, err)
		}
		if format == logs.Unknown {
			return fmt.Errorf("cannot tell what %s is (not XML, a JSON log, a capture or a log format stanzascope knows); name it with --input-format", name)
		}
	}
	var read func(ctx context.Context, sink inspect.Sink) error
	switch format {
	case logs.Pcap:
		if readCaptureFile == nil {
			return errors.New("reading captures is not available in this build")
		}
		path, cleanup, err := capturePath(name, br)
		if err != nil {
			return err
		}
		defer cleanup()
		read = func(ctx context.Context, sink inspect.Sink) error {
			return readCaptureFile(ctx, path, *ports, sink, stderr)
		}
	case logs.JSON:
		// The log already holds what the iq tracker derived (round trip times, notes about
		// requests never answered): tracking it again would repeat every note.
		out.noIQTrack = true
		read = func(ctx context.Context, sink inspect.Sink) error {
			return inspect.ReadJSONLog(ctxReader{ctx, br}, sink)
		}
	case logs.XML:
		if dir == inspect.DirNone {
			dir = guessDirection(br)
		}
		out.noIQTrack = true // one direction: requests and answers are in different files
		conn := &inspect.ConnInfo{ID: 1}
		read = func(ctx context.Context, sink inspect.Sink) error {
			return inspect.ReadStream(ctxReader{ctx, br}, dir, conn, sink)
		}
	default:
		read = func(ctx context.Context, sink inspect.Sink) error {
			return logs.Read(ctxReader{ctx, br}, format, sink, logs.Options{})
		}
	}
	if pr != nil && format != logs.Pcap { // a capture is read by path: no bytes to count here
		inner := read
		read = func(ctx context.Context, sink inspect.Sink) error {
			defer pr.done()
			return inner(ctx, pr.sink(sink))
		}
	}
	return webf.keepServing(ctx, runPipeline(ctx, out, stdout, stderr, read), stderr)
}

// mergedLogs opens the JSON logs names and returns a reader that merges them by time.
func mergedLogs(names []string) (read func(ctx context.Context, sink inspect.Sink) error, closeAll func(), err error) {
	var closers []func() error
	closeAll = func() {
		for _, c := range closers {
			c()
		}
	}
	var in []inspect.JSONLog
	for _, name := range names {
		if name == "-" {
			closeAll()
			return nil, nil, usagef("standard input cannot be merged with other logs; name the files")
		}
		src, c, err := openInput(name)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		closers = append(closers, c)
		br := bufio.NewReaderSize(src, logs.DetectSize)
		if f, err := detectInput(br); err != nil || f != logs.JSON {
			closeAll()
			if err != nil {
				return nil, nil, fmt.Errorf("reading %s: %w", name, err)
			}
			return nil, nil, fmt.Errorf("%s is not a stanzascope JSON log; only JSON logs can be merged", name)
		}
		base := filepath.Base(name)
		in = append(in, inspect.JSONLog{Name: strings.TrimSuffix(strings.TrimSuffix(base, ".jsonl"), ".json"), R: br})
	}
	return func(ctx context.Context, sink inspect.Sink) error {
		logs := make([]inspect.JSONLog, len(in))
		for i, l := range in {
			logs[i] = inspect.JSONLog{Name: l.Name, R: ctxReader{ctx, l.R}}
		}
		return inspect.MergeJSONLogs(logs, sink)
	}, closeAll, nil
}

// openInput opens FILE, or standard input for "-".
func openInput(name string) (io.Reader, func() error, error) {
	if name == "-" {
		return stdin, func() error { return nil }, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read input: %w", err)
	}
	return f, f.Close, nil
}

// detectInput finds the format from the first bytes. It peeks no further than it must,
// so that a live pipe is never waited on for more than it takes to decide: XML, JSON and
// captures are known from their first bytes, a debug log from its first line that holds
// a stanza (or, failing that, from the first DetectSize bytes).
func detectInput(br *bufio.Reader) (logs.Format, error) {
	for size := 1; ; {
		b, err := br.Peek(size)
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
			return logs.Unknown, err
		}
		end := err != nil || len(b) >= logs.DetectSize
		if f, sure := logs.DetectPrefix(b, end); sure || end {
			return f, nil
		}
		size = max(len(b)+1, br.Buffered())
	}
}

// streamHeaderRE finds the start of a stream header and its attributes.
var streamHeaderRE = regexp.MustCompile(`^\s*(?:<\?[^>]*\?>\s*)?<(?:[A-Za-z_][\w.-]*:)?stream(\s[^>]*)?>`)
var idAttrRE = regexp.MustCompile(`\sid\s*=`)

// guessDirection says which side wrote a raw stream: a stream header with an id attribute
// is the server's (RFC 6120 §4.7.3: only the receiving entity sets it).
func guessDirection(br *bufio.Reader) inspect.Direction {
	head, _ := br.Peek(br.Buffered())
	if m := streamHeaderRE.FindSubmatch(head); m != nil && idAttrRE.Match(m[1]) {
		return inspect.ServerToClient
	}
	return inspect.ClientToServer
}

// capturePath returns a path the capture reader can open: FILE itself, or standard input
// copied to a temporary file.
func capturePath(name string, br *bufio.Reader) (string, func(), error) {
	if name != "-" {
		return name, func() {}, nil
	}
	f, err := os.CreateTemp("", "stanzascope-*.pcap")
	if err != nil {
		return "", nil, fmt.Errorf("copying standard input: %w", err)
	}
	cleanup := func() { os.Remove(f.Name()) }
	_, err = io.Copy(f, br)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		cleanup()
		return "", nil, fmt.Errorf("copying standard input: %w", err)
	}
	return f.Name(), cleanup, nil
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// counter counts what goes through, for the summary line.
type counter struct {
	next                     inspect.Sink
	records, stanzas, errors int
}

func (c *counter) Write(r *inspect.Record) error {
	c.records++
	switch r.Kind {
	case inspect.KindStanza:
		c.stanzas++
	case inspect.KindError:
		c.errors++
	}
	return c.next.Write(r)
}

// guarded lets the reading goroutine be abandoned on cancellation: after stop, records
// are discarded instead of racing with the pipeline's close.
type guarded struct {
	mu      sync.Mutex
	stopped bool
	next    inspect.Sink
}

func (g *guarded) Write(r *inspect.Record) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return context.Canceled
	}
	return g.next.Write(r)
}

func (g *guarded) stop() {
	g.mu.Lock()
	g.stopped = true
	g.mu.Unlock()
}

// runPipeline opens the output, runs read into it and prints the summary. Reading runs in
// its own goroutine so that Ctrl-C ends inspect even while standard input blocks; such a
// read cannot be interrupted, and its goroutine ends with the process.
func runPipeline(ctx context.Context, out *outputFlags, stdout, stderr io.Writer, read func(context.Context, inspect.Sink) error) error {
	sink, closeOut, err := out.open(stdout)
	if err != nil {
		return err
	}
	cnt := &counter{next: sink}
	g := &guarded{next: cnt}
	done := make(chan error, 1)
	go func() { done <- read(ctx, g) }()
	var readErr error
	select {
	case readErr = <-done:
	case <-ctx.Done():
		g.stop()
		// A file or a live capture notices the cancellation within a moment and prints its
		// summary; standard input may block for ever, so the wait is bounded.
		select {
		case readErr = <-done:
		case <-time.After(time.Second):
		}
		if errors.Is(readErr, context.Canceled) {
			readErr = nil
		}
	}
	g.stop()
	closeErr := closeOut()
	var re reportedError
	if errors.As(readErr, &re) {
		return readErr
	}
	fmt.Fprintf(stderr, "inspect: %d records, %d stanzas, %d errors\n", cnt.records, cnt.stanzas, cnt.errors)
	if readErr != nil {
		return readErr
	}
	if closeErr != nil {
		return fmt.Errorf("closing the output: %w", closeErr)
	}
	return nil
}
