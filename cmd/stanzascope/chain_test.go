package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// stuckWriter is a terminal nobody reads: Write waits until it is released.
type stuckWriter struct {
	release chan struct{}
	buf     syncBuffer
}

func (w *stuckWriter) Write(p []byte) (int, error) {
	<-w.release
	return w.buf.Write(p)
}

type logLine struct {
	Seq  uint64
	Kind string
	Name string
	Dir  string
	Note string
}

func readLogLines(t *testing.T, b []byte) []logLine {
	t.Helper()
	var out []logLine
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var l logLine
		if err := json.Unmarshal(line, &l); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		out = append(out, l)
	}
	return out
}

// TestTerminalSkipsLogDoesNot: with a terminal that does not read at all, the traffic
// through the proxy goes on; the JSON log gets every record, numbered without a hole; the
// terminal, once it reads again, shows the other records in order and a note for each
// hole that names exactly the records missing there.
func TestTerminalSkipsLogDoesNot(t *testing.T) {
	old := liveQueue
	liveQueue = 16
	defer func() { liveQueue = old }()
	dir := t.TempDir()
	logPath := filepath.Join(dir, "s.jsonl")
	term := &stuckWriter{release: make(chan struct{})}
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(term.release) }) }
	defer release()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncBuffer
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"proxy", "--listen", "127.0.0.1:0", "--ca-dir", filepath.Join(dir, "ca"),
			"--db", filepath.Join(dir, "db", "switch.db"), "--format", "json", "--log", logPath}, term, &stderr)
	}()
	addr := waitListening(t, &stderr, code)

	const n = 300
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	readUntil := func(want string, times int) {
		t.Helper()
		var got strings.Builder
		for strings.Count(got.String(), want) < times {
			b, err := br.ReadByte()
			if err != nil {
				t.Fatalf("waiting for %d × %q: %v; got %q", times, want, err, got.String())
			}
			got.WriteByte(b)
		}
	}
	io.WriteString(c, "<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")
	readUntil(">", 1)
	io.WriteString(c, "<iq id='reg' type='set'><query xmlns='jabber:iq:register'><username>u</username><password>p</password></query></iq>")
	readUntil("/>", 1)
	io.WriteString(c, "<iq id='auth' type='set'><query xmlns='jabber:iq:auth'><username>u</username><password>p</password><resource>r</resource></query></iq>")
	readUntil("/>", 1)
	var msgs strings.Builder
	for i := range n {
		fmt.Fprintf(&msgs, "<message to='u@localhost/r' id='m%d'><body>%d</body></message>", i, i)
	}
	io.WriteString(c, msgs.String())
	readUntil("</message>", n) // every message went round while the terminal read nothing
	io.WriteString(c, "</stream:stream>")
	readUntil("</stream:stream>", 1)

	release()
	cancel()
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("exit %d: %s", c, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("proxy did not stop")
	}
	logBytes, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	log := readLogLines(t, logBytes)
	messages := 0
	for i, l := range log {
		if l.Seq != uint64(i+1) {
			t.Fatalf("log line %d is #%d", i+1, l.Seq)
		}
		if l.Name == "message" {
			messages++
		}
	}
	if messages != 2*n {
		t.Fatalf("the log has %d messages, want %d", messages, 2*n)
	}
	skipNote := regexp.MustCompile(`^(\d+) records? skipped here #(\d+)(?: to #(\d+))?`)
	next, skipped := uint64(1), 0
	for _, l := range readLogLines(t, []byte(term.buf.String())) {
		if l.Kind == "note" && l.Seq == 0 {
			m := skipNote.FindStringSubmatch(l.Note)
			if m == nil {
				t.Fatalf("terminal note %q", l.Note)
			}
			k, _ := strconv.ParseUint(m[1], 10, 64)
			first, _ := strconv.ParseUint(m[2], 10, 64)
			last := first
			if m[3] != "" {
				last, _ = strconv.ParseUint(m[3], 10, 64)
			}
			if first != next || last-first+1 != k {
				t.Fatalf("terminal note %q where #%d was due", l.Note, next)
			}
			next, skipped = last+1, skipped+int(k)
			continue
		}
		if l.Seq != next {
			t.Fatalf("the terminal shows #%d where #%d was due, without a note", l.Seq, next)
		}
		next++
	}
	if next != uint64(len(log)+1) || skipped == 0 {
		t.Fatalf("the terminal accounts for %d of %d records (%d skipped)", next-1, len(log), skipped)
	}
	if want := fmt.Sprintf("the terminal skipped %d records", skipped); !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
	}
}

// waitListening returns the proxy's plaintext address once it says it listens.
func waitListening(t *testing.T, stderr *syncBuffer, code chan int) string {
	t.Helper()
	re := regexp.MustCompile(`listening on (\S+) \(plaintext`)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		if m := re.FindStringSubmatch(stderr.String()); m != nil {
			return m[1]
		}
		select {
		case c := <-code:
			t.Fatalf("proxy exited with %d: %s", c, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("no listening line: %s", stderr.String())
	return ""
}

// TestFiltersShowLogKeeps: --filter-name chooses what the terminal shows; the log is
// complete.
func TestFiltersShowLogKeeps(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "s.jsonl")
	code, out, errOut := inspectCmd(t, "inspect", textbookC2S, "--filter-name", "message", "--format", "json", "--log", logPath)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	count := func(lines []logLine, name string) (n int) {
		for _, l := range lines {
			if l.Kind == "stanza" && l.Name == name {
				n++
			}
		}
		return n
	}
	shown, logged := readLogLines(t, []byte(out)), readLogLines(t, b)
	if count(shown, "iq") != 0 || count(shown, "message") == 0 || count(logged, "iq") == 0 || count(logged, "message") != count(shown, "message") {
		t.Fatalf("terminal: %d iq, %d messages; log: %d iq, %d messages", count(shown, "iq"), count(shown, "message"), count(logged, "iq"), count(logged, "message"))
	}
}
