// Command testreport reads the output of `go test -json` on standard input, prints what a
// person needs from it (each package's result, the full output of every failed test, every
// skipped test with its reason, a summary) and exits non-zero when a test failed, a
// package failed, or a test skipped for a reason not in the allowed list.
//
// scripts/test.sh runs the whole suite through it, with the peers (Prosody, slixmpp,
// tshark, ...) installed and CI set: a test that needs a peer or test data must then run,
// and a skip means that something the suite depends on is missing.
//
//	go test -json ./... 2>&1 | go run ./scripts/testreport
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// allowedSkip is a skip that says nothing about the environment: the test has nothing to
// check in this run by design. A skip is allowed when package, test and a part of the
// reason all match.
type allowedSkip struct {
	pkg, test, reason string
	why               string // why it may skip (documentation only)
}

// allowedSkips are the only skips scripts/test.sh accepts. Keep it short: a test that
// needs a peer, a file or a permission must fail under CI instead of skipping.
var allowedSkips = []allowedSkip{
	// The allocation guards count allocations, which the race detector adds; scripts/test.sh
	// runs them again without -race ("go test -run 'Allocs$'"), where they must pass.
	{"github.com/stanzascope/stanzascope/inspect", "TestFrameAllocs", "the race detector allocates",
		"run without -race by scripts/test.sh"},
	{"github.com/stanzascope/stanzascope/inspect", "TestScanStartTagAllocs", "the race detector allocates",
		"run without -race by scripts/test.sh"},
	{"github.com/stanzascope/stanzascope/inspect", "TestJSONWriteAllocs", "the race detector allocates",
		"run without -race by scripts/test.sh"},
	{"github.com/stanzascope/stanzascope/rules", "TestFilterMatchAllocs", "the race detector allocates",
		"run without -race by scripts/test.sh"},
	{"github.com/stanzascope/stanzascope/cmd/stanzascope", "TestMainJobChainAllocs", "the race detector allocates",
		"run without -race by scripts/test.sh"},
	{"github.com/stanzascope/stanzascope/proxy", "TestForwardAllocs", "the race detector allocates",
		"run without -race by scripts/test.sh"},
	{"github.com/stanzascope/stanzascope/proxy", "TestBreakpointMatchAllocs", "the race detector allocates",
		"run without -race by scripts/test.sh"},
	{"github.com/stanzascope/stanzascope/switch/server", "TestRouteAllocs", "the race detector allocates",
		"run without -race by scripts/test.sh"},
	{"github.com/stanzascope/stanzascope/switch/server", "TestIdleClientsHelper", "helper process for BenchmarkIdleSessionMemory",
		"the client process of a benchmark, run only by the benchmark"},
	{"github.com/stanzascope/stanzascope/switch/store", "TestHelperProcess", "helper process for TestKillDurability",
		"the writer process that TestKillDurability kills, run only by that test"},
	{"github.com/stanzascope/stanzascope/switch/cluster", "TestHelperProcess", "helper process for TestKillNode",
		"the switch node that TestKillNode kills, run only by that test"},
	{"github.com/stanzascope/stanzascope/cmd/stanzascope", "TestInspectLiveUnavailable", "live capture is built in",
		"checks the message of builds without live capture; on Linux it is built in"},
	{"github.com/stanzascope/stanzascope/inspect/capture", "TestReadLive", "no permission to capture",
		"needs root or CAP_NET_RAW; it fails instead of skipping when run as root, as CI is"},
}

// event is one line of `go test -json` (cmd/test2json's TestEvent, plus the build events
// of `go test -json` since Go 1.24).
type event struct {
	Action      string
	Package     string
	Test        string
	Elapsed     float64
	Output      string
	FailedBuild string
	ImportPath  string // build-output, build-fail
}

// testKey names one test of one package.
type testKey struct{ pkg, test string }

// skip is a skipped test and what it printed.
type skip struct {
	testKey
	reason  string
	allowed bool
}

// report is the state of one run.
type report struct {
	w       io.Writer
	allowed []allowedSkip

	output   map[testKey][]string // output so far of each running test ("" test: the package)
	running  map[testKey]bool
	passed   int
	failed   []testKey
	skipped  []skip
	pkgFail  []string
	pkgs     int
	nonJSON  int
	sawEvent bool
}

func newReport(w io.Writer, allowed []allowedSkip) *report {
	return &report{w: w, allowed: allowed, output: map[testKey][]string{}, running: map[testKey]bool{}}
}

// line handles one line of input.
func (r *report) line(l string) {
	var e event
	if !strings.HasPrefix(l, "{") || json.Unmarshal([]byte(l), &e) != nil || e.Action == "" {
		// Not an event: the go command's own messages (downloads, errors). Show them.
		r.nonJSON++
		fmt.Fprintln(r.w, l)
		return
	}
	r.sawEvent = true
	k := testKey{e.Package, e.Test}
	switch e.Action {
	case "build-output":
		fmt.Fprint(r.w, e.Output)
	case "output":
		r.output[k] = append(r.output[k], e.Output)
	case "run":
		r.running[k] = true
	case "pass":
		if e.Test == "" {
			r.pkgs++
			fmt.Fprintf(r.w, "ok   %s %.1fs\n", e.Package, e.Elapsed)
		} else {
			r.passed++
		}
		r.done(k)
	case "skip":
		if e.Test == "" { // a package without tests
			r.done(k)
			return
		}
		s := skip{testKey: k, reason: skipReason(r.output[k])}
		s.allowed = r.isAllowed(s)
		r.skipped = append(r.skipped, s)
		r.done(k)
	case "fail":
		if e.Test == "" {
			r.pkgs++
			r.pkgFail = append(r.pkgFail, e.Package)
			fmt.Fprintf(r.w, "FAIL %s %.1fs\n", e.Package, e.Elapsed)
			// A failed package's own output holds what no test owns: a build failure, a
			// panic or a timeout, and the tests still running when it came.
			for t := range r.running {
				if t.pkg == e.Package && t.test != "" {
					fmt.Fprintf(r.w, "--- did not finish: %s\n", t.test)
					r.printOutput(t)
					r.failed = append(r.failed, t)
					r.done(t)
				}
			}
			r.printOutput(k)
		} else {
			r.failed = append(r.failed, k)
			r.printOutput(k)
		}
		r.done(k)
	}
}

func (r *report) done(k testKey) {
	delete(r.output, k)
	delete(r.running, k)
}

func (r *report) printOutput(k testKey) {
	for _, o := range r.output[k] {
		fmt.Fprint(r.w, o)
	}
}

func (r *report) isAllowed(s skip) bool {
	for _, a := range r.allowed {
		if a.pkg == s.pkg && a.test == s.test && strings.Contains(s.reason, a.reason) {
			return true
		}
	}
	return false
}

// skipReason is what a skipped test printed, without the lines the framework adds.
func skipReason(out []string) string {
	var b []string
	for _, o := range out {
		t := strings.TrimSpace(o)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		b = append(b, t)
	}
	if len(b) == 0 {
		return "(no reason given)"
	}
	return strings.Join(b, " | ")
}

// finish prints the summary and reports whether the run passed.
func (r *report) finish() bool {
	var bad []skip
	var fine []skip
	for _, s := range r.skipped {
		if s.allowed {
			fine = append(fine, s)
		} else {
			bad = append(bad, s)
		}
	}
	byName := func(l []skip) {
		sort.Slice(l, func(i, j int) bool {
			if l[i].pkg != l[j].pkg {
				return l[i].pkg < l[j].pkg
			}
			return l[i].test < l[j].test
		})
	}
	byName(bad)
	byName(fine)
	fmt.Fprintln(r.w)
	if len(fine) > 0 {
		fmt.Fprintf(r.w, "skipped by design (%d):\n", len(fine))
		for _, s := range fine {
			fmt.Fprintf(r.w, "  %s %s: %s\n", s.pkg, s.test, s.reason)
		}
	}
	if len(bad) > 0 {
		fmt.Fprintf(r.w, "SKIPPED, which scripts/test.sh does not allow (%d): install what they need, or make them run:\n", len(bad))
		for _, s := range bad {
			fmt.Fprintf(r.w, "  %s %s: %s\n", s.pkg, s.test, s.reason)
		}
	}
	if len(r.failed) > 0 {
		fmt.Fprintf(r.w, "FAILED tests (%d):\n", len(r.failed))
		for _, k := range r.failed {
			fmt.Fprintf(r.w, "  %s %s\n", k.pkg, k.test)
		}
	}
	if len(r.pkgFail) > 0 {
		fmt.Fprintf(r.w, "FAILED packages (%d): %s\n", len(r.pkgFail), strings.Join(r.pkgFail, " "))
	}
	ok := r.sawEvent && len(bad) == 0 && len(r.failed) == 0 && len(r.pkgFail) == 0
	verdict := "PASS"
	if !ok {
		verdict = "FAIL"
	}
	fmt.Fprintf(r.w, "%s: %d packages, %d tests passed, %d failed, %d skipped (%d not allowed)\n",
		verdict, r.pkgs, r.passed, len(r.failed), len(r.skipped), len(bad))
	if !r.sawEvent {
		fmt.Fprintln(r.w, "no test events read: did go test run with -json?")
	}
	return ok
}

func run(in io.Reader, w io.Writer, allowed []allowedSkip) bool {
	r := newReport(w, allowed)
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for sc.Scan() {
		r.line(sc.Text())
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(w, "testreport: reading the test output: %v\n", err)
		r.finish()
		return false
	}
	return r.finish()
}

func main() {
	if len(os.Args) > 1 {
		fmt.Fprintln(os.Stderr, "usage: go test -json ./... 2>&1 | testreport")
		os.Exit(2)
	}
	if !run(os.Stdin, os.Stdout, allowedSkips) {
		os.Exit(1)
	}
}
