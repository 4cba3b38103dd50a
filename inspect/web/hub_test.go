package web

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

const password = "parrot-secret"

// session builds records as a producer would, numbered like the command numbers them.
type session struct {
	t    *testing.T
	seq  uint64
	conn *inspect.ConnInfo
	hdr  map[inspect.Direction]*inspect.Header
	now  time.Time
}

func newSession(t *testing.T, conn uint64) *session {
	return &session{t: t, conn: &inspect.ConnInfo{ID: conn, Client: netip.MustParseAddrPort("127.0.0.1:40000")},
		hdr: map[inspect.Direction]*inspect.Header{
			inspect.ClientToServer: {ContentNS: inspect.NSClient, Prefix: "stream", To: "localhost", NS: map[string]string{"stream": inspect.NSStreams}},
			inspect.ServerToClient: {ContentNS: inspect.NSClient, Prefix: "stream", From: "localhost", ID: "s1", NS: map[string]string{"stream": inspect.NSStreams}},
		},
		now: time.Date(2025, 1, 2, 10, 0, 0, 0, time.UTC)}
}

func (s *session) rec(kind inspect.Kind, dir inspect.Direction, raw string) *inspect.Record {
	s.seq++
	s.now = s.now.Add(time.Millisecond)
	r := &inspect.Record{Seq: s.seq, Time: s.now, Conn: s.conn, Dir: dir, Kind: kind, Raw: []byte(raw), Header: s.hdr[dir]}
	if kind == inspect.KindStanza {
		e, err := inspect.ParseElement(r.Raw, r.Header)
		if err != nil {
			s.t.Fatalf("%s: %v", raw, err)
		}
		r.Name, r.NS = e.Local, e.Space
	}
	return r
}

func (s *session) c2s(raw string) *inspect.Record {
	return s.rec(inspect.KindStanza, inspect.ClientToServer, raw)
}
func (s *session) s2c(raw string) *inspect.Record {
	return s.rec(inspect.KindStanza, inspect.ServerToClient, raw)
}

// textbook is the tutorial's login: register, iq:auth, presence, message.
func (s *session) textbook() []*inspect.Record {
	open := s.rec(inspect.KindConnOpen, inspect.DirNone, "")
	open.SetNote("client 127.0.0.1:40000")
	return []*inspect.Record{
		open,
		s.rec(inspect.KindStreamOpen, inspect.ClientToServer, "<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"),
		s.rec(inspect.KindStreamOpen, inspect.ServerToClient, "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' id='s1' xmlns='jabber:client' from='localhost'>"),
		s.c2s("<iq id='reg2' type='set'><query xmlns='jabber:iq:register'><username>Mr_Praline</username><password>" + password + "</password></query></iq>"),
		s.s2c("<iq id='reg2' type='result'/>"),
		s.c2s("<iq id='auth1' type='set'><query xmlns='jabber:iq:auth'><username>Mr_Praline</username><password>" + password + "</password><resource>telnet</resource></query></iq>"),
		s.s2c("<iq id='auth1' type='result'/>"),
		s.c2s("<presence/>"),
		s.c2s("<message to='dana@localhost' type='chat'><body>I wish to complain about this parrot.</body></message>"),
	}
}

func writeAll(t *testing.T, h *Hub, recs []*inspect.Record) {
	t.Helper()
	for _, r := range recs {
		if err := h.Write(r); err != nil {
			t.Fatal(err)
		}
	}
}

func summaries(t *testing.T, h *Hub) []summary {
	t.Helper()
	raw, _, _ := h.read(1, ^uint64(0), 1<<20, nil)
	out := make([]summary, len(raw))
	for i, b := range raw {
		if err := json.Unmarshal(b, &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestHubTextbook(t *testing.T) {
	h := NewHub(Options{Proxy: true})
	s := newSession(t, 3)
	writeAll(t, h, s.textbook())
	sums := summaries(t, h)
	if len(sums) != 9 {
		t.Fatalf("%d summaries, want 9", len(sums))
	}
	for i, sm := range sums {
		if sm.Seq != uint64(i+1) || sm.I != uint64(i+1) {
			t.Errorf("summary %d: seq %d, index %d", i, sm.Seq, sm.I)
		}
	}
	want := []struct{ src, dst, label string }{
		{"c3", "", "client 127.0.0.1:40000"},
		{"c3", "server", "stream header"},
		{"server", "c3", "stream header"},
		{"c3", "server", "iq set · register"},
		{"server", "c3", "iq result"},
		{"c3", "server", "iq set · auth"},
		{"server", "c3", "iq result"},
		{"c3", "server", "presence"},
		{"c3", "server", "message chat"},
	}
	for i, w := range want {
		if got := sums[i]; got.Src != w.src || got.Dst != w.dst || got.Label != w.label {
			t.Errorf("record %d: %s -> %s %q, want %s -> %s %q", i+1, got.Src, got.Dst, got.Label, w.src, w.dst, w.label)
		}
	}
	if sums[4].Req != 4 || sums[6].Req != 6 {
		t.Errorf("answers joined to %d and %d, want 4 and 6", sums[4].Req, sums[6].Req)
	}
	if sums[6].Bound != "mr_praline@localhost/telnet" {
		t.Errorf("legacy login bound %q", sums[6].Bound)
	}
	if l := h.Lanes()[3]; l.JID != "mr_praline@localhost/telnet" || l.Client != "127.0.0.1:40000" {
		t.Errorf("lane %+v", l)
	}
}

func TestHubBindAndFailedAuth(t *testing.T) {
	h := NewHub(Options{})
	s := newSession(t, 1)
	writeAll(t, h, []*inspect.Record{
		s.c2s("<iq id='a1' type='set'><query xmlns='jabber:iq:auth'><username>x</username><password>y</password><resource>r</resource></query></iq>"),
		s.s2c("<iq id='a1' type='error'><error code='401' type='auth'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"),
		s.c2s("<iq id='b1' type='set'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>phone</resource></bind></iq>"),
		s.s2c("<iq id='b1' type='result'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>dana@localhost/phone</jid></bind></iq>"),
	})
	sums := summaries(t, h)
	if sums[1].Bound != "" {
		t.Errorf("a failed login bound %q", sums[1].Bound)
	}
	if sums[3].Bound != "dana@localhost/phone" || sums[3].Label != "iq result · bind" || sums[2].Label != "iq set · bind" {
		t.Errorf("bind: %+v", sums[3])
	}
	if l := h.Lanes()[1]; l.JID != "dana@localhost/phone" {
		t.Errorf("lane %+v", l)
	}
}

func TestHubLanesOfVerdictsAndOrigins(t *testing.T) {
	h := NewHub(Options{Proxy: true})
	s := newSession(t, 2)
	drop := s.c2s("<message to='a@localhost'><body>x</body></message>")
	drop.Verdict = "dropped"
	own := s.rec(inspect.KindStreamOpen, inspect.ServerToClient, "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:client' from='localhost' id='p1'>")
	own.Origin = inspect.OriginProxy
	errRec := s.rec(inspect.KindError, inspect.ClientToServer, "")
	errRec.SetErr(&inspect.StreamError{Condition: "not-well-formed", Text: "bad"})
	writeAll(t, h, []*inspect.Record{drop, own, errRec, s.rec(inspect.KindWhitespace, inspect.ClientToServer, " ")})
	sums := summaries(t, h)
	if len(sums) != 3 {
		t.Fatalf("%d summaries: whitespace must not be kept", len(sums))
	}
	if sums[0].Dst != "proxy" || sums[1].Src != "proxy" || sums[1].Dst != "c2" || sums[1].Origin != "proxy" {
		t.Errorf("dropped %+v, proxy's own %+v", sums[0], sums[1])
	}
	if sums[2].Dst != "" || !strings.HasPrefix(sums[2].Label, "error: not-well-formed") {
		t.Errorf("error %+v", sums[2])
	}
}

func TestHubHistoryBound(t *testing.T) {
	h := NewHub(Options{History: 4})
	s := newSession(t, 1)
	for range 10 {
		writeAll(t, h, []*inspect.Record{s.c2s("<presence/>")})
	}
	if h.Len() != 4 {
		t.Fatalf("holds %d, want 4", h.Len())
	}
	got, next, g := h.read(3, ^uint64(0), 100, nil)
	if len(got) != 4 || next != 11 || g != (gap{From: 3, To: 6, Gone: 4}) {
		t.Fatalf("read from 3: %d records, next %d, gap %+v", len(got), next, g)
	}
	// Bounded by count and by the index to stop at.
	if got, next, g := h.read(8, 10, 1, nil); len(got) != 1 || next != 9 || !g.none() {
		t.Fatalf("read 8 to 10, one: %d records, next %d, gap %+v", len(got), next, g)
	}
	if h.record(6) != nil || h.record(7) == nil {
		t.Error("record 6 should be gone, 7 held")
	}
	// The byte bound: big stanzas push out old ones though the count allows them.
	hb := NewHub(Options{HistoryBytes: 10 << 10})
	big := "<message><body>" + strings.Repeat("x", 3000) + "</body></message>"
	for range 10 {
		writeAll(t, hb, []*inspect.Record{s.c2s(big)})
	}
	if n := hb.Len(); n < 1 || n > 3 {
		t.Errorf("byte bound: holds %d records of 3 kB in 10 kB", n)
	}
}

// TestHubRedacts: behind the redactor, as in the command's sink chain, the password of
// iq:register and iq:auth is in no summary and no detail; without it (--show-secrets) it
// is.
func TestHubRedacts(t *testing.T) {
	for _, show := range []bool{false, true} {
		h := NewHub(Options{})
		var sink inspect.Sink = h
		if !show {
			sink = inspect.NewRedactor(h)
		}
		s := newSession(t, 1)
		recs := s.textbook()
		for _, r := range recs {
			if err := sink.Write(r); err != nil {
				t.Fatal(err)
			}
		}
		var all strings.Builder
		for i := uint64(1); i <= uint64(len(recs)); i++ {
			b, _ := json.Marshal(h.renderDetail(i, h.record(i)))
			all.Write(b)
		}
		for _, sm := range summaries(t, h) {
			b, _ := json.Marshal(sm)
			all.Write(b)
		}
		if got := strings.Contains(all.String(), password); got != show {
			t.Errorf("show secrets %v: password present %v", show, got)
		}
		if !strings.Contains(all.String(), "Mr_Praline") {
			t.Error("the username should be shown")
		}
		if l := h.Lanes()[1]; l.JID != "mr_praline@localhost/telnet" {
			t.Errorf("show secrets %v: lane %+v", show, l)
		}
	}
}

func TestDetail(t *testing.T) {
	h := NewHub(Options{})
	s := newSession(t, 1)
	writeAll(t, h, s.textbook())
	d := h.renderDetail(6, h.record(6))
	if !strings.HasPrefix(d.Pretty, "#6 10:00:00.006 #1 C->S stanza iq set\n") || !strings.Contains(d.Pretty, "<username>Mr_Praline</username>") || strings.Contains(d.Pretty, "\x1b[") {
		t.Errorf("pretty:\n%s", d.Pretty)
	}
	var text string
	var links []string
	for _, seg := range d.Explain {
		text += seg.Text
		if seg.Href != "" {
			links = append(links, seg.Href)
		}
	}
	if !strings.HasPrefix(text, "Legacy login") || len(links) == 0 || links[0] != "https://xmpp.org/extensions/xep-0078.html" {
		t.Errorf("explanation %q, links %v", text, links)
	}
	if d.Origin != "client" || d.Dir != "c2s" {
		t.Errorf("origin %q dir %q", d.Origin, d.Dir)
	}
}

func TestCite(t *testing.T) {
	for _, tc := range []struct {
		in    string
		links []string
	}{
		{"nothing cited", nil},
		{"Stream header (RFC 6120 §4.2); see XEP-0077 §3.1 and RFC 4616.", []string{
			"https://www.rfc-editor.org/rfc/rfc6120#section-4.2",
			"https://xmpp.org/extensions/xep-0077.html",
			"https://www.rfc-editor.org/rfc/rfc4616"}},
		{"RFC 6121 §2.1.6", []string{"https://www.rfc-editor.org/rfc/rfc6121#section-2.1.6"}},
	} {
		segs := Cite(tc.in)
		var text string
		var links []string
		for _, s := range segs {
			text += s.Text
			if s.Href != "" {
				links = append(links, s.Href)
			}
		}
		if text != tc.in || fmt.Sprint(links) != fmt.Sprint(tc.links) {
			t.Errorf("%q: text %q, links %v", tc.in, text, links)
		}
	}
}

// FuzzCite checks that Cite loses nothing and links only to the two sites it knows.
func FuzzCite(f *testing.F) {
	f.Add("Stream header (RFC 6120 §4.2); XEP-0077 §3.1")
	f.Add("RFC 99999 §1.2.3.4.5.6 XEP-12345")
	f.Fuzz(func(t *testing.T, s string) {
		var text string
		for _, seg := range Cite(s) {
			text += seg.Text
			if seg.Href != "" && !strings.HasPrefix(seg.Href, "https://www.rfc-editor.org/rfc/rfc") && !strings.HasPrefix(seg.Href, "https://xmpp.org/extensions/xep-") {
				t.Fatalf("link %q", seg.Href)
			}
		}
		if text != s {
			t.Fatalf("Cite(%q) gives back %q", s, text)
		}
	})
}

// sseEvent is one server-sent event.
type sseEvent struct {
	id, event, data string
}

// readEvent reads the next event (comments skipped).
func readEvent(br *bufio.Reader) (sseEvent, error) {
	var ev sseEvent
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return ev, err
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if ev.data != "" || ev.event != "" {
				return ev, nil
			}
		case strings.HasPrefix(line, "id: "):
			ev.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			ev.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			ev.data = line[6:]
		}
	}
}

func openEvents(t *testing.T, url string, header http.Header) (*bufio.Reader, func()) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	return bufio.NewReader(resp.Body), func() { resp.Body.Close() }
}

func expectEvent(t *testing.T, br *bufio.Reader, event string) sseEvent {
	t.Helper()
	ev, err := readEvent(br)
	if err != nil {
		t.Fatal(err)
	}
	if ev.event != event {
		t.Fatalf("got event %q (%s), want %q", ev.event, ev.data, event)
	}
	return ev
}

func TestEventsHistoryLiveAndResume(t *testing.T) {
	h := NewHub(Options{History: 5, Title: "test", Proxy: true})
	srv := httptest.NewServer(NewHandler(h, HandlerOptions{}))
	defer srv.Close()
	s := newSession(t, 1)
	recs := s.textbook()
	writeAll(t, h, recs[:7]) // 7 records in a history of 5: 1 and 2 are gone
	br, done := openEvents(t, srv.URL+"/events", nil)
	defer done()
	var hl hello
	if err := json.Unmarshal([]byte(expectEvent(t, br, "hello").data), &hl); err != nil || hl.First != 3 || hl.Title != "test" || !hl.Proxy || hl.History != 5 {
		t.Fatalf("hello %+v %v", hl, err)
	}
	if ev := expectEvent(t, br, "records"); ev.id != "7" || indexes(t, ev) != "[3 4 5 6 7]" {
		t.Fatalf("history: id %s, records %s", ev.id, indexes(t, ev))
	}
	expectEvent(t, br, "live")
	writeAll(t, h, recs[7:8])
	if ev := expectEvent(t, br, "records"); ev.id != "8" || !strings.Contains(ev.data, `"label":"presence"`) {
		t.Fatalf("live: %+v", ev)
	}
	// A browser that reconnects resumes after its last id; what left the history meanwhile
	// is reported as skipped, and gone.
	br2, done2 := openEvents(t, srv.URL+"/events", http.Header{"Last-Event-ID": {"1"}})
	defer done2()
	expectEvent(t, br2, "hello")
	if ev := expectEvent(t, br2, "skipped"); ev.data != `{"from":2,"to":3,"n":2,"gone":2}` || ev.id != "3" {
		t.Fatalf("skipped: id %s, %s", ev.id, ev.data)
	}
	if ev := expectEvent(t, br2, "records"); indexes(t, ev) != "[4 5 6 7 8]" {
		t.Fatalf("resumed with %s, want 4 to 8", indexes(t, ev))
	}
}

// indexes lists the indexes of the records of an event.
func indexes(t *testing.T, ev sseEvent) string {
	t.Helper()
	var sums []summary
	if err := json.Unmarshal([]byte(ev.data), &sums); err != nil {
		t.Fatalf("%s: %v", ev.data, err)
	}
	var is []uint64
	for _, s := range sums {
		is = append(is, s.I)
	}
	return fmt.Sprint(is)
}

func TestRecordRoute(t *testing.T) {
	h := NewHub(Options{})
	srv := httptest.NewServer(NewHandler(h, HandlerOptions{}))
	defer srv.Close()
	writeAll(t, h, newSession(t, 1).textbook())
	for _, tc := range []struct {
		path string
		code int
		body string
	}{
		{"/record?i=6", 200, `"pretty":"#6 `},
		{"/record?i=99", 404, "no longer"},
		{"/record?i=x", 400, "index"},
		{"/", 200, "<title>stanzascope</title>"},
		{"/app.js", 200, "EventSource"},
		{"/style.css", 200, "--lane"},
		{"/nothing", 404, ""},
	} {
		resp, err := http.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.body) {
			t.Errorf("%s: %d %.200s", tc.path, resp.StatusCode, b)
		}
		if resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("%s: no CSP", tc.path)
		}
	}
	resp, err := http.Post(srv.URL+"/record?i=1", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", resp.StatusCode)
	}
}

func TestMaxStreams(t *testing.T) {
	h := NewHub(Options{MaxStreams: 1})
	srv := httptest.NewServer(NewHandler(h, HandlerOptions{}))
	defer srv.Close()
	br, done := openEvents(t, srv.URL+"/events", nil)
	defer done()
	expectEvent(t, br, "hello")
	resp, err := http.Get(srv.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("a second browser: %s", resp.Status)
	}
}

func TestGuard(t *testing.T) {
	h := NewHub(Options{})
	get := func(handler http.Handler, target, host string, cookie *http.Cookie) *http.Response {
		req := httptest.NewRequest("GET", target, nil)
		req.Host = host
		if cookie != nil {
			req.AddCookie(cookie)
		}
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, req)
		return w.Result()
	}
	open := NewHandler(h, HandlerOptions{})
	for host, code := range map[string]int{
		"127.0.0.1:8080": 200, "localhost:8080": 200, "[::1]:8080": 200, "LOCALHOST": 200,
		"evil.example:8080": 403, "192.168.1.2:8080": 403, "127.0.0.1.evil.example": 403,
	} {
		if got := get(open, "/", host, nil).StatusCode; got != code {
			t.Errorf("no token, Host %s: %d, want %d", host, got, code)
		}
	}
	tok := NewHandler(h, HandlerOptions{Token: "s3cret"})
	for target, code := range map[string]int{"/": 401, "/?token=wrong": 401, "/?token=s3cret": 200, "/record?i=1&token=s3cre": 401} {
		if got := get(tok, target, "class.example:8080", nil).StatusCode; got != code {
			t.Errorf("token, %s: %d, want %d", target, got, code)
		}
	}
	resp := get(tok, "/?token=s3cret", "class.example:8080", nil)
	var c *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == TokenCookie {
			c = ck
		}
	}
	if c == nil || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
		t.Fatalf("cookie %+v", c)
	}
	if got := get(tok, "/app.js", "class.example:8080", c).StatusCode; got != 200 {
		t.Errorf("with the cookie: %d", got)
	}
	if got := get(tok, "/app.js", "class.example:8080", &http.Cookie{Name: TokenCookie, Value: "nope"}).StatusCode; got != 401 {
		t.Errorf("with a wrong cookie: %d", got)
	}
}

// TestGuardExtra: handlers added beside the page (/metrics) are behind the same guard,
// and a program can give the token as a bearer token.
func TestGuardExtra(t *testing.T) {
	h := NewHub(Options{})
	extra := map[string]http.Handler{"GET /metrics": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "stanzascope_stanzas_total 0\n")
	})}
	get := func(handler http.Handler, host, auth string) int {
		req := httptest.NewRequest("GET", "/metrics", nil)
		req.Host = host
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, req)
		if w.Code == 200 && w.Body.String() != "stanzascope_stanzas_total 0\n" {
			t.Errorf("body %q", w.Body)
		}
		return w.Code
	}
	open := NewHandler(h, HandlerOptions{Extra: extra})
	if got := get(open, "127.0.0.1:8080", ""); got != 200 {
		t.Errorf("no token, loopback: %d", got)
	}
	if got := get(open, "evil.example:8080", ""); got != 403 {
		t.Errorf("no token, other Host: %d", got)
	}
	tok := NewHandler(h, HandlerOptions{Token: "s3cret", Extra: extra})
	for auth, code := range map[string]int{"": 401, "Bearer s3cret": 200, "Bearer wrong": 401, "Basic s3cret": 401} {
		if got := get(tok, "class.example:8080", auth); got != code {
			t.Errorf("token, Authorization %q: %d, want %d", auth, got, code)
		}
	}
}

// stall opens an event stream and never reads it, as a frozen browser tab does.
func stall(t testing.TB, srvURL string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(srvURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	return c
}

// TestStalledBrowser: a browser that stops reading does not hold up Write, and when it
// reads again it is told which records it was not sent, and that they left the history.
func TestStalledBrowser(t *testing.T) {
	// No live rate to speak of: every record is sent, as fast as they come, so that the
	// stream must block on the socket and fall more than the history behind (at the
	// default rate it would send too little to fill the socket's buffers, and the test
	// would depend on how fast the machine writes).
	h := NewHub(Options{History: 1000, LiveRate: 1 << 30})
	// The stalled stream must still be there when the test reads it, however slow the machine.
	srv := httptest.NewServer(NewHandler(h, HandlerOptions{WriteTimeout: 10 * time.Minute}))
	defer srv.Close()
	c := stall(t, srv.URL)
	defer c.Close()
	s := newSession(t, 1)
	// A long id makes each record's summary about 4 KB, so that what is written below
	// (about 50 MB) is more than the stalled socket can ever buffer (a 4 MB send buffer
	// and a receive buffer that autotunes up to 32 MB): the handler must block, and fall
	// more than the history behind. Smaller records made the test depend on how far the
	// buffers had grown, and on how fast the machine wrote 100,000 of them.
	msg := s.c2s("<message id='" + strings.Repeat("m", 4000) + "' to='dana@localhost' type='chat'><body>spam</body></message>")
	const n = 12000
	// Wait until the stream is subscribed, so the records below are live for it.
	for deadline := time.Now().Add(10 * time.Second); ; {
		h.mu.Lock()
		n := len(h.subs)
		h.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the stream did not subscribe")
		}
		time.Sleep(5 * time.Millisecond)
	}
	done := make(chan error, 1)
	go func() {
		// Far more than the socket buffers hold: the handler blocks on its write.
		for range n {
			r := *msg
			if err := h.Write(&r); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Minute): // a bound for a hang, not a speed test
		t.Fatal("Write is held up by a browser that does not read")
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Minute))
	br := bufio.NewReader(c)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("no skipped event with records gone: %v", err)
		}
		if rest, ok := strings.CutPrefix(line, "data: {\"from\":"); ok && !strings.Contains(rest, `"gone":0}`) {
			var g struct{ From, To, N, Gone uint64 }
			if err := json.Unmarshal([]byte(line[len("data: "):]), &g); err != nil {
				t.Fatal(err)
			}
			if g.Gone == 0 || g.Gone > g.N || g.N != g.To-g.From+1 {
				t.Fatalf("skipped %s", line)
			}
			break
		}
	}
}

// TestLiveRate: records that arrive faster than the stream's rate are not all sent: the
// stream sends the newest, at most a second's worth at once, and names the run before
// them exactly; /records answers that run while it is held, and says what left.
func TestLiveRate(t *testing.T) {
	h := NewHub(Options{History: 300, LiveRate: 50})
	srv := httptest.NewServer(NewHandler(h, HandlerOptions{}))
	defer srv.Close()
	s := newSession(t, 1)
	br, done := openEvents(t, srv.URL+"/events", nil)
	defer done()
	expectEvent(t, br, "hello")
	expectEvent(t, br, "live")
	msgs := make([]*inspect.Record, 200)
	for i := range msgs {
		msgs[i] = s.c2s(fmt.Sprintf("<message id='m%d'/>", i))
	}
	writeAll(t, h, msgs)
	// 200 at once, a bucket of 50: the first frame has at most 50, the newest, and says
	// which ones before them it skipped. Every index is accounted for exactly once.
	seen := map[uint64]bool{}
	var skipped []gap
	for len(seen)+count(skipped) < 200 {
		ev, err := readEvent(br)
		if err != nil {
			t.Fatal(err)
		}
		switch ev.event {
		case "skipped":
			var g struct{ From, To, N, Gone uint64 }
			if err := json.Unmarshal([]byte(ev.data), &g); err != nil || g.N != g.To-g.From+1 || g.Gone != 0 {
				t.Fatalf("skipped %s %v", ev.data, err)
			}
			skipped = append(skipped, gap{From: g.From, To: g.To})
		case "records":
			var sums []summary
			if err := json.Unmarshal([]byte(ev.data), &sums); err != nil {
				t.Fatal(err)
			}
			if len(sums) > 50 {
				t.Fatalf("a frame of %d records at a rate of 50", len(sums))
			}
			for _, sm := range sums {
				if seen[sm.I] {
					t.Fatalf("record %d sent twice", sm.I)
				}
				seen[sm.I] = true
			}
		}
	}
	if len(skipped) == 0 || !seen[200] {
		t.Fatalf("skipped %v; newest sent: %v", skipped, seen[200])
	}
	for _, g := range skipped {
		for i := g.From; i <= g.To; i++ {
			if seen[i] {
				t.Fatalf("record %d both sent and skipped", i)
			}
		}
	}
	// The first run skipped is fetched on demand, in full: it is still held.
	g := skipped[0]
	var f struct {
		First, Gone, More uint64
		Records           []summary
	}
	getJSON(t, fmt.Sprintf("%s/records?from=%d&to=%d", srv.URL, g.From, g.To), &f)
	if f.Gone != 0 || f.More != 0 || uint64(len(f.Records)) != g.To-g.From+1 || f.Records[0].I != g.From {
		t.Fatalf("fetch %+v: gone %d, more %d, %d records", g, f.Gone, f.More, len(f.Records))
	}
	// 200 more push out the first 100 of the history of 300: a fetch says they are gone.
	writeAll(t, h, msgs)
	getJSON(t, srv.URL+"/records?from=1&to=150", &f)
	if f.First != 101 || f.Gone != 100 || len(f.Records) != 50 || f.Records[0].I != 101 {
		t.Fatalf("fetch 1-150 after 400 in 300: first %d, gone %d, %d records", f.First, f.Gone, len(f.Records))
	}
	for _, bad := range []string{"from=0&to=3", "from=5&to=4", "from=x&to=3", "to=3"} {
		resp, err := http.Get(srv.URL + "/records?" + bad)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("/records?%s: %s", bad, resp.Status)
		}
	}
}

func count(gs []gap) int {
	n := 0
	for _, g := range gs {
		n += int(g.To - g.From + 1)
	}
	return n
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

// TestLanesEvent: a label learnt from a record the browser was not sent (its bound JID)
// still reaches it, as a "lanes" event.
func TestLanesEvent(t *testing.T) {
	h := NewHub(Options{LiveRate: 10})
	srv := httptest.NewServer(NewHandler(h, HandlerOptions{}))
	defer srv.Close()
	br, done := openEvents(t, srv.URL+"/events", nil)
	defer done()
	expectEvent(t, br, "hello")
	expectEvent(t, br, "live")
	s := newSession(t, 4)
	recs := []*inspect.Record{
		s.c2s("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"),
		s.s2c("<iq type='result' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>dana@localhost/phone</jid></bind></iq>"),
	}
	for i := range 30 {
		recs = append(recs, s.c2s(fmt.Sprintf("<presence id='p%d'/>", i)))
	}
	writeAll(t, h, recs)
	for {
		ev, err := readEvent(br)
		if err != nil {
			t.Fatal(err)
		}
		if ev.event == "lanes" {
			if !strings.Contains(ev.data, `"conn":4`) || !strings.Contains(ev.data, `"jid":"dana@localhost/phone"`) {
				t.Fatalf("lanes %s", ev.data)
			}
			return
		}
	}
}

func benchRecord(b *testing.B) *inspect.Record {
	s := newSession(&testing.T{}, 1)
	return s.s2c("<message from='praline@localhost/telnet' to='dana@localhost/phone' type='chat' id='m1'><body>I wish to complain about this parrot.</body></message>")
}

// BenchmarkHubWrite measures Write with no browser, three browsers reading and three
// browsers that stopped reading: a stalled browser must cost nothing.
func BenchmarkHubWrite(b *testing.B) {
	for _, bc := range []struct {
		name            string
		active, stalled int
	}{{"browsers=0", 0, 0}, {"browsers=3-reading", 3, 0}, {"browsers=3-stalled", 0, 3}} {
		b.Run(bc.name, func(b *testing.B) {
			h := NewHub(Options{})
			srv := httptest.NewServer(NewHandler(h, HandlerOptions{}))
			defer srv.Close()
			defer h.Close()
			for range bc.active {
				resp, err := http.Get(srv.URL + "/events")
				if err != nil {
					b.Fatal(err)
				}
				defer resp.Body.Close()
				go io.Copy(io.Discard, resp.Body)
			}
			for range bc.stalled {
				c := stall(b, srv.URL)
				defer c.Close()
			}
			for deadline := time.Now().Add(10 * time.Second); ; {
				h.mu.Lock()
				n := len(h.subs)
				h.mu.Unlock()
				if n == bc.active+bc.stalled {
					break
				}
				if time.Now().After(deadline) {
					b.Fatal("streams did not subscribe")
				}
				time.Sleep(5 * time.Millisecond)
			}
			// Records made before, as the chain hands the hub records it made anyway.
			msgs := make([]*inspect.Record, 4096)
			for i := range msgs {
				msgs[i] = benchRecord(b)
			}
			b.ReportAllocs()
			b.ResetTimer()
			i := 0
			for b.Loop() {
				if err := h.Write(msgs[i%len(msgs)]); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// The proxy reports the bound JID as a typed milestone: the hub takes it from there, not
// from the binding result it would otherwise read.
func TestHubBoundFromMilestone(t *testing.T) {
	h := NewHub(Options{Proxy: true})
	s := newSession(t, 3)
	note := s.rec(inspect.KindNote, inspect.DirNone, "")
	note.SetNote("bound JID alice@localhost/typed")
	note.SetMilestone(&inspect.Milestone{Kind: inspect.MilestoneBound, JID: "alice@localhost/typed"})
	writeAll(t, h, []*inspect.Record{
		s.c2s("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"),
		note,
		s.s2c("<iq type='result' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>alice@localhost/derived</jid></bind></iq>"),
	})
	sums := summaries(t, h)
	var bound []string
	for _, s := range sums {
		if s.Bound != "" {
			bound = append(bound, s.Bound)
		}
	}
	if len(bound) != 1 || bound[0] != "alice@localhost/typed" {
		t.Errorf("bound JIDs in the summaries: %q, want the milestone's only", bound)
	}
	if l := h.Lanes()[3]; l.JID != "alice@localhost/typed" {
		t.Errorf("lane %+v, want the milestone's JID", l)
	}
}
