package main

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestProxiesMerge runs two proxies with --node in front of one switch, a client through
// each; their JSON logs name the node of every connection, and `inspect p1.jsonl
// p2.jsonl` shows both in the order of their times.
func TestProxiesMerge(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_DATA_HOME", dir)
	sw := runCommand(t, regexp.MustCompile(`on (127\.0\.0\.1:\d+) \(database`), "switch", "--listen", "127.0.0.1:0", "--fresh", "--web", "off", "--format", "json")
	proxyAt := func(node string) (addr, log string) {
		log = filepath.Join(dir, node+".jsonl")
		m := runCommand(t, regexp.MustCompile(`listening on (\S+) \(plaintext`), "proxy", "--listen", "127.0.0.1:0",
			"--upstream", sw[1], "--upstream-insecure", "--ca-dir", filepath.Join(dir, "ca"), "--node", node,
			"--log", log, "--format", "json", "--web", "off")
		return m[1], log
	}
	a1, log1 := proxyAt("p1")
	a2, log2 := proxyAt("p2")
	login := func(addr, user string) *lineClient {
		c := legacyClient(t, addr)
		c.do("<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>", "<stream:stream")
		c.do("<iq type='set' id='reg'><query xmlns='jabber:iq:register'><username>"+user+"</username><password>pw</password></query></iq>", "id='reg' type='result'")
		c.do("<iq type='set' id='auth'><query xmlns='jabber:iq:auth'><username>"+user+"</username><password>pw</password><resource>r</resource></query></iq>", "id='auth' type='result'")
		return c
	}
	bob := login(a2, "bob")
	alice := login(a1, "alice")
	alice.do("<message to='bob@localhost/r' type='chat'><body>through two proxies</body></message>", "")
	bob.do("", "through two proxies")
	for _, l := range []string{log1, log2} {
		waitUntilFile(t, l, "through two proxies")
	}

	var stdout, stderr strings.Builder
	if code := run(t.Context(), []string{"inspect", log1, log2, "--format", "json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("inspect exited %d: %s", code, stderr.String())
	}
	var last time.Time
	nodes := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var r struct {
			Time string `json:"time"`
			Node string `json:"node"`
			Conn uint64 `json:"conn"`
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if r.Conn != 0 {
			nodes[r.Node]++
		}
		if r.Time == "" {
			continue
		}
		tm, err := time.Parse(time.RFC3339Nano, r.Time)
		if err != nil {
			t.Fatal(err)
		}
		if tm.Before(last) {
			t.Errorf("out of time order: %s after %s", line, last.Format(time.RFC3339Nano))
		}
		last = tm
	}
	if nodes["p1"] == 0 || nodes["p2"] == 0 || nodes[""] != 0 {
		t.Errorf("records by node: %v, want p1 and p2 and none without", nodes)
	}
	// Only JSON logs merge.
	other := filepath.Join(dir, "stream.xml")
	os.WriteFile(other, []byte("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"), 0o600)
	stderr.Reset()
	if code := run(t.Context(), []string{"inspect", log1, other}, io.Discard, &stderr); code == 0 || !strings.Contains(stderr.String(), "only JSON logs can be merged") {
		t.Errorf("merging a raw stream: exit %d, %s", code, stderr.String())
	}
}

// waitUntilFile waits until the file holds s (the log is written when its queue runs empty).
func waitUntilFile(t *testing.T, name, s string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		b, _ := os.ReadFile(name)
		if strings.Contains(string(b), s) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never held %q", name, s)
		}
	}
}
