package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const pkg = "example.com/p"

// ev builds one line of go test -json.
func ev(action, test, output string) string {
	s := `{"Action":"` + action + `","Package":"` + pkg + `"`
	if test != "" {
		s += `,"Test":"` + test + `"`
	}
	if output != "" {
		s += `,"Output":` + quote(output)
	}
	return s + "}"
}

func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\t", `\t`)
	return `"` + r.Replace(s) + `"`
}

func runReport(t *testing.T, allowed []allowedSkip, lines ...string) (bool, string) {
	t.Helper()
	var out strings.Builder
	ok := run(strings.NewReader(strings.Join(lines, "\n")+"\n"), &out, allowed)
	return ok, out.String()
}

func TestPassAndAllowedSkip(t *testing.T) {
	allowed := []allowedSkip{{pkg, "TestHelper", "helper process", ""}}
	ok, out := runReport(t, allowed,
		ev("start", "", ""),
		ev("run", "TestA", ""), ev("output", "TestA", "=== RUN   TestA\n"), ev("output", "TestA", "    a_test.go:3: noise\n"),
		ev("output", "TestA", "--- PASS: TestA (0.00s)\n"), ev("pass", "TestA", ""),
		ev("run", "TestHelper", ""), ev("output", "TestHelper", "=== RUN   TestHelper\n"),
		ev("output", "TestHelper", "    h_test.go:9: helper process for X\n"), ev("output", "TestHelper", "--- SKIP: TestHelper (0.00s)\n"),
		ev("skip", "TestHelper", ""),
		ev("output", "", "PASS\n"), ev("pass", "", ""),
	)
	if !ok {
		t.Fatalf("failed:\n%s", out)
	}
	for _, want := range []string{"ok   " + pkg, "skipped by design (1):", "TestHelper: h_test.go:9: helper process for X", "PASS: 1 packages, 1 tests passed, 0 failed, 1 skipped (0 not allowed)"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "noise") {
		t.Errorf("a passing test's output is shown:\n%s", out)
	}
}

// TestPeerSkipFails: a skip that is not allowed (a missing peer) fails the run and says
// which test and why; so does an allowed test skipping for another reason.
func TestPeerSkipFails(t *testing.T) {
	allowed := []allowedSkip{{pkg, "TestHelper", "helper process", ""}}
	ok, out := runReport(t, allowed,
		ev("run", "TestProsody", ""), ev("output", "TestProsody", "    prosody_test.go:29: prosody not installed\n"),
		ev("skip", "TestProsody", ""),
		ev("run", "TestHelper", ""), ev("output", "TestHelper", "    h_test.go:9: no /proc\n"), ev("skip", "TestHelper", ""),
		ev("pass", "", ""),
	)
	if ok {
		t.Fatalf("passed:\n%s", out)
	}
	for _, want := range []string{"SKIPPED, which scripts/test.sh does not allow (2)", "TestProsody: prosody_test.go:29: prosody not installed", "TestHelper: h_test.go:9: no /proc", "FAIL: 1 packages"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
}

// TestFailureShown: a failed test's whole output is printed, and the run fails.
func TestFailureShown(t *testing.T) {
	ok, out := runReport(t, nil,
		ev("run", "TestB", ""), ev("output", "TestB", "=== RUN   TestB\n"), ev("output", "TestB", "    b_test.go:7: got 2, want 3\n"),
		ev("output", "TestB", "--- FAIL: TestB (0.00s)\n"), ev("fail", "TestB", ""),
		ev("output", "", "FAIL\n"), ev("fail", "", ""),
	)
	if ok {
		t.Fatalf("passed:\n%s", out)
	}
	for _, want := range []string{"b_test.go:7: got 2, want 3", "--- FAIL: TestB", "FAIL " + pkg, "FAILED tests (1):\n  " + pkg + " TestB", "FAILED packages (1)"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
}

// TestTimeoutShown: a package that dies (timeout, panic) shows the tests still running
// and their output, and the package's own output.
func TestTimeoutShown(t *testing.T) {
	ok, out := runReport(t, nil,
		ev("run", "TestSlow", ""), ev("output", "TestSlow", "=== RUN   TestSlow\n"), ev("output", "TestSlow", "    slow_test.go:5: waiting\n"),
		ev("output", "", "panic: test timed out after 1s\n"), ev("fail", "", ""),
	)
	if ok {
		t.Fatalf("passed:\n%s", out)
	}
	for _, want := range []string{"did not finish: TestSlow", "slow_test.go:5: waiting", "panic: test timed out"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
}

// TestNoEventsFails: input that is not go test -json (or nothing) is not a pass; lines
// that are not events are shown as they are.
func TestNoEventsFails(t *testing.T) {
	ok, out := runReport(t, nil, "# example.com/p", "p.go:3:1: syntax error")
	if ok || !strings.Contains(out, "p.go:3:1: syntax error") || !strings.Contains(out, "no test events read") {
		t.Fatalf("ok %v:\n%s", ok, out)
	}
}

// TestRealGoTest runs go test -json on a tiny module with a passing, a failing and a
// skipping test, so the parser is checked against what the go command really writes.
func TestRealGoTest(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed: %v", err)
	}
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/m\n\ngo 1.22\n")
	write("m_test.go", `package m

import "testing"

func TestOK(t *testing.T) { t.Log("fine") }
func TestBad(t *testing.T) { t.Run("sub", func(t *testing.T) { t.Error("broken sub") }) }
func TestPeer(t *testing.T) { t.Skip("peer not installed") }
`)
	cmd := exec.Command(goBin, "test", "-json", "-count=1", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=", "GOWORK=off")
	b, _ := cmd.CombinedOutput() // fails: TestBad
	var out strings.Builder
	ok := run(strings.NewReader(string(b)), &out, nil)
	if ok {
		t.Fatalf("passed:\n%s", out.String())
	}
	for _, want := range []string{"broken sub", "FAILED tests (2):", "example.com/m TestBad/sub", "example.com/m TestPeer: m_test.go:7: peer not installed",
		"FAIL: 1 packages, 1 tests passed, 2 failed, 1 skipped (1 not allowed)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in:\n%s", want, out.String())
		}
	}
}
