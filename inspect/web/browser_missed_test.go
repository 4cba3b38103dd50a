package web_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/stanzascope/stanzascope/inspect/web"
	"github.com/stanzascope/stanzascope/inspect/web/webtest"
)

// TestPageMissed: a page whose stream is cut while more records arrive than the history
// holds reconnects where it was (Last-Event-ID) and shows, in its banner, how many records
// it was not sent and that they left the history.
func TestPageMissed(t *testing.T) {
	ctx := webtest.Browser(t)
	recs := chat(23)
	h := web.NewHub(web.Options{History: 5})
	for _, r := range recs[:3] {
		if err := h.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	// The page's first stream passes; a reconnection waits until the test opens the gate,
	// so that it comes only after the records it must miss.
	gate := make(chan struct{})
	var streams atomic.Int32
	handler := web.NewHandler(h, web.HandlerOptions{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/events" && streams.Add(1) > 1 {
			select {
			case <-gate:
			case <-r.Context().Done():
				return
			}
		}
		handler.ServeHTTP(w, r)
	}))
	defer func() {
		close(gate) // any later reconnection passes
		h.Close()   // ends the streams, so that Close does not wait for them
		srv.Close()
	}()

	webtest.Do(t, ctx, chromedp.Navigate(srv.URL+"/"))
	rows := `document.querySelectorAll('#rows .row').length`
	webtest.WaitFor(t, ctx, 20*time.Second, rows+` === 3 && window.stanzascope.live`, rows, "history drawn")
	missed := `document.getElementById('missed')`
	if !webtest.Eval[bool](t, ctx, missed+`.hidden`) {
		t.Fatal("the banner shows before anything was missed")
	}

	srv.CloseClientConnections() // the stream is cut: the page reconnects, held at the gate
	webtest.WaitFor(t, ctx, 20*time.Second, `document.getElementById('status').textContent !== 'live'`,
		`document.getElementById('status').textContent`, "the page sees the cut")
	for _, r := range recs[3:] { // 4-23: the history keeps 19-23
		if err := h.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	gate <- struct{}{} // one reconnection through
	text := `document.getElementById('missed-text').textContent`
	webtest.WaitFor(t, ctx, 30*time.Second, `!`+missed+`.hidden`, text, "the missed banner")
	if got, want := webtest.Eval[string](t, ctx, text), "15 records not shown live (15 gone from the history)"; got != want {
		t.Errorf("banner %q, want %q (4-18 left the history of 5)", got, want)
	}
	// The page keeps what the hub keeps (5): the records after the gap.
	webtest.WaitFor(t, ctx, 20*time.Second, rows+` === 5 && document.querySelector('#rows .row').dataset.seq === '19'`, rows, "the records still held drawn after the gap")
}

// TestPageGaps: records that arrive faster than the page's live rate are not all sent; the
// page draws a row where they are missing that says how many and between which numbers,
// and a click on it loads them from the history, in their place. A run that left the
// history says so and loads nothing.
func TestPageGaps(t *testing.T) {
	ctx := webtest.Browser(t)
	recs := chat(400)
	h := web.NewHub(web.Options{History: 250, LiveRate: 20})
	srv := httptest.NewServer(web.NewHandler(h, web.HandlerOptions{}))
	defer func() {
		h.Close()
		srv.Close()
	}()
	for _, r := range recs[:4] { // the two bindings
		if err := h.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	webtest.Do(t, ctx, chromedp.Navigate(srv.URL+"/"))
	rows := `document.querySelectorAll('#rows .row').length`
	webtest.WaitFor(t, ctx, 20*time.Second, rows+` === 4 && window.stanzascope.live`, rows, "history drawn")
	// 100 at once, at a live rate of 20 a second (a burst of 20): the newest 20 come, and
	// a gap row stands for the 80 before them.
	for _, r := range recs[4:104] {
		if err := h.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	gaps := `[...document.querySelectorAll('#rows .gap')].map(e => e.textContent)`
	// Every record is an arrow or inside a gap row, once (how the 100 fall into frames
	// depends on the machine's timing).
	accounted := rows + ` + window.stanzascope.gaps().reduce((n, g) => n + g.n, 0)`
	webtest.WaitFor(t, ctx, 20*time.Second, accounted+` === 104`, gaps, "every record an arrow or in a gap")
	texts := webtest.Eval[[]string](t, ctx, gaps)
	if len(texts) == 0 || webtest.Eval[int](t, ctx, rows) > 4+2*20 {
		t.Fatalf("%d rows and gaps %q at a live rate of 20", webtest.Eval[int](t, ctx, rows), texts)
	}
	gapText := regexp.MustCompile(`^⋯ (\d+) records? between #(\d+) and #(\d+) not shown live: click to load$`)
	notLive := 0
	for _, g := range texts {
		m := gapText.FindStringSubmatch(g)
		if m == nil {
			t.Fatalf("gap row %q", g)
		}
		n, a, b := atoi(m[1]), atoi(m[2]), atoi(m[3])
		if n != b-a-1 {
			t.Errorf("gap row %q: %d records between #%d and #%d", g, n, a, b)
		}
		notLive += n
	}
	banner := `document.getElementById('missed-text').textContent`
	if got, want := webtest.Eval[string](t, ctx, banner), fmt.Sprintf("%d records not shown live", notLive); got != want {
		t.Errorf("banner %q, want %q", got, want)
	}
	// Clicks load them in their place: 1-104 in order, no gap left.
	order := `[...document.querySelectorAll('#rows .row, #rows .gap')].map(e => e.dataset.seq || 'gap').join(' ')`
	for range len(texts) {
		// In the middle of the view, not under the lanes' labels (sticky at the top).
		webtest.Eval[any](t, ctx, `document.querySelector('#rows .gap').scrollIntoView({block: 'center'}); 1`)
		webtest.Do(t, ctx, chromedp.Click(chromedp.CSS(`#rows .gap`)))
		webtest.WaitFor(t, ctx, 20*time.Second, `document.querySelectorAll('#rows .gap').length < `+fmt.Sprint(len(texts)),
			order, "a gap loaded")
		texts = webtest.Eval[[]string](t, ctx, gaps)
	}
	if got, want := webtest.Eval[string](t, ctx, order), seqs(1, 104); got != want {
		t.Errorf("after loading:\n%s\nwant\n%s", got, want)
	}
	// Their explanations are there like any other's.
	webtest.Eval[any](t, ctx, `document.querySelector('#rows .row[data-seq="40"]').scrollIntoView({block: 'center'}); 1`)
	webtest.Do(t, ctx,
		chromedp.Click(chromedp.CSS(`#rows .row[data-seq="40"] .arrow`)),
		chromedp.WaitVisible(chromedp.CSS(`#d-explain a`)))
	if title := webtest.Eval[string](t, ctx, `document.getElementById('d-title').textContent`); title != "#40 message chat" {
		t.Errorf("detail of #40: %q", title)
	}
	// 296 more (105-400) into a history of 250: the run from 105 on that the page was not
	// sent is partly gone; loading it brings only what is held.
	for _, r := range recs[104:] {
		if err := h.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	webtest.WaitFor(t, ctx, 20*time.Second, `window.stanzascope.gaps().length > 0 && window.stanzascope.gaps()[0].gone > 0`,
		`JSON.stringify(window.stanzascope.gaps())`, "a gap partly gone")
	first := webtest.Eval[map[string]float64](t, ctx, `window.stanzascope.gaps()[0]`)
	if first["from"] != 105 {
		t.Fatalf("first gap %v, want from 105", first)
	}
	webtest.Eval[any](t, ctx, `window.stanzascope.fetchGap(105); 1`) // as a click on its row does
	webtest.WaitFor(t, ctx, 20*time.Second, `document.querySelector('#rows .gap.gone') !== null`, gaps, "the gone part drawn")
	// 105-150 left the history of 250 (151-400): a gap that says so, and loads nothing.
	// The page keeps what the history keeps, so 1-104 went from the page too.
	gone := webtest.Eval[string](t, ctx, `document.querySelector('#rows .gap.gone').textContent`)
	if want := "⋯ 46 records before #151 not shown live, and gone from the history"; gone != want {
		t.Errorf("gone gap %q, want %q", gone, want)
	}
	if got := webtest.Eval[string](t, ctx, order); !strings.HasPrefix(got, "gap 151 152 153 ") {
		t.Errorf("after loading the gap: %.80s...", got)
	}
	if errs := webtest.Exceptions(ctx); len(errs) > 0 {
		t.Errorf("page errors: %q", errs)
	}
}

// seqs is "a a+1 ... b".
func seqs(a, b int) string {
	var s []string
	for i := a; i <= b; i++ {
		s = append(s, fmt.Sprint(i))
	}
	return strings.Join(s, " ")
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return n
}
