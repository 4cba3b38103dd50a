package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/stanzascope/stanzascope/inspect/web/webtest"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "write docs/web-view.png from the tutorial's web view")

// webPassword is the password of the sessions below: it must appear nowhere in the web view.
const webPassword = "Norwegian-Blue-42"

func TestWebFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"proxy", "--web", "0.0.0.0:8080"},
		{"proxy", "--web", ":8080"},
		{"proxy", "--web", "192.0.2.1:8080", "--web-token", "short"},
		{"proxy", "--web", "off", "--web-token", "long enough token"},
		{"proxy", "--web", "nonsense"},
		{"switch", "--web", "[::]:80"},
		{"inspect", "x.jsonl", "--web", "10.0.0.1:8080"},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errb.String())
		}
	}
}

// responses records every byte the web view's server writes.
type responses struct{ syncBuffer }

func (rec *responses) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&teeWriter{w, rec}, r)
	})
}

type teeWriter struct {
	http.ResponseWriter
	rec *responses
}

func (t *teeWriter) Write(b []byte) (int, error) {
	t.rec.Write(b)
	return t.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController flush the event stream through the tee.
func (t *teeWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }

// recordResponses sets webMiddleware for the test.
func recordResponses(t *testing.T) *responses {
	rec := &responses{}
	webMiddleware = rec.wrap
	t.Cleanup(func() { webMiddleware = nil })
	return rec
}

// instance is stanzascope running in this process, as from the command line.
type instance struct {
	xmpp, web, ca string
	stderr        *syncBuffer
	stop          func() int
}

var (
	listeningRE = regexp.MustCompile(`listening on (\S+) \(plaintext`)
	webURLRE    = regexp.MustCompile(`web view on (http://\S+)`)
	caRE        = regexp.MustCompile(`trust the CA (\S+) `)
)

// startStanzascope runs the command with args and waits for what it prints: the web
// view's URL, and for the proxy (proxy true) its XMPP address and its CA.
func startStanzascope(t *testing.T, proxy bool, args ...string) *instance {
	t.Helper()
	patterns := map[string]*regexp.Regexp{"web": webURLRE}
	if proxy {
		patterns["xmpp"], patterns["ca"] = listeningRE, caRE
	}
	r := startWith(t, patterns, args...)
	return &instance{xmpp: r.found["xmpp"], web: r.found["web"], ca: r.found["ca"], stderr: r.stderr, stop: r.stop}
}

// telnet is a hand-typed session: send a line, read until the answer holds a string.
type telnet struct {
	t   *testing.T
	c   net.Conn
	got strings.Builder
}

func dialTelnet(t *testing.T, addr string) *telnet {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &telnet{t: t, c: c}
}

func (s *telnet) say(line, want string) {
	s.t.Helper()
	if _, err := io.WriteString(s.c, line); err != nil {
		s.t.Fatal(err)
	}
	s.c.SetReadDeadline(time.Now().Add(15 * time.Second))
	b := make([]byte, 4096)
	for !strings.Contains(s.got.String(), want) {
		n, err := s.c.Read(b)
		s.got.Write(b[:n])
		if err != nil {
			s.t.Fatalf("after %q, waiting for %q: %v; got %q", line, want, err, s.got.String())
		}
	}
}

// logRecord is what the tests read back from the JSON log.
type logRecord struct {
	Seq  uint64 `json:"seq"`
	Kind string `json:"kind"`
	Conn uint64 `json:"conn"`
	Name string `json:"name"`
	Type string `json:"type"`
}

func readLog(t *testing.T, path string) []logRecord {
	t.Helper()
	return readLogFile(t, path, false)
}

// readLogFile reads the log at path; with partial, while the job may be writing it: a
// last line without its newline is not complete yet and is left out.
func readLogFile(t *testing.T, path string, partial bool) []logRecord {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if partial {
		b = b[:bytes.LastIndexByte(b, '\n')+1]
	}
	var recs []logRecord
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l == "" {
			continue
		}
		var r logRecord
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if r.Kind != "whitespace" { // not drawn
			recs = append(recs, r)
		}
	}
	return recs
}

// waitLog waits until the log holds a record that match accepts.
func waitLog(t *testing.T, path string, match func(logRecord) bool) []logRecord {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; {
		if _, err := os.Stat(path); err == nil {
			recs := readLogFile(t, path, true) // the job writes it as we read
			for _, r := range recs {
				if match(r) {
					return recs
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log never got the record waited for")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type row struct {
	Seq   string `json:"seq"`
	Label string `json:"label"`
}

const rowsJS = `[...document.querySelectorAll('#rows .row')].map(e => ({seq: e.dataset.seq || '', label: (e.querySelector('.label, .note') || e).textContent}))`

// checkArrows checks that the page draws exactly the log's records, in order, each with
// its number, stanzas with their element name.
func checkArrows(t *testing.T, ctx context.Context, recs []logRecord) {
	t.Helper()
	webtest.WaitFor(t, ctx, 30*time.Second, fmt.Sprintf(`document.querySelectorAll('#rows .row').length >= %d`, len(recs)),
		`document.querySelectorAll('#rows .row').length`, "every record of the log drawn")
	rows := webtest.Eval[[]row](t, ctx, rowsJS)
	if len(rows) != len(recs) {
		t.Fatalf("%d rows for %d records in the log", len(rows), len(recs))
	}
	for i, r := range recs {
		want := fmt.Sprint(r.Seq)
		if rows[i].Seq != want || !strings.HasPrefix(rows[i].Label, "#"+want+" ") {
			t.Errorf("row %d: seq %q, label %q; the log has #%s (%s %s)", i, rows[i].Seq, rows[i].Label, want, r.Kind, r.Name)
		}
		if r.Kind == "stanza" && !strings.HasPrefix(rows[i].Label, "#"+want+" "+r.Name) {
			t.Errorf("row %d: label %q, want the element %s", i, rows[i].Label, r.Name)
		}
	}
}

// clickArrow clicks the arrow of record seq, as a person does: scrolled into view first
// (rows out of view are not laid out, so they have no place to click).
func clickArrow(t *testing.T, ctx context.Context, seq uint64) {
	t.Helper()
	sel := fmt.Sprintf(`#rows .row[data-seq="%d"] .arrow`, seq)
	if !webtest.Eval[bool](t, ctx, fmt.Sprintf(`(() => { const e = document.querySelector('%s'); if (e) e.scrollIntoView({block: 'center'}); return !!e; })()`, sel)) {
		t.Fatalf("no arrow %d", seq)
	}
	webtest.Do(t, ctx, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel)))
}

// checkNoPassword looks for the password in the page (DOM and exports) and in every
// response of the web server.
func checkNoPassword(t *testing.T, ctx context.Context, rec *responses) {
	t.Helper()
	for what, js := range map[string]string{
		"DOM":            `document.documentElement.outerHTML`,
		"SVG export":     `window.stanzascope.exportSVG()`,
		"Mermaid export": `window.stanzascope.exportMermaid()`,
	} {
		if s := webtest.Eval[string](t, ctx, js); strings.Contains(s, webPassword) {
			t.Errorf("the password is in the page's %s", what)
		}
	}
	if strings.Contains(rec.String(), webPassword) {
		t.Error("the password is in a response of the web server")
	}
	if !strings.Contains(rec.String(), "Mr_Praline") && !strings.Contains(rec.String(), "praline") {
		t.Error("the responses recorded hold no session: the check above proves nothing")
	}
}

// TestWebTutorial runs the textbook session (pre-1.0 stream, registration, legacy login,
// presence, a message) through `stanzascope` with its default web view, and checks the
// page in Chromium.
func TestWebTutorial(t *testing.T) {
	ctx := webtest.Browser(t)
	rec := recordResponses(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "session.jsonl")
	in := startStanzascope(t, true, "--listen", "127.0.0.1:0", "--web", "127.0.0.1:0", "--ca-dir", dir+"/ca",
		"--db", dir+"/db/switch.db", "--log", logPath, "--format", "json")
	webtest.Do(t, ctx, chromedp.Navigate(in.web))
	webtest.WaitFor(t, ctx, 20*time.Second, `window.stanzascope.live`, "", "page live")

	s := dialTelnet(t, in.xmpp)
	s.say("<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>", "<stream:stream")
	s.say("<iq id='AnythingYouWantHere' type='get'><query xmlns='jabber:iq:register'/></iq>", "AnythingYouWantHere")
	s.say("<iq id='WhateverYouWantHere' type='set'><query xmlns='jabber:iq:register'><username>Mr_Praline</username><password>"+webPassword+
		"</password><name>Mr_Praline</name><email>Mr_Praline@python.com</email></query></iq>", "WhateverYouWantHere")
	s.say("<iq id='auth1' type='set'><query xmlns='jabber:iq:auth'><username>Mr_Praline</username><password>"+webPassword+
		"</password><resource>telnet</resource></query></iq>", "auth1")
	s.say("<presence/>", "auth1") // nothing comes back for a first presence without contacts
	s.say("<message to='mr_praline@localhost' type='chat'><body>I wish to complain about this parrot.</body></message>", "I wish to complain")

	// The lane of the connection is named by the JID the legacy login bound.
	lane := `[...document.querySelectorAll('.lane-label')].map(e => e.textContent).join('|')`
	webtest.WaitFor(t, ctx, 20*time.Second, lane+`.includes('mr_praline@localhost/telnet')`, lane, "lane named by the bound JID")
	s.say("</stream:stream>", "</stream:stream>")
	recs := waitLog(t, logPath, func(r logRecord) bool { return r.Kind == "conn-close" })
	checkArrows(t, ctx, recs)

	// Click the legacy login: its explanation, with a link, and its bytes, redacted.
	var auth logRecord
	for _, r := range recs {
		if r.Name == "iq" && r.Type == "set" && auth.Seq == 0 {
			auth = r // the registration comes first
		}
	}
	loginSeq := uint64(0)
	for _, r := range recs {
		if r.Name == "iq" && r.Type == "set" && r.Seq != auth.Seq {
			loginSeq = r.Seq
		}
	}
	clickArrow(t, ctx, loginSeq)
	webtest.Do(t, ctx, chromedp.WaitVisible(chromedp.CSS(`#d-explain a`)))
	webtest.WaitFor(t, ctx, 10*time.Second, `document.getElementById('d-pretty').textContent.includes('jabber:iq:auth')`,
		`document.getElementById('d-pretty').textContent`, "the login's bytes shown")
	explain := webtest.Eval[string](t, ctx, `document.getElementById('d-explain').textContent`)
	href := webtest.Eval[string](t, ctx, `document.querySelector('#d-explain a').href`)
	pretty := webtest.Eval[string](t, ctx, `document.getElementById('d-pretty').textContent`)
	if !strings.Contains(explain, "Legacy login") || href != "https://xmpp.org/extensions/xep-0078.html" {
		t.Errorf("explanation %q, link %q", explain, href)
	}
	if !strings.Contains(pretty, fmt.Sprintf("#%d ", loginSeq)) || !strings.Contains(pretty, "[redacted") {
		t.Errorf("the login's bytes:\n%s", pretty)
	}
	if *updateScreenshot {
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("../../docs/web-view.png", png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// A page opened late shows the session from its start.
	late, cancel := chromedp.NewContext(ctx)
	defer cancel()
	webtest.Do(t, late, chromedp.Navigate(in.web))
	webtest.WaitFor(t, late, 20*time.Second, `window.stanzascope.live`, "", "late page live")
	checkArrows(t, late, recs)
	checkNoPassword(t, ctx, rec)
	checkNoPassword(t, late, rec)
	if code := in.stop(); code != 0 {
		t.Errorf("exit %d:\n%s", code, in.stderr.String())
	}
}

// TestWebSlixmpp runs slixmpp's session (registration, STARTTLS, SCRAM, subscription,
// chat, offline delivery) through the proxy, and checks the lanes and arrows.
func TestWebSlixmpp(t *testing.T) {
	if err := exec.Command("/usr/bin/python3", "-c", "import slixmpp").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("slixmpp is not available to /usr/bin/python3: %v", err)
		}
		t.Skipf("slixmpp is not available to /usr/bin/python3: %v", err)
	}
	ctx := webtest.Browser(t)
	rec := recordResponses(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "session.jsonl")
	in := startStanzascope(t, true, "proxy", "--listen", "127.0.0.1:0", "--web", "127.0.0.1:0", "--ca-dir", dir+"/ca",
		"--db", dir+"/db/switch.db", "--log", logPath, "--format", "json")
	webtest.Do(t, ctx, chromedp.Navigate(in.web))
	webtest.WaitFor(t, ctx, 20*time.Second, `window.stanzascope.live`, "", "page live")

	host, port, _ := net.SplitHostPort(in.xmpp)
	pctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(pctx, "/usr/bin/python3", "../../scripts/interop/slixmpp_client.py",
		"--host", host, "--port", port, "--domain", "localhost", "--user1", "praline", "--user2", "dana",
		"--password", webPassword, "--cafile", in.ca)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("slixmpp client failed: %v\n%s\nstanzascope:\n%s", err, out, in.stderr.String())
	}
	// Every connection closed and logged; then the page must hold every record.
	var recs []logRecord
	for deadline := time.Now().Add(20 * time.Second); ; {
		recs = readLog(t, logPath)
		open, closed := 0, 0
		for _, r := range recs {
			switch r.Kind {
			case "conn-open":
				open++
			case "conn-close":
				closed++
			}
		}
		if open > 0 && open == closed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections opened, %d closed in the log", open, closed)
		}
		time.Sleep(20 * time.Millisecond)
	}
	checkArrows(t, ctx, recs)
	lanes := webtest.Eval[[]string](t, ctx, `[...document.querySelectorAll('.lane-label')].map(e => e.textContent)`)
	joined := strings.Join(lanes, "|")
	if !regexp.MustCompile(`praline@localhost/\S+`).MatchString(joined) || !regexp.MustCompile(`dana@localhost/\S+`).MatchString(joined) ||
		!strings.Contains(joined, "stanzascope") || !strings.Contains(joined, "localhost (embedded switch)") {
		t.Errorf("lanes %q", lanes)
	}
	// The SASL exchange is redacted: click the <auth/>.
	for _, r := range recs {
		if r.Name == "auth" {
			clickArrow(t, ctx, r.Seq)
			webtest.WaitFor(t, ctx, 10*time.Second, `document.getElementById('d-pretty').textContent.includes('mechanism')`,
				`document.getElementById('d-pretty').textContent`, "the SASL auth shown")
			if ex := webtest.Eval[string](t, ctx, `document.getElementById('d-explain').textContent`); !strings.Contains(ex, "SASL auth") {
				t.Errorf("explanation %q", ex)
			}
			break
		}
	}
	checkNoPassword(t, ctx, rec)
}

// TestWebInspectLog: `inspect LOG --web ADDR` serves the saved session, numbered as it was
// live, until Ctrl-C.
func TestWebInspectLog(t *testing.T) {
	ctx := webtest.Browser(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "session.jsonl")
	code, _, errOut := inspectCmd(t, "inspect", textbookC2S, "--log", logPath)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	recs := readLog(t, logPath)
	rec := recordResponses(t)
	in := startStanzascope(t, false, "inspect", logPath, "--web", "127.0.0.1:0")
	webtest.Do(t, ctx, chromedp.Navigate(in.web))
	webtest.WaitFor(t, ctx, 20*time.Second, `window.stanzascope.live`, "", "page live")
	checkArrows(t, ctx, recs)
	if title := webtest.Eval[string](t, ctx, `document.title`); !strings.HasPrefix(title, "stanzascope inspect ") {
		t.Errorf("title %q", title)
	}
	if strings.Contains(rec.String(), "polly") { // the password of testdata's textbook session
		t.Error("the password is in a response")
	}
	if !strings.Contains(in.stderr.String(), "keeps showing the session") {
		t.Errorf("stderr:\n%s", in.stderr.String())
	}
	if code := in.stop(); code != 0 {
		t.Errorf("exit %d:\n%s", code, in.stderr.String())
	}
}

// TestWebDefaultAddressBusy: when the default address is taken, the web view moves to a
// free loopback port and says so; an address given with --web that is taken is an error.
func TestWebDefaultAddressBusy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	old := defaultWebAddr
	defaultWebAddr = ln.Addr().String()
	defer func() { defaultWebAddr = old }()
	dir := t.TempDir()
	in := startStanzascope(t, false, "switch", "--listen", "127.0.0.1:0", "--db", dir+"/switch.db")
	if !strings.Contains(in.stderr.String(), ln.Addr().String()+" is in use") || strings.Contains(in.web, ln.Addr().String()) {
		t.Errorf("web view on %s; stderr:\n%s", in.web, in.stderr.String())
	}
	resp, err := http.Get(in.web)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("the web view answers %s", resp.Status)
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"switch", "--listen", "127.0.0.1:0", "--db", dir + "/other.db", "--web", ln.Addr().String()}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "web view") {
		t.Errorf("explicit busy address: exit %d, %s", code, errb.String())
	}
}

// TestWebToken: a web view on another address needs the token, and the URL printed
// carries it.
func TestWebToken(t *testing.T) {
	dir := t.TempDir()
	// On loopback a token is not needed, but one given is required all the same.
	in := startStanzascope(t, false, "switch", "--listen", "127.0.0.1:0", "--db", dir+"/switch.db",
		"--web", "127.0.0.1:0", "--web-token", "open sesame!")
	if !strings.HasSuffix(in.web, "/?token=open+sesame%21") {
		t.Fatalf("URL %s", in.web)
	}
	for url, code := range map[string]int{in.web: 200, strings.TrimSuffix(in.web, "?token=open+sesame%21"): 401} {
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != code {
			t.Errorf("%s: %s, want %d", url, resp.Status, code)
		}
	}
}
