package rules

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	// Write a new file and rename it over the old one, as editors do.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

const dropPresence = "rules:\n  - name: p\n    when: {element: presence}\n    do: [drop]\n"
const tagPresence = "rules:\n  - name: p\n    when: {element: presence}\n    do: [tag: new]\n  - name: q\n    do: [pass]\n"

func TestLoadErrorsAllFiles(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	writeFile(t, a, "rules:\n  - name: x\n    do: [explode]\n")
	writeFile(t, b, "rules:\n  - name: y\n    when: {from: \"@\"}\n    do: [drop]\n")
	_, err := Load(a, b, filepath.Join(dir, "missing.yaml"))
	var fe *FileErrors
	if !errors.As(err, &fe) || len(fe.Problems) != 3 {
		t.Fatalf("err = %v", err)
	}
	msg := err.Error()
	for _, want := range []string{a + ":3:10: unknown action", b + ":3:18: from:", "missing.yaml: open "} {
		if !strings.Contains(msg, want) {
			t.Errorf("%q missing from:\n%s", want, msg)
		}
	}
}

func TestLoadDuplicateAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	writeFile(t, a, dropPresence)
	writeFile(t, b, "\n"+dropPresence)
	_, err := Load(a, b)
	if err == nil || !strings.Contains(err.Error(), b+":3:5: rule name \"p\" already used in "+a+" at line 2") {
		t.Fatalf("err = %v", err)
	}
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "r.yaml")
	writeFile(t, f, dropPresence)
	e, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	if out := e.Apply(c2s(t, `<presence/>`)); out.Verdict != Drop {
		t.Fatalf("%+v", out)
	}
	writeFile(t, f, "rules:\n  - name: p\n    do: [explode]\n")
	if err := e.Reload(); err == nil || !strings.Contains(err.Error(), "r.yaml:3:10: unknown action") {
		t.Fatalf("reload of a broken file: %v", err)
	}
	if out := e.Apply(c2s(t, `<presence/>`)); out.Verdict != Drop {
		t.Fatalf("old rules not kept: %+v", out)
	}
	writeFile(t, f, tagPresence)
	if err := e.Reload(); err != nil {
		t.Fatal(err)
	}
	out := e.Apply(c2s(t, `<presence/>`))
	if out.Verdict != Forward || len(out.Tags) != 1 {
		t.Fatalf("new rules not in force: %+v", out)
	}
	// p matched three times over two generations: the count carries over by name.
	if c := e.Counts(); len(c) != 2 || c[0].Name != "p" || c[0].Count != 3 || c[0].File != f || c[0].Line != 2 {
		t.Fatalf("counts %+v", c)
	}
}

// TestApplyDuringReload runs Apply from several goroutines while the rules are swapped;
// -race checks the engine, and each outcome must come from one whole rule set.
func TestApplyDuringReload(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "r.yaml")
	writeFile(t, f, dropPresence)
	e, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := record(t, `<presence/>`)
			for ctx.Err() == nil {
				r := *rec
				out := e.Apply(Input{Dir: inspect.ClientToServer, Record: &r})
				drop := out.Verdict == Drop && len(out.Tags) == 0 && len(out.Matched) == 1
				tag := out.Verdict == Forward && len(out.Tags) == 1 && len(out.Matched) == 1
				if !drop && !tag {
					select {
					case errs <- fmt.Sprintf("mixed outcome %+v", out):
					default:
					}
					return
				}
			}
		}()
	}
	for i := 0; i < 50; i++ {
		src := dropPresence
		if i%2 == 0 {
			src = tagPresence
		}
		writeFile(t, f, src)
		if err := e.Reload(); err != nil {
			t.Error(err)
		}
	}
	cancel()
	wg.Wait()
	close(errs)
	for m := range errs {
		t.Error(m)
	}
}

// logSink collects Watch's log lines for a test.
type logSink struct {
	mu    sync.Mutex
	lines []string
}

func (l *logSink) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logSink) count(sub string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if strings.Contains(s, sub) {
			n++
		}
	}
	return n
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWatch(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "r.yaml")
	writeFile(t, f, dropPresence)
	e, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	var log logSink
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Watch(ctx, e, log.logf) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch: %v", err)
		}
	}()
	verdict := func() Verdict { return e.Apply(c2s(t, `<presence/>`)).Verdict }

	// The watcher may still be starting: rewrite the file until the reload is seen, less
	// often than the debounce delay so that a reload can happen.
	eventually(t, "the first reload", func() bool {
		writeFile(t, f, tagPresence)
		for end := time.Now().Add(3 * debounce); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			if log.count("reloaded 2 rules") > 0 {
				return true
			}
		}
		return false
	})
	if verdict() != Forward {
		t.Fatal("new rules not in force")
	}

	// A broken edit keeps the rules in force and says why, with the position.
	writeFile(t, f, "rules:\n  - name: p\n    when: {element: [presence}\n    do: [drop]\n")
	eventually(t, "the failed reload", func() bool { return log.count("reload failed, keeping the 2 rules in force") > 0 })
	if log.count("r.yaml:3:") == 0 {
		t.Errorf("failure without position: %q", log.lines)
	}
	if verdict() != Forward {
		t.Fatal("old rules not kept after a broken edit")
	}

	// Fixing the file brings the new rules in. Other files in the directory are ignored.
	writeFile(t, filepath.Join(dir, "other.yaml"), "garbage: [")
	writeFile(t, f, dropPresence)
	eventually(t, "the reload after the fix", func() bool { return verdict() == Drop })
	if n := log.count("other.yaml"); n != 0 {
		t.Errorf("reacted to another file")
	}
}

func TestWriteCounts(t *testing.T) {
	var b strings.Builder
	err := WriteCounts(&b, []RuleCount{{Name: "a", File: "r.yaml", Line: 2, Count: 7}, {Name: "bb", File: "r.yaml", Line: 5, Count: 1234}})
	if err != nil || b.String() != "   7  a  (r.yaml:2)\n1234  bb  (r.yaml:5)\n" {
		t.Fatalf("%q %v", b.String(), err)
	}
}

func TestReloadWithoutFiles(t *testing.T) {
	e := engine(t, dropPresence)
	if err := e.Reload(); err == nil {
		t.Fatal("reload of an engine without files succeeded")
	}
	if e.Len() != 1 {
		t.Fatal("rules lost")
	}
}

// TestConcurrentXPath applies XPath conditions, XPath actions and template XPath from
// several goroutines at once; -race checks that compiled expressions are not shared.
func TestConcurrentXPath(t *testing.T) {
	e := engine(t, `namespaces: {ev: "jabber:x:event"}
rules:
  - name: a
    when: {xpath: "ev:x/ev:composing"}
    do:
      - {replace-text: {xpath: "body", regexp: parrot, with: budgie}}
      - {insert: "<note>{{.XPath \"string(body)\"}}</note>"}
`)
	raw := `<message><body>a parrot</body><x xmlns='jabber:x:event'><composing/></x></message>`
	want := `<message><body>a budgie</body><x xmlns='jabber:x:event'><composing/></x><note>a budgie</note></message>`
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			base := record(t, raw)
			for i := 0; i < 200; i++ {
				r := *base
				if out := e.Apply(Input{Dir: inspect.ClientToServer, Record: &r}); string(out.Replaced) != want {
					errs <- string(out.Replaced)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for s := range errs {
		t.Errorf("got %s", s)
	}
}
