package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/pflag"

	"github.com/stanzascope/stanzascope/cmd/stanzascope/internal/metrics"
	"github.com/stanzascope/stanzascope/cmd/stanzascope/internal/outfile"
	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/rules"
)

// newPcapSink opens a capture file that records are written to. It is nil until the
// capture code's file sets it in init, so a build without capture support says so.
var newPcapSink func(path string) (inspect.Sink, io.Closer, error)

// iqTimeout is how long a request may wait for its answer before the tracker reports it.
const iqTimeout = 30 * time.Second

// outputFlags are the flags every subcommand that shows traffic shares.
type outputFlags struct {
	format      string
	logFile     string
	color       string
	theme       string
	showSecrets bool
	explain     bool
	filterName  []string
	filterType  []string
	filterJID   string
	filterConn  []uint
	filterExpr  string
	pcapOut     string
	pcap        bool

	// noIQTrack turns off iq matching, for input that holds one direction only, where
	// every request or every answer would be reported as unmatched.
	noIQTrack bool
	// live says the records come from traffic that must not wait for the terminal (proxy,
	// switch): each output then gets its own queue (see open).
	live bool
	// stderr, when set, is told at the end how many records the terminal skipped.
	stderr io.Writer
	// warn is where warnings about the flags go (the command's stderr), once.
	warn   io.Writer
	warned bool
	// isTerminal reports whether w is a terminal; tests replace it.
	isTerminal func(w io.Writer) bool
	// columns returns the width of the terminal w (0: unknown); tests replace it.
	columns func(w io.Writer) int
	// more are outputs added beside the terminal and the files (the web view's hub, see
	// webFlags.start).
	more []inspect.Output
	// metrics, when set (--metrics), gets one more output, counts what the log writes and
	// what the terminal skips.
	metrics *metrics.Metrics
}

// addOutputFlags registers the output flags on fs; --pcap-out only when pcap is true.
func addOutputFlags(fs *pflag.FlagSet, pcap bool) *outputFlags {
	o := &outputFlags{pcap: pcap, isTerminal: writerIsTerminal, columns: terminalColumns}
	fs.StringVar(&o.format, "format", "pretty", "output format: pretty, json or raw")
	fs.StringVar(&o.logFile, "log", "", "also append JSON lines to `FILE` (created with mode 0600)")
	fs.StringVar(&o.color, "color", "auto", "colour: auto (only on a terminal, not when NO_COLOR is set or TERM=dumb), always or never")
	fs.StringVar(&o.theme, "theme", "dark", "colours for a `dark` or a light terminal background (both high-contrast, for a projector too)")
	fs.BoolVar(&o.showSecrets, "show-secrets", false, "show passwords and SASL payloads instead of redacting them")
	fs.BoolVar(&o.explain, "explain", false, "explain each stanza and name the RFC/XEP section that defines it")
	fs.StringSliceVar(&o.filterName, "filter-name", nil, "show only stanzas with these element `names` (message,presence,iq,...)")
	fs.StringSliceVar(&o.filterType, "filter-type", nil, "show only stanzas with these `types` (chat,get,unavailable,...; available/normal for none)")
	fs.StringVar(&o.filterJID, "filter-jid", "", "show only the stanzas from or to `JID`, and the records of the connections bound to it (bare: any resource)")
	fs.UintSliceVar(&o.filterConn, "filter-conn", nil, "show only the records of these connection `numbers`")
	fs.StringVar(&o.filterExpr, "filter", "", "show only the records that `EXPR` matches, e.g. \"jid alice@localhost and not name presence\" (docs/INSPECT.md)")
	o.warn = fs.Output()
	if pcap {
		fs.StringVar(&o.pcapOut, "pcap-out", "", "also write the traffic as a capture to `FILE` (Wireshark)")
	}
	return o
}

func writerIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// useColor decides colour for output to w.
func (o *outputFlags) useColor(w io.Writer) bool {
	switch o.color {
	case "always":
		return true
	case "never":
		return false
	}
	return os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb" && o.isTerminal(w)
}

// validate checks the flag values; its errors are usage errors.
func (o *outputFlags) validate() error {
	switch o.format {
	case "pretty", "json", "raw":
	default:
		return usagef("--format must be pretty, json or raw, not %q", o.format)
	}
	switch o.color {
	case "auto", "always", "never":
	default:
		return usagef("--color must be auto, always or never, not %q", o.color)
	}
	if _, err := inspect.ParseTheme(o.theme); err != nil && o.theme != "" {
		return usagef("--%v", err)
	}
	_, warnings, err := o.terminalFilter()
	if err != nil {
		return err
	}
	if !o.warned && o.warn != nil {
		o.warned = true
		for _, w := range warnings {
			fmt.Fprintf(o.warn, "stanzascope: warning: %s\n", w)
		}
	}
	return nil
}

// terminalFilter compiles what the terminal shows from the --filter flags: each flag is a
// condition of the expression language (rules.ParseFilter), all of them required. It
// returns nil when no filter is set, and the warnings about names and types no XMPP
// specification uses. An expression that does not parse is a usage error that shows where.
func (o *outputFlags) terminalFilter() (*rules.Filter, []string, error) {
	var parts, warnings []string
	if len(o.filterName) > 0 {
		var q []string
		for _, n := range o.filterName {
			n = strings.TrimSpace(n)
			if n == "" {
				continue
			}
			q = append(q, rules.QuoteFilterValue(n))
			if w := rules.ElementNameWarning(n); w != "" {
				warnings = append(warnings, "--filter-name: "+w)
			}
		}
		if len(q) > 0 {
			parts = append(parts, "name "+strings.Join(q, ","))
		}
	}
	if len(o.filterType) > 0 {
		var q []string
		for _, t := range o.filterType {
			t = strings.TrimSpace(t)
			if t == "" {
				continue
			}
			q = append(q, rules.QuoteFilterValue(t))
			if w := rules.TypeWarning(t); w != "" {
				warnings = append(warnings, "--filter-type: "+w)
			}
		}
		if len(q) > 0 {
			parts = append(parts, "type "+strings.Join(q, ","))
		}
	}
	if o.filterJID != "" {
		parts = append(parts, "jid "+rules.QuoteFilterValue(o.filterJID))
	}
	if len(o.filterConn) > 0 {
		var ids []string
		for _, id := range o.filterConn {
			if id == 0 {
				return nil, nil, usagef("--filter-conn: connections are numbered from 1")
			}
			ids = append(ids, strconv.FormatUint(uint64(id), 10))
		}
		parts = append(parts, "conn "+strings.Join(ids, ","))
	}
	if o.filterExpr != "" {
		f, err := rules.ParseFilter(o.filterExpr)
		if err != nil {
			var fe *rules.FilterError
			if errors.As(err, &fe) {
				return nil, nil, usagef("--filter: %v\n  %s\n  %s^", err, o.filterExpr, strings.Repeat(" ", max(fe.Col-1, 0)))
			}
			return nil, nil, usagef("--filter: %v", err)
		}
		for _, w := range f.Warnings() {
			warnings = append(warnings, "--filter: "+w)
		}
		parts = append(parts, "("+o.filterExpr+")")
	}
	if len(parts) == 0 {
		return nil, nil, nil
	}
	f, err := rules.ParseFilter(strings.Join(parts, " and "))
	if err != nil {
		return nil, nil, usagef("--filter-name, --filter-type, --filter-jid: %v", err)
	}
	return f, warnings, nil
}

// prettyOptions are the pretty printer's options for output to w: on a terminal, prose is
// wrapped at its width and a legend comes first.
func (o *outputFlags) prettyOptions(w io.Writer) inspect.PrettyOptions {
	theme, _ := inspect.ParseTheme(o.theme) // checked by validate; "" is the default, dark
	opt := inspect.PrettyOptions{Color: o.useColor(w), Theme: theme, Explain: o.explain}
	if o.isTerminal(w) {
		if o.columns != nil {
			opt.Columns = o.columns(w)
		}
		opt.Legend = true
	}
	return opt
}

// terminalColumns returns the width of the terminal w: $COLUMNS when set (a person can
// say so), else what the terminal reports, else 0.
func terminalColumns(w io.Writer) int {
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		return n
	}
	if f, ok := w.(*os.File); ok {
		return ttyColumns(f)
	}
	return 0
}

// flusher is what the printers have when they buffer.
type flusher interface{ Flush() error }

// logSink is the JSON log file. Its lines are encoded into the file's buffer
// (outfile.File) and handed to the file when the chain's queue runs empty
// (inspect.Async calls Flush), so under load the log costs one write call per 4 MiB
// (written direct) or per burst instead of one per record, and all of it is in the
// file soon after traffic pauses (outfile.Visible).
type logSink struct {
	*inspect.JSON
	f *outfile.File
}

// Flush hands the lines written to the file.
func (l logSink) Flush() error { return l.f.Flush() }

// liveQueue is the number of records each output may hold when it is slower than the
// traffic (see inspect.ChainOptions.Queue): a lossless output then holds the traffic up, the
// terminal skips records and says where.
var liveQueue = 8192 // a variable so that tests can make the terminal skip sooner

// open builds the sink chain once (inspect.Chain, docs/ARCHITECTURE.md):
//
//	redactor (unless --show-secrets) -> iq tracker -> numbering
//	-> tee(metrics [--metrics, inline], terminal [--filter-*], JSON log file, capture file, web view hub)
//
// Every output gets the same redacted records; to add one, append it to outs. The
// filters choose what the terminal shows; the log and the capture stay complete. With
// live traffic (o.live) each output has its own queue: the log and the capture never lose
// a record (the traffic waits for them), the terminal skips records when it cannot keep up.
// The sink returned is safe for concurrent use. closeFn reports unanswered requests,
// writes what the queues hold, flushes and closes the files; call it once, after the last
// Write.
func (o *outputFlags) open(stdout io.Writer) (sink inspect.Sink, closeFn func() error, err error) {
	if err := o.validate(); err != nil {
		return nil, nil, err
	}
	var printer inspect.Sink
	var rawPrinter *inspect.Raw
	switch o.format {
	case "pretty":
		printer = inspect.NewPretty(stdout, o.prettyOptions(stdout))
	case "json":
		printer = inspect.NewJSON(stdout, inspect.JSONOptions{})
	case "raw":
		// Between the bytes, a line marks each change of connection or direction when
		// there is more than one; one direction alone stays byte for byte.
		rawPrinter = inspect.NewRaw(stdout).MarkChanges(o.useColor(stdout))
		printer = rawPrinter
	}
	var closers []func() error // run after the chain is closed, last first
	closeFiles := func() error {
		var errs []error
		for i := len(closers) - 1; i >= 0; i-- {
			errs = append(errs, closers[i]())
		}
		return errors.Join(errs...)
	}
	if f, ok := printer.(flusher); ok {
		closers = append(closers, f.Flush)
	}
	if rawPrinter != nil {
		closers = append(closers, rawPrinter.Close) // what it held back, at the end
	}
	term := inspect.Output{Sink: printer, Lossy: true}
	if f, _, err := o.terminalFilter(); err != nil {
		return nil, nil, err
	} else if f != nil && !f.NeedsTree() {
		// Decided before the terminal's queue: a record it does not show costs the
		// traffic no queueing and no wake-up of the terminal (--filter-name bench-shows-
		// nothing under load: every record).
		term.Show = f.Match
	} else if f != nil {
		// A namespace or an XPath parses the stanza: in the terminal's goroutine, off
		// the traffic's path.
		term.Sink = rules.NewFilterSink(printer, f)
	}
	outs := []inspect.Output{term}
	if o.logFile != "" {
		f, err := outfile.Open(o.logFile, os.O_APPEND)
		if err != nil {
			return nil, nil, errors.Join(fmt.Errorf("opening the log: %w", err), closeFiles())
		}
		var log inspect.Sink = logSink{inspect.NewJSON(f, inspect.JSONOptions{}), f}
		if o.metrics != nil {
			log = o.metrics.CountLog(log)
		}
		outs = append(outs, inspect.Output{Sink: log})
		closers = append(closers, f.Close) // written out, then closed
	}
	if o.pcapOut != "" {
		if newPcapSink == nil {
			err := errors.New("pcap output not available in this build")
			return nil, nil, errors.Join(err, closeFiles())
		}
		ps, c, err := newPcapSink(o.pcapOut)
		if err != nil {
			return nil, nil, errors.Join(fmt.Errorf("opening the capture output: %w", err), closeFiles())
		}
		outs = append(outs, inspect.Output{Sink: ps})
		closers = append(closers, c.Close)
	}
	outs = append(outs, o.more...)
	if o.metrics != nil {
		outs = append(outs, o.metrics.Output())
	}
	opt := inspect.ChainOptions{ShowSecrets: o.showSecrets, IQTimeout: iqTimeout, NoIQTrack: o.noIQTrack}
	if o.live {
		opt.Queue = liveQueue
	}
	chain := inspect.NewChain(opt, outs...)
	if o.metrics != nil {
		o.metrics.WatchSkipped(chain.Skipped)
	}
	closeFn = func() error {
		err := chain.Close()
		if n := chain.Skipped(); n > 0 && o.stderr != nil {
			fmt.Fprintf(o.stderr, "stanzascope: the terminal skipped %d records it could not show in time (notes mark where); the log and the capture have them all\n", n)
		}
		return errors.Join(err, closeFiles())
	}
	return chain, closeFn, nil
}
