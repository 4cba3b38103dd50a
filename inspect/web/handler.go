package web

import (
	"bufio"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// TokenCookie is the cookie that carries the token after the first visit with ?token=.
const TokenCookie = "stanzascope_token"

// DefaultWriteTimeout: a browser that takes no bytes for this long is cut off.
const DefaultWriteTimeout = 30 * time.Second

// Timing and sizes of the event stream.
const (
	heartbeat    = 15 * time.Second // a comment line, so proxies and browsers keep the stream open
	historyBatch = 500              // records per event while the history is sent
	// frameEvery: a live stream writes at most one frame (skipped records, new lane
	// labels, records: one write, one flush) per browser per this interval.
	frameEvery = 100 * time.Millisecond
	// gatherDelay: an idle stream woken by a record waits this long for the records that
	// come with it, so a burst goes in one frame and a lone stanza is not held long.
	gatherDelay = 10 * time.Millisecond
	maxFetch    = 1000 // records per answer of /records
)

// HandlerOptions configure NewHandler.
type HandlerOptions struct {
	// Token, when set, is required on every request: as ?token=TOKEN (the page then keeps it
	// in a cookie), in the cookie, or as "Authorization: Bearer TOKEN" (for programs such
	// as a Prometheus scraper). It is compared in constant time. Without a token the
	// handler answers only requests addressed to a loopback name (localhost, 127.0.0.1,
	// ::1), so a web page elsewhere cannot read the view through DNS rebinding.
	Token string
	// WriteTimeout cuts off a browser that takes no bytes for this long (0:
	// DefaultWriteTimeout); its page reconnects and resumes where it was.
	WriteTimeout time.Duration
	// Extra are more handlers served beside the page, behind the same guard (the token,
	// or a loopback Host without one), by http.ServeMux pattern: "GET /metrics".
	Extra map[string]http.Handler
	// Filter compiles the expressions of the page's filter box (/filter, filter.go); nil
	// leaves the box without them.
	Filter Matcher
}

// NewHandler returns the web view's HTTP handler for h:
//
//	/               the page (index.html, app.js, style.css: embedded)
//	/events         server-sent events: "hello", the history as "records" (arrays of
//	                summaries, the event id the last index), "live", then frames of
//	                records at a bounded rate, with "skipped" for the records not sent
//	                and "lanes" for labels that changed (docs/WEB.md)
//	/records?from=A&to=B  the summaries of the records A to B still held (skipped ones,
//	                fetched on demand), and how many of them left the history
//	/record?i=N     one record in detail: pretty text, explanation, origin and verdict
//	/filter?expr=E  the records of the history that the filter expression E shows
//	                (with HandlerOptions.Filter; filter.go)
func NewHandler(h *Hub, opt HandlerOptions) http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is part of the binary
	}
	mux := http.NewServeMux()
	files := http.FileServerFS(sub)
	mux.Handle("GET /{$}", files)
	mux.Handle("GET /app.js", files)
	mux.Handle("GET /style.css", files)
	mux.Handle("GET /favicon.svg", files)
	mux.Handle("GET /control.js", files) // the control panel, shown when the control API answers
	mux.Handle("GET /control.css", files)
	mux.Handle("GET /exprfilter.js", files)
	wt := opt.WriteTimeout
	if wt <= 0 {
		wt = DefaultWriteTimeout
	}
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) { h.serveEvents(w, r, wt) })
	mux.HandleFunc("GET /record", h.serveRecord)
	mux.HandleFunc("GET /records", h.serveRecords)
	if opt.Filter != nil {
		mux.HandleFunc("GET /filter", func(w http.ResponseWriter, r *http.Request) { h.serveFilter(w, r, opt.Filter) })
	}
	for pattern, x := range opt.Extra {
		mux.Handle(pattern, x)
	}
	return &guard{next: mux, token: opt.Token}
}

// guard checks the token (or, without one, the Host) and sets the headers every answer
// carries.
type guard struct {
	next  http.Handler
	token string
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer") // the page's address may carry the token
	hd.Set("Cache-Control", "no-store")
	if g.token == "" {
		if !loopbackHost(r.Host) {
			http.Error(w, "stanzascope: this web view answers only to localhost, 127.0.0.1 or [::1] (start it with --web-token to serve other names)", http.StatusForbidden)
			return
		}
	} else if !g.authorized(w, r) {
		http.Error(w, "stanzascope: this web view needs its token: open the address stanzascope printed (it ends in ?token=...)", http.StatusUnauthorized)
		return
	}
	g.next.ServeHTTP(w, r)
}

// authorized accepts the token from the query (and then sets the cookie), the cookie, or
// the Authorization header.
func (g *guard) authorized(w http.ResponseWriter, r *http.Request) bool {
	if a, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return equalToken(a, g.token)
	}
	if q := r.URL.Query().Get("token"); q != "" {
		if !equalToken(q, g.token) {
			return false
		}
		http.SetCookie(w, &http.Cookie{Name: TokenCookie, Value: g.token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
		return true
	}
	c, err := r.Cookie(TokenCookie)
	return err == nil && equalToken(c.Value, g.token)
}

func equalToken(got, want string) bool {
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// loopbackHost reports whether a Host header names this machine's loopback.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// serveEvents streams the history from the browser's cursor (Last-Event-ID when it
// reconnects, ?after=N, or the start), then live frames. It writes only from this
// handler's goroutine: a browser that stops reading blocks no one but itself, and is cut
// off after writeTimeout (its EventSource reconnects and resumes).
//
// Live, the stream sends at most one frame per frameEvery and at most the hub's LiveRate
// records a second (a token bucket that holds a second's worth): when more arrive, a frame
// carries the newest and a "skipped" event names the run of records before them that this
// browser was not sent. So what a browser costs is bounded by its rate, not by the
// traffic's, and the summaries of records no browser is sent are never made.
func (h *Hub) serveEvents(w http.ResponseWriter, r *http.Request, writeTimeout time.Duration) {
	cursor, err := startCursor(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s, err := h.subscribe()
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer h.unsubscribe(s)
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	bw := bufio.NewWriterSize(w, 32<<10)
	flush := func() error {
		if err := rc.SetWriteDeadline(time.Now().Add(writeTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		return rc.Flush()
	}
	hi := h.hello()
	if cursor == 0 || cursor > hi.Next {
		// No cursor, or one from before this hub started (a page left open while
		// stanzascope restarted): the whole history.
		cursor = hi.First
	}
	hl, _ := json.Marshal(hi)
	fmt.Fprintf(bw, "retry: 2000\nevent: hello\ndata: %s\n\n", hl)
	var buf [][]byte
	// The history held when the stream opened, oldest first, in events of historyBatch.
	for cursor < hi.Next {
		var g gap
		buf, cursor, g = h.read(cursor, hi.Next, historyBatch, buf[:0])
		writeFrame(bw, g, nil, buf, cursor)
		if err := flush(); err != nil {
			return
		}
	}
	bw.WriteString("event: live\ndata: {}\n\n")
	if err := flush(); err != nil {
		return
	}
	lanev := hi.lanev
	rate := float64(h.opt.LiveRate)
	tokens, refilled := rate, time.Now() // a second's worth: a burst goes whole
	var lastFrame time.Time
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	sleep := func(d time.Duration) bool {
		timer.Reset(d)
		select {
		case <-timer.C:
			return true
		case <-r.Context().Done():
			return false
		}
	}
	for {
		if h.arm(s, cursor) {
			// Nothing new: wait for the next record, pinging now and then.
			select {
			case _, ok := <-s.wake:
				if !ok {
					return // the hub closed
				}
				if !sleep(gatherDelay) {
					return
				}
			case <-tick.C:
				bw.WriteString(": ping\n\n")
				if err := flush(); err != nil {
					return
				}
				continue
			case <-r.Context().Done():
				return
			}
		}
		// Busy: one frame per frameEvery, and only with a token for a record.
		now := time.Now()
		if wait := lastFrame.Add(frameEvery).Sub(now); wait > 0 {
			if !sleep(wait) {
				return
			}
			now = time.Now()
		}
		tokens = min(rate, tokens+rate*now.Sub(refilled).Seconds())
		refilled = now
		if tokens < 1 {
			if !sleep(time.Duration((1 - tokens) / rate * float64(time.Second))) {
				return
			}
			continue
		}
		var g gap
		var lanes []Lane
		buf, cursor, g, lanes, lanev = h.take(cursor, int(tokens), lanev, buf[:0])
		tokens -= float64(len(buf))
		lastFrame = now
		if len(buf) == 0 && g.none() && len(lanes) == 0 {
			continue
		}
		writeFrame(bw, g, lanes, buf, cursor)
		if err := flush(); err != nil {
			return
		}
	}
}

// writeFrame writes what a stream sends at once: the records skipped before these (with
// the id of the last one skipped, so a reconnection does not hear of it again), lane
// labels that changed, and the records (the id the last one's index; next is the index
// after it).
func writeFrame(bw *bufio.Writer, g gap, lanes []Lane, sums [][]byte, next uint64) {
	if !g.none() {
		fmt.Fprintf(bw, "id: %d\nevent: skipped\ndata: {\"from\":%d,\"to\":%d,\"n\":%d,\"gone\":%d}\n\n", g.To, g.From, g.To, g.To-g.From+1, g.Gone)
	}
	if len(lanes) > 0 {
		b, _ := json.Marshal(lanes)
		fmt.Fprintf(bw, "event: lanes\ndata: %s\n\n", b)
	}
	if len(sums) > 0 {
		fmt.Fprintf(bw, "id: %d\nevent: records\ndata: [", next-1)
		for k, sum := range sums {
			if k > 0 {
				bw.WriteByte(',')
			}
			bw.Write(sum)
		}
		bw.WriteString("]\n\n")
	}
}

// startCursor returns the first index a stream sends: after Last-Event-ID or ?after=N,
// else the oldest held (0 asks for that).
func startCursor(r *http.Request) (uint64, error) {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("after")
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n == ^uint64(0) {
		return 0, fmt.Errorf("bad event id %q", v)
	}
	return n + 1, nil
}

// serveRecord answers one record in detail, or 404 when it is not (or no longer) held.
func (h *Hub) serveRecord(w http.ResponseWriter, r *http.Request) {
	i, err := strconv.ParseUint(r.URL.Query().Get("i"), 10, 64)
	if err != nil {
		http.Error(w, "give the record's index: /record?i=N", http.StatusBadRequest)
		return
	}
	rec := h.record(i)
	if rec == nil {
		http.Error(w, "this record is no longer in the history", http.StatusNotFound)
		return
	}
	b, err := json.Marshal(h.renderDetail(i, rec))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// serveRecords answers the summaries of the records from to to (indexes, inclusive) still
// held, at most maxFetch of them: how a page fetches records it was not sent live.
//
//	{"first": oldest index held, "gone": how many of the range, from its start, left the
//	 history, "records": [summaries], "more": index to ask from next (0: none)}
func (h *Hub) serveRecords(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, err1 := strconv.ParseUint(q.Get("from"), 10, 64)
	to, err2 := strconv.ParseUint(q.Get("to"), 10, 64)
	if err1 != nil || err2 != nil || from == 0 || to < from {
		http.Error(w, "give the range of indexes: /records?from=A&to=B (1 <= A <= B)", http.StatusBadRequest)
		return
	}
	f := h.fetch(from, to, maxFetch)
	b := make([]byte, 0, 64+len(f.Sums)*summarySize)
	b = fmt.Appendf(b, `{"first":%d,"gone":%d,"more":%d,"records":[`, f.First, f.Gone, f.More)
	for k, sum := range f.Sums {
		if k > 0 {
			b = append(b, ',')
		}
		b = append(b, sum...)
	}
	b = append(b, "]}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}
