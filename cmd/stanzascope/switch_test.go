package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the command's goroutines and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// talk opens a pre-1.0 stream, registers and logs in, then closes; it returns what the
// switch sent.
func talk(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"+
		"<iq id='r1' type='set'><query xmlns='jabber:iq:register'><username>Mr_Praline</username><password>NorwegianBlue</password></query></iq>"+
		"<iq id='auth1' type='set'><query xmlns='jabber:iq:auth'><username>Mr_Praline</username><password>NorwegianBlue</password><resource>telnet</resource></query></iq>"+
		"</stream:stream>")
	b, err := io.ReadAll(bufio.NewReader(c))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSwitchCommand(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_DATA_HOME", dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"switch", "--listen", "127.0.0.1:0", "--format", "json", "--login-timeout", "5s"}, &stdout, &stderr)
	}()
	re := regexp.MustCompile(`on (127\.0\.0\.1:\d+) \(database (.*)\)`)
	var m []string
	for i := 0; i < 200 && m == nil; i++ {
		time.Sleep(20 * time.Millisecond)
		m = re.FindStringSubmatch(stderr.String())
	}
	if m == nil {
		t.Fatalf("the switch did not start: %s", stderr.String())
	}
	if want := filepath.Join(dir, "stanzascope", "switch.db"); m[2] != want {
		t.Errorf("database %s, want the default %s", m[2], want)
	}
	got := talk(t, m[1])
	for _, want := range []string{"<iq id='r1' type='result'/>", "<iq id='auth1' type='result'/>", "</stream:stream>"} {
		if !strings.Contains(got, want) {
			t.Errorf("switch answered %q, missing %q", got, want)
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit code %d: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("switch did not stop")
	}
	if !strings.Contains(stdout.String(), `"id":"auth1"`) {
		t.Errorf("the traffic was not shown on stdout: %q", stdout.String())
	}
	if strings.Contains(stdout.String(), "NorwegianBlue") {
		t.Errorf("the password was shown: %q", stdout.String())
	}
	st, err := os.Stat(filepath.Join(dir, "stanzascope", "switch-key.pem"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v, %v", st, err)
	}
}

func TestSwitchUsage(t *testing.T) {
	for _, args := range [][]string{
		{"switch", "--cert", "x.pem"},
		{"switch", "extra"},
		{"switch", "--login-timeout", "0s"},
		{"switch", "--max-stanza", "10"},
		{"switch", "--max-outbox", "100"},
		{"switch", "--domain", "a@b/c@"},
		{"switch", "--format", "xml"},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb); code != 2 {
			t.Errorf("%v: exit code %d, want 2 (%s)", args, code, errb.String())
		}
	}
}

func TestEmbeddedSwitch(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, wait, err := embeddedSwitch(ctx, "localhost", filepath.Join(dir, "db", "switch.db"), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("address %s", addr)
	}
	if got := talk(t, addr); !strings.Contains(got, "<iq id='auth1' type='result'/>") {
		t.Fatalf("switch answered %q", got)
	}
	for _, f := range []string{"switch-cert.pem", "switch-key.pem", "switch.db"} {
		if _, err := os.Stat(filepath.Join(dir, "db", f)); err != nil {
			t.Error(err)
		}
	}
	cancel()
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal("second wait:", err)
	}
}
