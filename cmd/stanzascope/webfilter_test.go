package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/inspect/web/webtest"
	"github.com/stanzascope/stanzascope/rules"
)

// TestWebFilterExpression: the page's expression box speaks --filter's language, decided
// by the server with rules.ParseFilter: a typo is reported in the page (and filters
// nothing), a valid expression shows exactly the records the same filter shows in Go.
func TestWebFilterExpression(t *testing.T) {
	ctx := webtest.Browser(t)
	logPath := filepath.Join(t.TempDir(), "session.jsonl")
	if code, _, errOut := inspectCmd(t, "inspect", textbookC2S, "--log", logPath); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	recs := readLog(t, logPath)
	in := startStanzascope(t, false, "inspect", logPath, "--web", "127.0.0.1:0")
	defer in.stop()
	webtest.Do(t, ctx, chromedp.Navigate(in.web))
	webtest.WaitFor(t, ctx, 20*time.Second, `window.stanzascope.live`, "", "page live")
	checkArrows(t, ctx, recs)
	const visible = `[...document.querySelectorAll('#rows .row')].filter(e => !e.hidden).map(e => e.dataset.seq || '')`
	setExpr := func(expr string) {
		webtest.Eval[bool](t, ctx, fmt.Sprintf(`(() => { const i = document.getElementById('f-expr'); i.value = %q; return i.dispatchEvent(new Event('input', {bubbles: true})); })()`, expr))
	}

	// A typo: the parser's message in the page, the input marked, every row still shown.
	_, parseErr := rules.ParseFilter("nmae message")
	if parseErr == nil {
		t.Fatal("rules.ParseFilter accepts the typo")
	}
	setExpr("nmae message")
	msg := `document.getElementById('f-expr-msg')`
	webtest.WaitFor(t, ctx, 20*time.Second, msg+`.classList.contains('error') && window.stanzascope.exprAnswers >= 1`, msg+`.textContent`, "the typo reported")
	if got := webtest.Eval[string](t, ctx, msg+`.textContent`); got != parseErr.Error() {
		t.Errorf("the page says %q, want the parser's %q", got, parseErr.Error())
	}
	if inv := webtest.Eval[string](t, ctx, `document.getElementById('f-expr').getAttribute('aria-invalid')`); inv != "true" {
		t.Errorf("aria-invalid %q", inv)
	}
	if n := len(webtest.Eval[[]string](t, ctx, visible)); n != len(recs) {
		t.Errorf("a typo hides rows: %d of %d shown", n, len(recs))
	}

	// A valid expression: the rows shown are the records the same filter shows in Go.
	const expr = "name message or (name iq and type set)"
	want := goFilter(t, logPath, expr)
	if len(want) == 0 || len(want) == len(recs) {
		t.Fatalf("the expression shows %d of %d records: not a test of filtering", len(want), len(recs))
	}
	setExpr(expr)
	webtest.WaitFor(t, ctx, 20*time.Second, `!`+msg+`.classList.contains('error') && window.stanzascope.exprAnswers >= 2`, msg+`.textContent`, "the expression answered")
	if got := webtest.Eval[[]string](t, ctx, visible); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("rows shown %v, want %v (rules.ParseFilter on the log)", got, want)
	}
	if shown := webtest.Eval[string](t, ctx, `document.getElementById('shown').textContent`); shown != fmt.Sprintf("%d shown", len(want)) {
		t.Errorf("count %q, want %d shown", shown, len(want))
	}

	// Cleared: everything again.
	setExpr("")
	webtest.WaitFor(t, ctx, 20*time.Second, fmt.Sprintf(`%s.length === %d`, visible, len(recs)), visible+`.length`, "every row shown again")
}

// goFilter returns the numbers of the records of the log at path that expr shows, by the
// filter of rules fed the records in order.
func goFilter(t *testing.T, path, expr string) []string {
	t.Helper()
	f, err := rules.ParseFilter(expr)
	if err != nil {
		t.Fatal(err)
	}
	file, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	var seqs []string
	err = inspect.ReadJSONLog(file, inspect.SinkFunc(func(r *inspect.Record) error {
		if r.Kind != inspect.KindWhitespace && f.Match(r) {
			seqs = append(seqs, fmt.Sprint(r.Seq))
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	return seqs
}
