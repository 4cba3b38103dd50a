package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// tutorialLine is one C or S line of the README's tutorial: what window Window sends
// (Send) or receives.
type tutorialLine struct {
	Send   bool
	Window int
	Text   string
	Line   int // in README.md
}

var tutorialLineRE = regexp.MustCompile(`^\s*([CS])([12]): (.*)$`)

// readTutorial returns the C and S lines of README.md's tutorial section, in order.
func readTutorial(t *testing.T) []tutorialLine {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var lines []tutorialLine
	in := false
	for i, l := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(l, "## ") {
			in = strings.HasPrefix(l, "## Tutorial")
			continue
		}
		if !in {
			continue
		}
		m := tutorialLineRE.FindStringSubmatch(l)
		if m == nil {
			if strings.Contains(l, "C1:") || strings.Contains(l, "S1:") || strings.Contains(l, "C2:") || strings.Contains(l, "S2:") {
				if strings.HasPrefix(strings.TrimSpace(l), "C") || strings.HasPrefix(strings.TrimSpace(l), "S") {
					t.Errorf("README.md:%d looks like a tutorial line but is not one: %q", i+1, l)
				}
			}
			continue
		}
		lines = append(lines, tutorialLine{Send: m[1] == "C", Window: int(m[2][0] - '0'), Text: m[3], Line: i + 1})
	}
	if len(lines) < 20 {
		t.Fatalf("README.md's tutorial has only %d C/S lines", len(lines))
	}
	return lines
}

// tutorialPattern turns an S line into a regular expression: "…" stands for what differs
// from run to run (stream ids, push ids, time stamps), never a quote or a tag.
func tutorialPattern(s string) *regexp.Regexp {
	parts := strings.Split(s, "…")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile(`^\s*` + strings.Join(parts, `[^'"<>]+`))
}

// window is one telnet window of the tutorial: a connection and everything it received.
type window struct {
	conn net.Conn
	mu   sync.Mutex
	buf  []byte
	eof  bool
	cond *sync.Cond
}

func dialWindow(t *testing.T, addr string) *window {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	w := &window{conn: c}
	w.cond = sync.NewCond(&w.mu)
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := c.Read(b)
			w.mu.Lock()
			w.buf = append(w.buf, b[:n]...)
			if err != nil {
				w.eof = true
			}
			w.cond.Broadcast()
			w.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return w
}

// expect waits until what the window received starts with a match of re and consumes it.
func (w *window) expect(re *regexp.Regexp, deadline time.Time) (string, error) {
	timer := time.AfterFunc(time.Until(deadline), func() {
		w.mu.Lock()
		w.cond.Broadcast()
		w.mu.Unlock()
	})
	defer timer.Stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		if loc := re.FindIndex(w.buf); loc != nil {
			got := string(w.buf[:loc[1]])
			w.buf = w.buf[loc[1]:]
			return got, nil
		}
		if w.eof || time.Now().After(deadline) {
			return "", errors.New("not received")
		}
		w.cond.Wait()
	}
}

// rest waits for the end of the connection and returns what was left unread.
func (w *window) rest(deadline time.Time) (string, bool) {
	timer := time.AfterFunc(time.Until(deadline), func() {
		w.mu.Lock()
		w.cond.Broadcast()
		w.mu.Unlock()
	})
	defer timer.Stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	for !w.eof && time.Now().Before(deadline) {
		w.cond.Wait()
	}
	return string(w.buf), w.eof
}

// startDefault runs stanzascope's default mode (the proxy in front of the embedded
// switch) in-process with args added, and returns the client address, what it prints
// on stdout and stderr so far, and a stop function that returns its exit code.
func startDefault(t *testing.T, args ...string) (addr string, stdout *syncBuffer, stderr *syncBuffer, stop func() int) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("XDG_DATA_HOME", dir+"/data") // --fresh keeps the switch's certificate there
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	stdout, stderr = &syncBuffer{}, &syncBuffer{}
	code := make(chan int, 1)
	all := append([]string{"--listen", "127.0.0.1:0", "--ca-dir", dir + "/ca"}, args...)
	go func() {
		code <- run(ctx, all, stdout, pw)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	re := regexp.MustCompile(`listening on (\S+) \(plaintext`)
	for lines.Scan() {
		stderr.Write([]byte(lines.Text() + "\n"))
		if m := re.FindStringSubmatch(lines.Text()); m != nil {
			addr = m[1]
			break
		}
	}
	if addr == "" {
		cancel()
		t.Fatalf("no listening line:\n%s", stderr.String())
	}
	go io.Copy(stderr, pr)
	stopped := false
	var exit int
	stop = func() int {
		if !stopped {
			stopped = true
			cancel()
			select {
			case exit = <-code:
			case <-time.After(20 * time.Second):
				t.Fatal("stanzascope did not stop")
			}
		}
		return exit
	}
	t.Cleanup(func() { stop() })
	return addr, stdout, stderr, stop
}

// TestREADMETutorial replays the tutorial of README.md, line by line as a person pastes
// them into two telnet windows, against the default mode started as the tutorial says
// (--fresh): each window must receive exactly the S lines shown, in order, and nothing
// else, so that the README and the program cannot drift apart.
func TestREADMETutorial(t *testing.T) {
	lines := readTutorial(t)
	addr, stdout, stderr, stop := startDefault(t, "--fresh", "--explain", "--color", "never", "--web", "off")
	var windows [3]*window
	closed := [3]bool{}
	syncs := 0
	for i := 0; i < len(lines); {
		l := lines[i]
		if !l.Send {
			t.Fatalf("README.md:%d: an S line that no C line comes before: %s", l.Line, l.Text)
		}
		w := windows[l.Window]
		if w == nil || closed[l.Window] {
			// A new telnet in this window (the first, or after hanging up).
			w = dialWindow(t, addr)
			defer w.conn.Close()
			windows[l.Window], closed[l.Window] = w, false
		}
		// telnet sends the line with CR LF.
		if _, err := io.WriteString(w.conn, l.Text+"\r\n"); err != nil {
			t.Fatalf("README.md:%d: sending: %v", l.Line, err)
		}
		i++
		if i < len(lines) && lines[i].Send {
			// No S line follows: a person pastes the next line seconds later, by which
			// time the switch has handled this one. A test types at once, so it waits
			// for the switch's answer to an iq sent behind the line on the same stream
			// (the switch handles a stream's stanzas in order). Without the wait, dana's
			// initial presence could cross Mr_Praline's subscription request, and the
			// switch, which prefers a duplicate request to a lost one (pairtx.go),
			// would give her the request twice.
			syncs++
			id := fmt.Sprintf("tutorial-sync-%d", syncs)
			if _, err := io.WriteString(w.conn, "<iq type='get' id='"+id+"'><ping xmlns='urn:xmpp:ping'/></iq>\r\n"); err != nil {
				t.Fatalf("README.md:%d: sending the barrier: %v", l.Line, err)
			}
			if _, err := w.expect(regexp.MustCompile(`^\s*<iq [^>]*id='`+id+`'(?s:[^>]*/>|.*?</iq>)`), time.Now().Add(10*time.Second)); err != nil {
				rest, _ := w.rest(time.Now())
				t.Fatalf("README.md:%d: window %d: no answer to the barrier %s after the line; it received %q", l.Line, l.Window, id, rest)
			}
		}
		for ; i < len(lines) && !lines[i].Send; i++ {
			s := lines[i]
			sw := windows[s.Window]
			if sw == nil {
				t.Fatalf("README.md:%d: window %d is not open", s.Line, s.Window)
			}
			if _, err := sw.expect(tutorialPattern(s.Text), time.Now().Add(10*time.Second)); err != nil {
				rest, _ := sw.rest(time.Now())
				t.Fatalf("README.md:%d: window %d did not receive\n  %s\nit received instead\n  %q", s.Line, s.Window, s.Text, rest)
			}
			if s.Text == "</stream:stream>" {
				// The server closes the connection after its closing tag: nothing may follow.
				if rest, eof := sw.rest(time.Now().Add(10 * time.Second)); !eof || strings.TrimSpace(rest) != "" {
					t.Fatalf("README.md:%d: after its closing tag window %d received %q (connection closed: %v)", s.Line, s.Window, rest, eof)
				}
				closed[s.Window] = true
			}
		}
	}
	for n, w := range windows {
		if w != nil && !closed[n] {
			t.Errorf("window %d is still open at the end of the tutorial", n)
		}
	}
	if code := stop(); code != 0 {
		t.Errorf("stanzascope exited with %d", code)
	}
	// --fresh keeps nothing: no database file in the data directory or here.
	for _, path := range []string{os.Getenv("XDG_DATA_HOME") + "/stanzascope/switch.db", memoryDB} {
		if _, err := os.Stat(path); err == nil {
			t.Errorf("--fresh left a database file %s", path)
		}
	}
	out := stdout.String()
	// The display shows the session, explained, and never a password.
	for _, want := range []string{"Legacy login", "Registration done", "Legacy login done: the server accepted the credentials and bound the resource in one step: this connection is now mr_praline@localhost/telnet",
		"Roster push: an iq set from the server", "Subscription approval", "delivered late"} {
		if !strings.Contains(out, want) {
			t.Errorf("the display lacks %q", want)
		}
	}
	// What the switch reports is part of the display, on the connection it is about, and
	// never a stray stderr line.
	for _, want := range []string{
		" #1 note switch: registered mr_praline@localhost\n",
		" #1 note switch: bound mr_praline@localhost/telnet\n",
		" #2 note switch: registered dana@localhost\n",
		" #2 note switch: bound dana@localhost/Home\n",
		" #3 note switch: bound dana@localhost/Home\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the display lacks %q", want)
		}
	}
	if e := stderr.String(); strings.Contains(e, "switch:") || strings.Contains(e, "proxy: connection") {
		t.Errorf("reports on stderr instead of the display:\n%s", e)
	}
	for _, secret := range []string{"parrot</password>", "blue</password>"} {
		if strings.Contains(out, secret) {
			t.Errorf("the display shows a password: %q", secret)
		}
	}
}
