package main

import (
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/stanzascope/stanzascope/inspect/web/webtest"
)

// startEcho runs scripts/interop/echo.py (slixmpp) as user on the proxy at xmppAddr and
// returns its full JID once it is logged in, and its exit.
func startEcho(t *testing.T, xmppAddr, cafile, user, pass, token string, register bool) (string, <-chan error, *syncBuffer) {
	t.Helper()
	host, port, _ := net.SplitHostPort(xmppAddr)
	ready := filepath.Join(t.TempDir(), "ready")
	args := []string{"../../scripts/interop/echo.py", "--host", host, "--port", port, "--domain", "localhost",
		"--user", user, "--password", pass, "--token", token, "--ready", ready, "--cafile", cafile}
	if !register {
		args = append(args, "--no-register")
	}
	cmd := exec.Command(python, args...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Its exit is for the test to read; the cleanup stops it by its PID if it still runs.
	exited := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		err := cmd.Wait()
		close(done)
		exited <- err
	}()
	t.Cleanup(func() {
		select {
		case <-done:
			return
		default:
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if b, err := os.ReadFile(ready); err == nil && strings.HasSuffix(string(b), "\n") {
			return strings.TrimSpace(string(b)), exited, out
		}
		select {
		case err := <-exited:
			t.Fatalf("echo.py ended before it was ready: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("echo.py not ready in time:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// jsString quotes s for a JavaScript expression.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// consoleSession drives the /console page of the stanzascope at in: registers (when
// register) and logs in user, sends initial presence, chats with a slixmpp peer through
// the WebSocket, and checks that the JSON log at logPath holds the session as a WebSocket
// one without the password.
func consoleSession(t *testing.T, in *instance, logPath, user, pass string, register bool, echoJID string, echoExit <-chan error, echoOut *syncBuffer, token string) {
	t.Helper()
	ctx := webtest.Browser(t)
	base := strings.TrimSuffix(in.web, "/")
	webtest.Do(t, ctx, chromedp.Navigate(base+"/console"))
	webtest.WaitFor(t, ctx, 20*time.Second, `window.stanzascopeConsole && window.stanzascopeConsole.state === 'closed'`, "", "console page ready")
	webtest.Eval[bool](t, ctx, `(document.getElementById('user').value = `+jsString(user)+`, document.getElementById('password').value = `+jsString(pass)+`, true)`)
	state := `window.stanzascopeConsole.state + ': ' + document.getElementById('status').textContent`
	if register {
		webtest.Eval[bool](t, ctx, `(document.getElementById('register').click(), true)`)
		webtest.WaitFor(t, ctx, 30*time.Second, `window.stanzascopeConsole.state === 'registered'`, state, "registered from the page")
	}
	webtest.Eval[bool](t, ctx, `(document.getElementById('login').click(), true)`)
	webtest.WaitFor(t, ctx, 30*time.Second, `window.stanzascopeConsole.state === 'online'`, state, "logged in from the page")
	if status := webtest.Eval[string](t, ctx, `document.getElementById('status').textContent`); !strings.Contains(status, "SCRAM-SHA") {
		t.Errorf("the page did not log in with SCRAM: %s", status)
	}
	compose := func(xml string) {
		t.Helper()
		webtest.Eval[bool](t, ctx, `(document.getElementById('compose').value = `+jsString(xml)+`, document.getElementById('send').click(), true)`)
		if e := webtest.Eval[string](t, ctx, `document.getElementById('compose-error').textContent`); e != "" {
			t.Fatalf("the composer refused %s: %s", xml, e)
		}
	}
	// The textbook's step 5 from the composer's templates.
	webtest.Eval[bool](t, ctx, `(() => { const s = document.getElementById('template'); s.selectedIndex = [...s.options].findIndex(o => o.textContent.startsWith('5.')); s.dispatchEvent(new Event('change')); return true })()`)
	if got := webtest.Eval[string](t, ctx, `document.getElementById('compose').value`); got != "<presence xmlns='jabber:client'/>" {
		t.Errorf("template of step 5: %q", got)
	}
	webtest.Eval[bool](t, ctx, `(document.getElementById('send').click(), true)`)
	compose("<message xmlns='jabber:client' to='" + echoJID + "' type='chat' id='c1'><body>" + token + " from the browser</body></message>")
	webtest.WaitFor(t, ctx, 30*time.Second, `window.stanzascopeConsole.frames.some(f => f.dir === 's2c' && f.text.includes('echo: `+token+` from the browser'))`,
		`window.stanzascopeConsole.frames.slice(-5)`, "the slixmpp peer's answer shown in the page")
	// Not one element: refused by the page, nothing sent.
	webtest.Eval[bool](t, ctx, `(document.getElementById('compose').value = '<presence/><presence/>', document.getElementById('send').click(), true)`)
	if e := webtest.Eval[string](t, ctx, `document.getElementById('compose-error').textContent`); e == "" {
		t.Error("the composer sent two elements in one frame")
	}
	compose("<message xmlns='jabber:client' to='" + echoJID + "' type='chat' id='c2'><body>bye</body></message>")
	select {
	case err := <-echoExit:
		if err != nil || !strings.Contains(echoOut.String(), "PASS") {
			t.Fatalf("echo.py: %v\n%s", err, echoOut.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("echo.py did not finish:\n%s", echoOut.String())
	}
	webtest.Eval[bool](t, ctx, `(document.getElementById('disconnect').click(), true)`)
	webtest.WaitFor(t, ctx, 20*time.Second, `window.stanzascopeConsole.state === 'closed'`, state, "disconnected")
	if ex := webtest.Exceptions(ctx); len(ex) > 0 {
		t.Errorf("page exceptions: %q", ex)
	}

	// The log: the browser's connection is a WebSocket one, its frames are what the
	// browser got, and the password is nowhere.
	waitLog(t, logPath, func(r logRecord) bool { return r.Kind == "conn-close" })
	var wsConn uint64
	var sawEcho, sawOpen bool
	for deadline := time.Now().Add(20 * time.Second); ; {
		b, err := os.ReadFile(logPath)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), pass) {
			t.Fatalf("the password is in the log")
		}
		wsConn, sawEcho, sawOpen = 0, false, false
		closed := map[uint64]bool{}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var r struct {
				Conn      uint64
				Kind, Dir string
				XML       string
				Transport string
			}
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatal(err)
			}
			if r.Transport != "websocket" {
				continue
			}
			wsConn = r.Conn
			if r.Kind == "conn-close" {
				closed[r.Conn] = true
			}
			if r.Dir == "s2c" && strings.Contains(r.XML, "echo: "+token) && strings.Contains(r.XML, "xmlns='jabber:client'") {
				sawEcho = true
			}
			if r.Dir == "s2c" && strings.HasPrefix(r.XML, "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'") {
				sawOpen = true
			}
		}
		if wsConn != 0 && closed[wsConn] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no closed WebSocket connection in the log:\n%s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !sawEcho || !sawOpen {
		t.Errorf("the log does not hold the frames the browser got (echo %v, open %v) for connection %s", sawEcho, sawOpen, strconv.FormatUint(wsConn, 10))
	}
}

// TestConsoleSwitch: the /console page in headless Chromium registers and logs in over
// WebSocket to the embedded switch (through the proxy, the default mode) and chats with
// a slixmpp client.
func TestConsoleSwitch(t *testing.T) {
	requireSlixmpp(t)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "session.jsonl")
	in := startStanzascope(t, true, "proxy", "--listen", "127.0.0.1:0", "--web", "127.0.0.1:0", "--ca-dir", dir+"/ca",
		"--fresh", "--log", logPath, "--format", "json")
	echoJID, exit, out := startEcho(t, in.xmpp, in.ca, "dana", webPassword, "parrot", true)
	consoleSession(t, in, logPath, "praline", webPassword, true, echoJID, exit, out, "parrot")
}

// TestConsoleProsody: the same page through the proxy to Prosody, the upstream over TCP
// with STARTTLS the proxy negotiates itself.
func TestConsoleProsody(t *testing.T) {
	requireSlixmpp(t)
	prosody, err := exec.LookPath("prosody")
	requirePeer(t, "Prosody (Debian's prosody)", err)
	pAddr, pCA := startReplayProsody(t, prosody)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "session.jsonl")
	in := startStanzascope(t, true, "proxy", "--listen", "127.0.0.1:0", "--web", "127.0.0.1:0", "--ca-dir", dir+"/ca",
		"--upstream", pAddr, "--upstream-ca", pCA, "--log", logPath, "--format", "json")
	echoJID, exit, out := startEcho(t, in.xmpp, in.ca, "dana", webPassword, "parrot", true)
	consoleSession(t, in, logPath, "praline", webPassword, true, echoJID, exit, out, "parrot")
}
