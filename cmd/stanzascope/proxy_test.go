package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestProxyUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"proxy", "--upstream", "x:5222", "--upstream-insecure", "--upstream-ca", "f"},
		{"proxy", "--upstream", "x:5222", "--domain", "example.org"},
		{"proxy", "--upstream-insecure"},
		{"proxy", "--allow-plaintext-upstream"},
		{"proxy", "--write-timeout", "0s"},
		{"proxy", "--setup-timeout", "-1s"},
		{"proxy", "--max-stanza", "10"},
		{"proxy", "--format", "xml"},
		{"proxy", "stray"},
		{"proxy", "--upstream", "x:5222", "--fresh"},
		{"proxy", "--fresh", "--db", "some.db"},
		{"switch", "--fresh", "--db", "some.db"},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errb.String())
		}
	}
}

func TestProxyBadRulesFile(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"proxy", "--listen", "127.0.0.1:0", "--ca-dir", dir, "--upstream", "127.0.0.1:1", "--rules", dir + "/missing.yaml"}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "missing.yaml") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
}

// TestProxyCommandDefault runs the proxy in front of the embedded switch, as
// 'stanzascope' with no command does (but on a free loopback port), connects a client,
// and stops it with the context, as SIGINT does.
func TestProxyCommandDefault(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var stdout bytes.Buffer
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"--listen", "127.0.0.1:0", "--ca-dir", dir + "/ca", "--db", dir + "/db/switch.db", "--format", "json"}, &stdout, pw)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	re := regexp.MustCompile(`listening on (\S+) \(plaintext`)
	var addr string
	var stderr strings.Builder
	for lines.Scan() {
		stderr.WriteString(lines.Text() + "\n")
		if m := re.FindStringSubmatch(lines.Text()); m != nil {
			addr = m[1]
			break
		}
	}
	if addr == "" {
		t.Fatalf("no listening line:\n%s", stderr.String())
	}
	go io.Copy(io.Discard, pr)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got strings.Builder
	b := make([]byte, 4096)
	for !strings.Contains(got.String(), "</stream:features>") {
		n, err := c.Read(b)
		got.Write(b[:n])
		if err != nil {
			t.Fatalf("%v; got %q", err, got.String())
		}
	}
	if !strings.Contains(got.String(), "urn:ietf:params:xml:ns:xmpp-tls") {
		t.Fatalf("features without STARTTLS: %q", got.String())
	}
	cancel() // the shutdown closes the open stream
	rest, _ := io.ReadAll(c)
	if string(rest) != "</stream:stream>" {
		t.Errorf("at shutdown the client got %q", rest)
	}
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("exit %d", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("proxy did not stop")
	}
	if !strings.Contains(stdout.String(), `"features"`) || !strings.Contains(stdout.String(), `conn-close`) {
		t.Fatalf("JSON output lacks the features or conn-close:\n%s", stdout.String())
	}
}

// TestProxyWarnings: the flags that weaken the upstream leg are printed as warnings at
// start, before the listening line.
func TestProxyWarnings(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"proxy", "--listen", "127.0.0.1:0", "--ca-dir", dir, "--upstream", "127.0.0.1:1",
			"--upstream-insecure", "--allow-plaintext-upstream", "--format", "json"}, io.Discard, pw)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	var stderr strings.Builder
	for lines.Scan() {
		stderr.WriteString(lines.Text() + "\n")
		if strings.Contains(lines.Text(), "listening on") {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	cancel()
	<-code
	for _, want := range []string{"WARNING: --upstream-insecure", "WARNING: --allow-plaintext-upstream", "tagged plaintext-upstream"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}
