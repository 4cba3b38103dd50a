package web_test

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/stanzascope/stanzascope/inspect/web"
	"github.com/stanzascope/stanzascope/inspect/web/webtest"
)

// TestPageMissed: a page whose stream is cut while more records arrive than the history
// holds reconnects where it was (Last-Event-ID) and shows, in its banner, how many records
// it missed.
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
	if got := webtest.Eval[string](t, ctx, text); got != "missed 15 records" {
		t.Errorf("banner %q, want \"missed 15 records\" (4-18 left the history of 5)", got)
	}
	// The page keeps what the hub keeps (5): the records after the gap.
	webtest.WaitFor(t, ctx, 20*time.Second, rows+` === 5 && document.querySelector('#rows .row').dataset.seq === '19'`, rows, "the records still held drawn after the gap")
}
