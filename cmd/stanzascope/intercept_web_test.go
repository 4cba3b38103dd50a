package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/stanzascope/stanzascope/inspect/web/webtest"
)

// TestWebIntercept: in headless Chromium, a breakpoint on chat messages is set in the web
// view's control panel; a slixmpp client sends a message to another through the proxy; the
// page shows it held, its body is edited in the page and it is released; the other slixmpp
// client receives the edited body, and the log has both versions and the decision by web.
func TestWebIntercept(t *testing.T) {
	requireSlixmpp(t)
	ctx := webtest.Browser(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "session.jsonl")
	in := startStanzascope(t, true, "proxy", "--listen", "127.0.0.1:0", "--web", "127.0.0.1:0", "--web-token", ctlToken,
		"--control", "--ca-dir", dir+"/ca", "--db", ":memory:", "--log", logPath, "--format", "json")
	webtest.Do(t, ctx, chromedp.Navigate(in.web))
	webtest.WaitFor(t, ctx, 20*time.Second, `window.stanzascope.live && window.stanzascopeControl.enabled`, "", "page live with the control panel")

	// The breakpoint, typed into the panel.
	webtest.Do(t, ctx, chromedp.SendKeys(chromedp.ID("bp-filter"), "name message and type chat and dir c2s"),
		chromedp.Click(chromedp.ID("bp-add")))
	webtest.WaitFor(t, ctx, 10*time.Second, `[...document.querySelectorAll('#bp-list code')].some(e => e.textContent === 'name message and type chat and dir c2s')`,
		`document.getElementById('control').textContent`, "the breakpoint listed")

	host, port, _ := net.SplitHostPort(in.xmpp)
	pctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(pctx, python, "../../scripts/interop/slixmpp_chat.py",
		"--host", host, "--port", port, "--domain", "localhost", "--password", webPassword,
		"--sender", "praline", "--receiver", "dana", "--body", "I wish to complain about this parrot.", "--cafile", in.ca, "--wait", "60")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	waited := make(chan error, 1)
	go func() {
		var all []string
		for l := range lines {
			all = append(all, l)
			if strings.HasPrefix(l, "RECEIVED ") || strings.HasPrefix(l, "FAIL") {
				break
			}
		}
		for range lines { // drain
		}
		err := cmd.Wait()
		if err == nil && !strings.HasPrefix(all[len(all)-1], "RECEIVED It is pining for the fjords.") {
			err = errors.New("the last line is not the edited body")
		}
		if err != nil {
			t.Logf("slixmpp: %s", strings.Join(all, "\n"))
		}
		waited <- err
	}()

	// The held message appears in the page; its body is edited there and released.
	webtest.WaitFor(t, ctx, 60*time.Second, `document.querySelector('#held-list .held textarea') !== null`,
		`document.getElementById('control').textContent`, "the message held in the page")
	held := webtest.Eval[string](t, ctx, `document.querySelector('#held-list .held textarea').value`)
	if !strings.Contains(held, "<body>I wish to complain about this parrot.</body>") {
		t.Fatalf("held stanza in the page: %q", held)
	}
	webtest.Do(t, ctx, chromedp.Evaluate[chromedp.Void](`(() => {
		const a = document.querySelector('#held-list .held textarea');
		a.value = a.value.replace('I wish to complain about this parrot.', 'It is pining for the fjords.');
	})()`))
	webtest.Do(t, ctx, chromedp.Click(chromedp.CSS(`#held-list .held .held-edit-release`)))
	webtest.WaitFor(t, ctx, 10*time.Second, `document.querySelectorAll('#held-list .held').length === 0`,
		`document.getElementById('control').textContent`, "the held message gone from the page")
	select {
	case err := <-waited:
		if err != nil {
			t.Fatalf("slixmpp did not get the edited message: %v\n%s", err, in.stderr.String())
		}
	case <-time.After(90 * time.Second):
		t.Fatal("slixmpp did not finish")
	}

	// The log: the message as forwarded (edited) with what was received as original, the
	// decision by web, both with their origin.
	var forwarded, decided bool
	var seq uint64
	for deadline := time.Now().Add(10 * time.Second); !(forwarded && decided); {
		b, _ := os.ReadFile(logPath)
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var r struct {
				Name, Origin, Note, Original, Dir string
				Raw                               string `json:"xml"`
				Seq                               uint64
			}
			if json.Unmarshal([]byte(l), &r) != nil {
				continue
			}
			if r.Name == "message" && r.Dir == "c2s" && strings.Contains(r.Raw, "It is pining for the fjords.") &&
				strings.Contains(r.Original, "I wish to complain about this parrot.") && r.Origin == "client" {
				forwarded, seq = true, r.Seq
			}
			if strings.Contains(r.Note, "edited and released by web") && r.Origin == "proxy" {
				decided = true
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("log: edited message with original %v, decision by web %v:\n%s", forwarded, decided, b)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The page shows both versions too: click the edited message.
	clickArrow(t, ctx, seq)
	webtest.WaitFor(t, ctx, 10*time.Second, `(() => { const p = document.getElementById('d-pretty').textContent;
		return p.includes('It is pining for the fjords.') && p.includes('I wish to complain about this parrot.'); })()`,
		`document.getElementById('d-pretty').textContent`, "the edited message's detail with both versions")

	// The composer: a template sent to a telnet client's connection, toward the client.
	s := dialTelnet(t, in.xmpp)
	s.say("<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>", "<stream:stream")
	webtest.WaitFor(t, ctx, 10*time.Second, `[...document.querySelectorAll('#cmp-conn option')].length === 1`,
		`document.getElementById('cmp-conn').outerHTML`, "the telnet connection in the composer")
	webtest.Do(t, ctx, chromedp.SetValue(chromedp.ID("cmp-to"), "client"), chromedp.Evaluate[chromedp.Void](`(() => {
		const t = document.getElementById('cmp-template');
		t.value = [...t.options].find(o => o.text === 'message (chat)').value;
		t.dispatchEvent(new Event('change'));
	})()`), chromedp.Click(chromedp.ID("cmp-send")))
	// The page's answer first: when the send is refused, its reason is what the failure
	// shows (once, under load, the telnet client got nothing within 15 s, and why was not
	// known).
	webtest.WaitFor(t, ctx, 30*time.Second, `document.getElementById('cmp-result').textContent.startsWith('sent to the client')`,
		`document.getElementById('cmp-result').textContent`, "the composer says it was sent")
	s.say("", "<message to='dana@localhost' type='chat'><body>Hello!</body></message>")
	// A broken stanza is refused with the reader's error, shown in the page.
	webtest.Do(t, ctx, chromedp.SetValue(chromedp.ID("cmp-stanza"), "<message><body>oops</message>"), chromedp.Click(chromedp.ID("cmp-send")))
	webtest.WaitFor(t, ctx, 10*time.Second, `document.getElementById('cmp-result').textContent.includes('not-well-formed')`,
		`document.getElementById('cmp-result').textContent`, "the composer shows the parser's error")
}
