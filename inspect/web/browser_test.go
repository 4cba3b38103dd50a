package web_test

import (
	"fmt"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/inspect/web"
	"github.com/stanzascope/stanzascope/inspect/web/webtest"
)

// chat returns n records of a chat between two connections, numbered from 1.
func chat(n int) []*inspect.Record {
	h := &inspect.Header{ContentNS: inspect.NSClient, Prefix: "stream", NS: map[string]string{"stream": inspect.NSStreams}}
	c1 := &inspect.ConnInfo{ID: 1, Client: netip.MustParseAddrPort("127.0.0.1:40001")}
	c2 := &inspect.ConnInfo{ID: 2, Client: netip.MustParseAddrPort("127.0.0.1:40002")}
	t := time.Date(2025, 1, 2, 10, 0, 0, 0, time.Local)
	var recs []*inspect.Record
	add := func(conn *inspect.ConnInfo, dir inspect.Direction, raw string) {
		t = t.Add(time.Millisecond)
		r := &inspect.Record{Seq: uint64(len(recs) + 1), Time: t, Conn: conn, Dir: dir, Kind: inspect.KindStanza, Header: h, Raw: []byte(raw)}
		e, err := inspect.ParseElement(r.Raw, h)
		if err != nil {
			panic(err)
		}
		r.Name, r.NS = e.Local, e.Space
		recs = append(recs, r)
	}
	add(c1, inspect.ClientToServer, "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>desk</resource></bind></iq>")
	add(c1, inspect.ServerToClient, "<iq type='result' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>praline@localhost/desk</jid></bind></iq>")
	recs[1].SetRTT(1500 * time.Microsecond)
	add(c2, inspect.ClientToServer, "<iq type='set' id='b2'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>phone</resource></bind></iq>")
	add(c2, inspect.ServerToClient, "<iq type='result' id='b2'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>dana@localhost/phone</jid></bind></iq>")
	for i := 0; len(recs) < n; i++ {
		if i%2 == 0 {
			add(c1, inspect.ClientToServer, fmt.Sprintf("<message to='dana@localhost' type='chat' id='m%d'><body>I wish to complain, %d</body></message>", i, i))
		} else {
			add(c2, inspect.ServerToClient, fmt.Sprintf("<message from='praline@localhost/desk' to='dana@localhost/phone' type='chat' id='m%d'><body>I wish to complain, %d</body></message>", i-1, i))
		}
	}
	return recs[:n]
}

func serve(t testing.TB, opt web.Options, recs []*inspect.Record) (*web.Hub, string) {
	h := web.NewHub(opt)
	for _, r := range recs {
		if err := h.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(web.NewHandler(h, web.HandlerOptions{}))
	t.Cleanup(func() {
		h.Close()
		srv.Close()
	})
	return h, srv.URL + "/"
}

// TestPage checks the page a person sees: lanes named by the bound JIDs, an arrow per
// stanza with its number, live updates, a click that explains, filters, pause, exports.
func TestPage(t *testing.T) {
	ctx := webtest.Browser(t)
	recs := chat(10)
	h, url := serve(t, web.Options{Title: "test view", Server: "localhost (switch)", Proxy: true}, recs[:8])
	webtest.Do(t, ctx, chromedp.Navigate(url))
	rows := `document.querySelectorAll('#rows .row').length`
	webtest.WaitFor(t, ctx, 20*time.Second, rows+` === 8 && window.stanzascope.live`, rows, "history drawn")
	lanes := webtest.Eval[[]string](t, ctx, `[...document.querySelectorAll('.lane-label')].map(e => e.textContent)`)
	if strings.Join(lanes, "|") != "praline@localhost/desk|dana@localhost/phone|stanzascope|localhost (switch)" {
		t.Errorf("lanes %q", lanes)
	}
	// Live: two more records arrive.
	for _, r := range recs[8:] {
		if err := h.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	webtest.WaitFor(t, ctx, 20*time.Second, rows+` === 10`, rows, "live records drawn")
	seqs := webtest.Eval[[]string](t, ctx, `[...document.querySelectorAll('#rows .row')].map(e => e.dataset.seq)`)
	labels := webtest.Eval[[]string](t, ctx, `[...document.querySelectorAll('#rows .row .arrow .label')].map(e => e.textContent)`)
	if len(seqs) != 10 || len(labels) != 10 {
		t.Fatalf("%d rows, %d arrows", len(seqs), len(labels))
	}
	for i, s := range seqs {
		if s != fmt.Sprint(i+1) || !strings.HasPrefix(labels[i], "#"+s+" ") {
			t.Errorf("row %d: seq %s, label %q", i, s, labels[i])
		}
	}
	if !strings.Contains(labels[0], "→ #2 in 1.5 ms") || !strings.Contains(labels[1], "↩ #1 1.5 ms") {
		t.Errorf("bind request and answer not joined: %q / %q", labels[0], labels[1])
	}
	// Click arrow 5: its explanation, with a link to the RFC, and its bytes.
	webtest.Do(t, ctx,
		chromedp.Click(chromedp.CSS(`#rows .row[data-seq="5"] .arrow`)),
		chromedp.WaitVisible(chromedp.CSS(`#d-explain a`)))
	explain := webtest.Eval[string](t, ctx, `document.getElementById('d-explain').textContent`)
	href := webtest.Eval[string](t, ctx, `document.querySelector('#d-explain a').href`)
	pretty := webtest.Eval[string](t, ctx, `document.getElementById('d-pretty').textContent`)
	if !strings.Contains(explain, "chat message") || !strings.HasPrefix(href, "https://www.rfc-editor.org/rfc/rfc6121") {
		t.Errorf("explanation %q, link %q", explain, href)
	}
	if !strings.Contains(pretty, "#5 ") || !strings.Contains(pretty, "<body>I wish to complain, 0</body>") {
		t.Errorf("pretty:\n%s", pretty)
	}
	// Filters: connection 2 only.
	webtest.Eval[bool](t, ctx, `(() => { const s = document.getElementById('f-conn'); s.value = '2'; return s.dispatchEvent(new Event('change', {bubbles: true})); })()`)
	if shown := webtest.Eval[int](t, ctx, `[...document.querySelectorAll('#rows .row')].filter(e => !e.hidden).length`); shown != 5 {
		t.Errorf("connection 2 shows %d rows, want 5", shown)
	}
	mermaid := webtest.Eval[string](t, ctx, `window.stanzascope.exportMermaid()`)
	if !strings.HasPrefix(mermaid, "sequenceDiagram\n  participant c1 as praline@localhost/desk\n") ||
		!strings.Contains(mermaid, "\n  server-->>c2: [4] iq result · bind\n") || strings.Count(mermaid, "->>") != 5 {
		t.Errorf("mermaid:\n%s", mermaid)
	}
	svg := webtest.Eval[string](t, ctx, `window.stanzascope.exportSVG()`)
	if !strings.HasPrefix(svg, "<svg xmlns=") || strings.Count(svg, `<g class="arrow"`) != 5 || !strings.Contains(svg, "dana@localhost/phone") {
		t.Errorf("svg:\n%.2000s", svg)
	}
	// Pause: what arrives is counted, not drawn, until resume.
	webtest.Do(t, ctx, chromedp.Click(chromedp.ID("pause")))
	for _, r := range chat(12)[10:] {
		if err := h.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	pause := `document.getElementById('pause').textContent`
	webtest.WaitFor(t, ctx, 20*time.Second, pause+` === 'Resume (+2)'`, pause, "pause counts")
	if n := webtest.Eval[int](t, ctx, rows); n != 10 {
		t.Errorf("paused view drew %d rows", n)
	}
	webtest.Do(t, ctx, chromedp.Click(chromedp.ID("pause")))
	webtest.WaitFor(t, ctx, 20*time.Second, rows+` === 12`, rows, "resume draws")
	// Themes and projector mode.
	theme := webtest.Eval[string](t, ctx, `document.documentElement.dataset.theme`)
	webtest.Do(t, ctx, chromedp.Click(chromedp.ID("theme")), chromedp.Click(chromedp.ID("projector")))
	got := webtest.Eval[string](t, ctx, `document.documentElement.dataset.theme + ' ' + getComputedStyle(document.body).fontSize`)
	other := map[string]string{"light": "dark", "dark": "light"}[theme]
	if got != other+" 24px" {
		t.Errorf("after theme and projector: %q (was %q)", got, theme)
	}
}

// TestPageLargeHistory: a page opened late gets the last 10,000 records (the bound), says
// where its history starts, and draws every one.
func TestPageLargeHistory(t *testing.T) {
	ctx := webtest.Browser(t)
	// A connection whose only record left the history gets no lane.
	gone := (&inspect.Record{Conn: &inspect.ConnInfo{ID: 3}, Kind: inspect.KindConnOpen}).WithNote("client 3")
	_, url := serve(t, web.Options{}, append([]*inspect.Record{gone}, chat(web.DefaultHistory+49)...))
	webtest.Do(t, ctx, chromedp.Navigate(url))
	rows := `document.querySelectorAll('#rows .row').length`
	webtest.WaitFor(t, ctx, 60*time.Second, `window.stanzascope.historyRenderedMs !== null`, rows, "history drawn")
	if n := webtest.Eval[int](t, ctx, rows); n != web.DefaultHistory {
		t.Errorf("%d rows, want %d", n, web.DefaultHistory)
	}
	first := webtest.Eval[string](t, ctx, `document.querySelector('#rows .row').dataset.seq`)
	last := webtest.Eval[string](t, ctx, `[...document.querySelectorAll('#rows .row')].pop().dataset.seq`)
	note := webtest.Eval[string](t, ctx, `document.getElementById('history-note').textContent`)
	if first != "50" || last != fmt.Sprint(web.DefaultHistory+49) || !strings.Contains(note, "starts at record 51") {
		t.Errorf("rows %s to %s, note %q", first, last, note)
	}
	lanes := webtest.Eval[[]string](t, ctx, `[...document.querySelectorAll('.lane-label')].map(e => e.textContent)`)
	if strings.Join(lanes, "|") != "praline@localhost/desk|dana@localhost/phone|server" {
		t.Errorf("lanes %q", lanes)
	}
}

// BenchmarkPageHistory measures, in Chromium, how long a page takes from navigation to
// receiving a full history of 10,000 records (received-ms) and to drawing it, layout
// included (render-ms), and how long applying a filter to them takes (filter-ms).
func BenchmarkPageHistory(b *testing.B) {
	ctx := webtest.Browser(b)
	_, url := serve(b, web.Options{}, chat(web.DefaultHistory))
	var received, render, filter float64
	for b.Loop() {
		webtest.Do(b, ctx, chromedp.Navigate(url))
		webtest.WaitFor(b, ctx, 60*time.Second, `window.stanzascope.historyRenderedMs !== null`, "", "history drawn")
		received += webtest.Eval[float64](b, ctx, `window.stanzascope.historyReceivedMs`)
		render += webtest.Eval[float64](b, ctx, `window.stanzascope.historyRenderedMs`)
		filter += webtest.Eval[float64](b, ctx, `(() => {
			const t = performance.now();
			const s = document.getElementById('f-conn');
			s.value = '2';
			s.dispatchEvent(new Event('change', {bubbles: true}));
			void document.getElementById('rows').offsetHeight;
			return performance.now() - t;
		})()`)
	}
	b.ReportMetric(received/float64(b.N), "received-ms")
	b.ReportMetric(render/float64(b.N), "render-ms")
	b.ReportMetric(filter/float64(b.N), "filter-ms")
}

// BenchmarkPageLive measures, in Chromium, a page holding a full history of 10,000 records
// while records arrive at 20,000 a second for 3 s (twenty times its live rate): the longest
// time between two animation frames (max-frame-ms: how long the page can be unresponsive),
// how many records it drew live (live-recs) and how many it was told it was not sent
// (skipped-recs).
func BenchmarkPageLive(b *testing.B) {
	ctx := webtest.Browser(b)
	recs := chat(web.DefaultHistory + 60000)
	var maxFrame, live, skipped float64
	for b.Loop() {
		h, url := serve(b, web.Options{}, recs[:web.DefaultHistory])
		webtest.Do(b, ctx, chromedp.Navigate(url))
		webtest.WaitFor(b, ctx, 60*time.Second, `window.stanzascope.historyRenderedMs !== null`, "", "history drawn")
		webtest.Eval[any](b, ctx, `(() => {
			window.__maxFrame = 0;
			let last = performance.now();
			const f = (t) => {
				window.__maxFrame = Math.max(window.__maxFrame, t - last);
				last = t;
				if (!window.__stop) requestAnimationFrame(f);
			};
			requestAnimationFrame(f);
			return 1;
		})()`)
		// 20,000 a second in steps of 200 every 10 ms, for 3 s.
		next := web.DefaultHistory
		tick := time.NewTicker(10 * time.Millisecond)
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); <-tick.C {
			for range 200 {
				if err := h.Write(recs[next]); err != nil {
					b.Fatal(err)
				}
				next++
			}
		}
		tick.Stop()
		sent := next - web.DefaultHistory
		// Wait until the page has heard of the last record (drawn, or in a gap).
		webtest.WaitFor(b, ctx, 30*time.Second, `window.stanzascope.lastIndex() >= `+fmt.Sprint(next), "window.stanzascope.lastIndex()", "the flood heard of")
		maxFrame += webtest.Eval[float64](b, ctx, `window.__stop = true, window.__maxFrame`)
		sk := webtest.Eval[float64](b, ctx, `window.stanzascope.skipped()`)
		skipped += sk
		live += float64(sent) - sk
	}
	b.ReportMetric(maxFrame/float64(b.N), "max-frame-ms")
	b.ReportMetric(live/float64(b.N), "live-recs")
	b.ReportMetric(skipped/float64(b.N), "skipped-recs")
}
