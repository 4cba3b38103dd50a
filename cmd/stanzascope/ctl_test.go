package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/proxy/control"
)

const ctlToken = "ctl-test-token"

// ctl runs `stanzascope ctl` against in, with stdin as its standard input.
func ctl(t *testing.T, in *instance, stdin string, args ...string) (int, string, string) {
	t.Helper()
	ctlStdin = strings.NewReader(stdin)
	defer func() { ctlStdin = os.Stdin }()
	base := strings.TrimSuffix(strings.SplitN(in.web, "?", 2)[0], "/")
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"ctl", "--addr", base, "--token", ctlToken}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func mustCtl(t *testing.T, in *instance, stdin string, args ...string) string {
	t.Helper()
	code, out, errs := ctl(t, in, stdin, args...)
	if code != 0 {
		t.Fatalf("ctl %v: exit %d\n%s%s", args, code, out, errs)
	}
	return out
}

// TestCtl drives a proxy in front of the embedded switch with `stanzascope ctl`: a
// breakpoint holds a telnet client's message, an edit from standard input replaces it (the
// log has both), a stanza is sent to the client; errors exit 1 with the API's message.
func TestCtl(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "session.jsonl")
	in := startStanzascope(t, true, "proxy", "--listen", "127.0.0.1:0", "--web", "127.0.0.1:0", "--web-token", ctlToken,
		"--control", "--ca-dir", dir+"/ca", "--db", ":memory:", "--log", logPath, "--format", "json")
	if out := mustCtl(t, in, "", "break", "add", "name", "message", "and", "dir", "c2s"); out != "breakpoint 1: name message and dir c2s\n" {
		t.Fatalf("break add: %q", out)
	}
	code, _, errs := ctl(t, in, "", "break", "add", "name message and (")
	if code != 1 || !strings.Contains(errs, "400 Bad Request") || !strings.Contains(errs, "column") {
		t.Fatalf("a broken breakpoint: exit %d, %s", code, errs)
	}
	s := dialTelnet(t, in.xmpp)
	s.say("<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>", "<stream:stream")
	if _, err := s.c.Write([]byte("<message id='m1' to='nobody@localhost'><body>original</body></message>")); err != nil {
		t.Fatal(err)
	}
	var held string
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(held, "held 1:"); {
		if time.Now().After(deadline) {
			t.Fatalf("nothing held: %q", held)
		}
		held = mustCtl(t, in, "", "held")
	}
	if !strings.Contains(held, "connection 1 c2s, breakpoint 1 (name message and dir c2s)") || !strings.Contains(held, "<body>original</body>") {
		t.Fatalf("held: %q", held)
	}
	code, _, errs = ctl(t, in, "<message><body>broken</message>", "edit", "1")
	if code != 1 || !strings.Contains(errs, "not-well-formed") {
		t.Fatalf("a bad edit: exit %d, %s", code, errs)
	}
	mustCtl(t, in, "<message id='m1' to='nobody@localhost'><body>edited</body></message>\n", "edit", "1")
	conns := mustCtl(t, in, "", "conns")
	if !strings.Contains(conns, "ID") || !strings.Contains(conns, "ready") {
		t.Fatalf("conns: %q", conns)
	}
	mustCtl(t, in, "", "send", "1", "client", "<message id='from-ctl'><body>hello from ctl</body></message>")
	s.say("", "hello from ctl")
	code, _, errs = ctl(t, in, "", "release", "7")
	if code != 1 || !strings.Contains(errs, "404") {
		t.Fatalf("release of nothing: exit %d, %s", code, errs)
	}
	if code, _, _ := ctl(t, in, "", "frobnicate"); code != 2 {
		t.Fatalf("unknown command: exit %d", code)
	}
	mustCtl(t, in, "", "break", "clear")
	if out := mustCtl(t, in, "", "break"); out != "no breakpoints\n" {
		t.Fatalf("after clear: %q", out)
	}
	s.say("</stream:stream>", "</stream:stream>")
	in.stop()

	// The log has the received message and the edit forwarded in its place, the notes of
	// the hold and the decision with origin proxy, and the sent stanza with origin proxy.
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	var sawEdit, sawNote, sawSent bool
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r struct {
			Kind, Origin, Note, Original, Dir string
			Raw                               string `json:"xml"`
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.Contains(r.Raw, "<body>edited</body>"):
			sawEdit = strings.Contains(r.Original, "<body>original</body>")
		case strings.Contains(r.Note, "held stanza 1 edited and released by ctl"):
			sawNote = r.Origin == "proxy"
		case strings.Contains(r.Raw, "hello from ctl"):
			sawSent = r.Origin == "proxy" && r.Dir == "s2c"
		}
	}
	if !sawEdit || !sawNote || !sawSent {
		t.Fatalf("log: edit with original %v, decision note %v, sent stanza %v:\n%s", sawEdit, sawNote, sawSent, b)
	}
}

// TestCtlControlOff: without --control the API is not there, and ctl says so.
func TestCtlControlOff(t *testing.T) {
	dir := t.TempDir()
	in := startStanzascope(t, true, "proxy", "--listen", "127.0.0.1:0", "--web", "127.0.0.1:0", "--web-token", ctlToken,
		"--ca-dir", dir+"/ca", "--db", ":memory:")
	code, _, errs := ctl(t, in, "", "conns")
	if code != 1 || !strings.Contains(errs, "404") || !strings.Contains(errs, "--control") {
		t.Fatalf("ctl without --control: exit %d, %s", code, errs)
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"proxy", "--control", "--web", "off"}, &out, &errb); code != 2 {
		t.Fatalf("--control --web off: exit %d", code)
	}
}

// TestAPIDocExamples runs the curl examples of docs/API.md as written, against a proxy in
// front of the embedded switch with a client logged in (the textbook session) that sends
// four chat messages to itself once the breakpoint is set.
func TestAPIDocExamples(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		requirePeer(t, "curl", err)
	}
	doc, err := os.ReadFile("../../docs/API.md")
	if err != nil {
		t.Fatal(err)
	}
	var curls []string
	for _, l := range strings.Split(string(doc), "\n") {
		if strings.HasPrefix(l, "curl ") {
			curls = append(curls, l)
		}
	}
	if len(curls) != 11 {
		t.Fatalf("%d curl examples in docs/API.md", len(curls))
	}
	dir := t.TempDir()
	in := startStanzascope(t, true, "proxy", "--listen", "127.0.0.1:0", "--web", "127.0.0.1:0", "--web-token", ctlToken,
		"--control", "--ca-dir", dir+"/ca", "--db", ":memory:")
	base := strings.TrimSuffix(strings.SplitN(in.web, "?", 2)[0], "/")
	cl := &control.Client{Base: base, Token: ctlToken}
	s := dialTelnet(t, in.xmpp)
	s.say("<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>", "<stream:stream")
	s.say("<iq id='reg' type='set'><query xmlns='jabber:iq:register'><username>Mr_Praline</username><password>"+webPassword+
		"</password></query></iq>", "reg")
	s.say("<iq id='auth1' type='set'><query xmlns='jabber:iq:auth'><username>Mr_Praline</username><password>"+webPassword+
		"</password><resource>telnet</resource></query></iq>", "auth1")
	if _, err := io.WriteString(s.c, "<presence/>"); err != nil {
		t.Fatal(err)
	}
	for i, c := range curls {
		if strings.Contains(c, "/api/held/") {
			n := strings.SplitN(strings.SplitN(c, "/api/held/", 2)[1], "/", 2)[0]
			waitHeldID(t, cl, n)
		}
		cmd := exec.Command("sh", "-c", c)
		cmd.Env = append(os.Environ(), "TOKEN="+ctlToken, "URL="+base)
		out, err := cmd.CombinedOutput()
		if err != nil || strings.Contains(string(out), `"error"`) || !strings.HasPrefix(string(out), "{") {
			t.Fatalf("example %d: %s\n%v\n%s", i+1, c, err, out)
		}
		if strings.Contains(c, `"filter"`) {
			for k, body := range []string{"one", "two", "three", "four"} {
				io.WriteString(s.c, fmt.Sprintf("<message to='mr_praline@localhost' type='chat' id='c%d'><body>complaint %s</body></message>", k+1, body))
			}
		}
	}
	s.say("", "Hello from the proxy")
	got := s.got.String()
	for _, w := range []string{"complaint one", "It is pining for the fjords.", "No complaints today"} {
		if !strings.Contains(got, w) {
			t.Errorf("the client did not get %q:\n%s", w, got)
		}
	}
	if strings.Contains(got, "complaint two") || strings.Contains(got, "complaint three") {
		t.Errorf("the client got an edited or dropped message:\n%s", got)
	}
}

// waitHeldID waits until the held stanza id is held.
func waitHeldID(t *testing.T, cl *control.Client, id string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; {
		var ans control.HeldAnswer
		if err := cl.Do(context.Background(), "GET", "/api/held", nil, &ans); err != nil {
			t.Fatal(err)
		}
		for _, h := range ans.Held {
			if fmt.Sprint(h.ID) == id {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("held stanza %s never held: %+v", id, ans.Held)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
