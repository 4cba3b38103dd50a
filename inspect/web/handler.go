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

// Timing of the event stream.
const (
	heartbeat   = 15 * time.Second // a comment line, so proxies and browsers keep the stream open
	batch       = 256              // records per write to a browser
	gatherDelay = 20 * time.Millisecond
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
//	                summaries, the event id the last index), "live", then the records as
//	                they come; "missed" when this browser fell behind the history
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
// reconnects, ?after=N, or the start), then live records. It writes only from this
// handler's goroutine: a browser that stops reading blocks no one but itself, and is cut
// off after writeTimeout (its EventSource reconnects and resumes).
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
	if cursor == 0 {
		cursor = hi.First
	}
	hl, _ := json.Marshal(hi)
	fmt.Fprintf(bw, "retry: 2000\nevent: hello\ndata: %s\n\n", hl)
	live := false
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	gather := time.NewTimer(gatherDelay)
	defer gather.Stop()
	var buf [][]byte
	for {
		var missed uint64
		first := cursor
		buf, cursor, missed = h.read(cursor, batch, buf[:0])
		if missed > 0 {
			fmt.Fprintf(bw, "event: missed\ndata: {\"n\":%d,\"from\":%d}\n\n", missed, first)
		}
		if len(buf) > 0 {
			// One event per batch, its id the last index in it: a browser dispatches
			// thousands of events a second, not tens of thousands.
			fmt.Fprintf(bw, "id: %d\nevent: records\ndata: [", cursor-1)
			for k, sum := range buf {
				if k > 0 {
					bw.WriteByte(',')
				}
				bw.Write(sum)
			}
			bw.WriteString("]\n\n")
		}
		if len(buf) == batch {
			if err := flush(); err != nil {
				return
			}
			continue // more to send before waiting
		}
		if !live {
			live = true
			bw.WriteString("event: live\ndata: {}\n\n")
		}
		if err := flush(); err != nil {
			return
		}
		select {
		case _, ok := <-s.wake:
			if !ok {
				return // the hub closed
			}
			// Let a burst gather: one write per browser for many records, not one each.
			gather.Reset(gatherDelay)
			select {
			case <-gather.C:
			case <-r.Context().Done():
				return
			}
		case <-tick.C:
			bw.WriteString(": ping\n\n")
		case <-r.Context().Done():
			return
		}
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
