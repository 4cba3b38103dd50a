package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/rules"
)

func init() {
	register(&command{
		name:    "rules",
		summary: "check rule files, or try them on stanzas from a file",
		run:     runRules,
	})
}

const rulesUsage = `rules check FILE...
       stanzascope rules test FILE STANZA.xml [--direction c2s|s2c] [--bound JID] [--show-secrets]

check   validates rule files; every problem is printed as FILE:LINE:COL: message and
        the exit status is 1 if there is any. Warnings (a rule that could answer
        itself) are printed the same way and do not change the exit status.
test    applies the rules in FILE to each stanza in STANZA.xml (stanzas one after
        another, or a saved stream with its header) and prints what would happen: the
        rules that matched, the stanza as forwarded, and anything else sent (errors,
        injected stanzas). Credentials are redacted as in every other output unless
        --show-secrets is given.

The file format is described in docs/RULES.md; examples are in rules/examples/.`

func runRules(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usagef("rules needs a sub-command: check or test")
	}
	switch args[0] {
	case "check":
		return runRulesCheck(args[1:], stdout, stderr)
	case "test":
		return runRulesTest(args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintf(stderr, "usage: stanzascope %s\n\nactions:\n", rulesUsage)
		sum := rules.ActionSummary()
		names := make([]string, 0, len(sum))
		for n := range sum {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(stderr, "  %-13s %s\n", n, sum[n])
		}
		return nil
	}
	return usagef("unknown rules sub-command %q (check or test)", args[0])
}

func runRulesCheck(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("rules check", rulesUsage, stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usagef("rules check needs at least one FILE")
	}
	e, err := rules.Load(fs.Args()...)
	var fe *rules.FileErrors
	if errors.As(err, &fe) {
		for _, p := range fe.Problems {
			fmt.Fprintln(stderr, p.String())
		}
		return fmt.Errorf("%d problem%s found", len(fe.Problems), plural(len(fe.Problems)))
	}
	if err != nil {
		return err
	}
	for _, w := range e.Warnings() {
		fmt.Fprintln(stderr, w.String())
	}
	perFile := map[string]int{}
	for _, c := range e.Counts() {
		perFile[c.File]++
	}
	for _, f := range fs.Args() {
		fmt.Fprintf(stdout, "%s: ok, %d rule%s\n", f, perFile[f], plural(perFile[f]))
	}
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// maxTestStanzas bounds the stanzas `rules test` reads from one file.
const maxTestStanzas = 10000

func runRulesTest(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("rules test", rulesUsage, stderr)
	dirFlag := fs.String("direction", "c2s", "direction the stanzas travel: c2s (client to server) or s2c")
	bound := fs.String("bound", "", "the connection's bound `JID`, for rules with a bound condition")
	showSecrets := fs.Bool("show-secrets", false, "show passwords and SASL payloads instead of redacting them")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return usagef("rules test needs FILE and STANZA.xml")
	}
	dir, ok := inspect.ParseDirection(*dirFlag)
	if !ok || dir == inspect.DirNone {
		return usagef("--direction must be c2s or s2c, not %q", *dirFlag)
	}
	e, err := rules.Load(fs.Arg(0))
	var fe *rules.FileErrors
	if errors.As(err, &fe) {
		for _, p := range fe.Problems {
			fmt.Fprintln(stderr, p.String())
		}
		return fmt.Errorf("%s has %d problem%s", fs.Arg(0), len(fe.Problems), plural(len(fe.Problems)))
	}
	if err != nil {
		return err
	}
	f, err := os.Open(fs.Arg(1))
	if err != nil {
		return err
	}
	defer f.Close()
	rd := stanzaReader(bufio.NewReader(f))
	n := 0
	for n < maxTestStanzas {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", fs.Arg(1), err)
		}
		if ev.Kind != inspect.KindStanza {
			continue
		}
		n++
		rec := ev.Record() // its Header is the reader's: the stream's, or none for fragments
		rec.Dir = dir
		out := e.Apply(rules.Input{Dir: dir, BoundJID: *bound, Record: rec})
		printOutcome(stdout, n, dir, rec, out, *showSecrets)
	}
	if n == 0 {
		return fmt.Errorf("%s: no stanza found", fs.Arg(1))
	}
	return nil
}

// stanzaReader reads stanzas one after another, or a whole stream when the file starts
// with a stream header (a saved stream).
func stanzaReader(br *bufio.Reader) *inspect.Reader {
	head, _ := br.Peek(512)
	t := bytes.TrimLeft(head, " \t\r\n")
	if bytes.HasPrefix(t, []byte("<?xml")) || bytes.HasPrefix(t, []byte("<stream:stream")) {
		return inspect.NewReader(br, inspect.Limits{})
	}
	return inspect.NewFragmentReader(br, nil, inspect.Limits{})
}

// side names where a stanza travelling in direction d arrives.
func side(d inspect.Direction) string {
	if d == inspect.ClientToServer {
		return "server"
	}
	return "client"
}

// printOutcome reports what the rules did to one stanza. Every stanza it shows (the input,
// the result, injections) goes through inspect.Redact unless showSecrets: the rules may
// copy a password into what they send.
func printOutcome(w io.Writer, n int, dir inspect.Direction, rec *inspect.Record, out rules.Outcome, showSecrets bool) {
	show := func(b []byte) []byte {
		if !showSecrets {
			b, _ = inspect.Redact(b, rec.Header)
		}
		return b
	}
	long := "client-to-server"
	if dir == inspect.ServerToClient {
		long = "server-to-client"
	}
	fmt.Fprintf(w, "stanza %d (%s): %s\n", n, long, oneLine(show(rec.Raw)))
	if len(out.OverBudget) > 0 {
		fmt.Fprintf(w, "  budget:    XPath budget exceeded in %s: not matched, or the action did nothing\n", strings.Join(out.OverBudget, ", "))
	}
	if len(out.Matched) == 0 {
		fmt.Fprintf(w, "  matched:   no rule; forwarded unchanged\n\n")
		return
	}
	if out.AnswersInjection {
		fmt.Fprintf(w, "  answer:    it answers a stanza the rules injected: no injection in return\n")
	}
	fmt.Fprintf(w, "  matched:   %s\n", strings.Join(out.Matched, ", "))
	for _, inj := range out.Inject {
		if inj.Before {
			fmt.Fprintf(w, "  sent first to the %s: %s\n", side(inj.Dir), show(inj.Raw))
		}
	}
	switch out.Verdict {
	case rules.Drop:
		fmt.Fprintf(w, "  result:    dropped (nothing is forwarded)\n")
	case rules.Reject:
		fmt.Fprintf(w, "  result:    rejected (nothing is forwarded; the error goes back to the %s)\n", side(dir.Reverse()))
	default:
		if out.Replaced != nil {
			fmt.Fprintf(w, "  result:    forwarded to the %s, changed: %s\n", side(dir), show(out.Replaced))
		} else {
			fmt.Fprintf(w, "  result:    forwarded to the %s unchanged\n", side(dir))
		}
	}
	for _, inj := range out.Inject {
		if !inj.Before {
			fmt.Fprintf(w, "  sent to the %s: %s\n", side(inj.Dir), show(inj.Raw))
		}
	}
	if out.Delay > 0 {
		fmt.Fprintf(w, "  delayed:   %v\n", out.Delay)
	}
	for _, t := range out.Tags {
		if t.Color != "" {
			fmt.Fprintf(w, "  tag:       %s (%s)\n", t.Label, t.Color)
		} else {
			fmt.Fprintf(w, "  tag:       %s\n", t.Label)
		}
	}
	if out.Hide {
		fmt.Fprintf(w, "  hidden:    not shown in the log\n")
	}
	fmt.Fprintln(w)
}

// oneLine shows raw on one line, so each stanza's report starts with one line.
func oneLine(raw []byte) string {
	return strings.Join(strings.Fields(string(raw)), " ")
}
