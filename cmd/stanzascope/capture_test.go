package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// streamTokens lists "dir kind name xml" for the stream events of JSON-lines output.
func streamTokens(t *testing.T, jsonl string) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(jsonl), "\n") {
		var r struct{ Kind, Dir, Name, XML string }
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		if r.Kind == "open" || r.Kind == "stanza" || r.Kind == "close" {
			out = append(out, r.Dir+" "+r.Kind+" "+r.Name+" "+r.XML)
		}
	}
	return out
}

// TestPcapOutRoundTrip proxies a session through the embedded switch with --pcap-out,
// then reads the capture back with 'inspect' (every stanza, byte for byte, in order) and
// with tshark's XMPP dissector (every stanza found).
func TestPcapOutRoundTrip(t *testing.T) {
	dir := t.TempDir()
	pcap := filepath.Join(dir, "out.pcap")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	stdout := &syncBuffer{}
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"--listen", "127.0.0.1:0", "--ca-dir", dir + "/ca", "--db", dir + "/db/switch.db",
			"--format", "json", "--show-secrets", "--pcap-out", pcap}, stdout, pw)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	re := regexp.MustCompile(`listening on (\S+) \(plaintext`)
	var addr string
	for lines.Scan() {
		if m := re.FindStringSubmatch(lines.Text()); m != nil {
			addr = m[1]
			break
		}
	}
	if addr == "" {
		t.Fatal("no listening line")
	}
	go io.Copy(io.Discard, pr)
	got := talk(t, addr)
	if !strings.Contains(got, "auth1") {
		t.Fatalf("session failed: %q", got)
	}
	// The session is over when the client has read to the end; wait until its last record
	// is logged, so that the capture holds the whole session when the proxy stops.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(stdout.String(), `"kind":"conn-close"`); {
		if time.Now().After(deadline) {
			t.Fatalf("the session's end was not logged:\n%s", stdout.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	defer func() {
		if t.Failed() {
			b, _ := exec.Command("tshark", "-r", pcap, "-V", "-O", "xmpp").CombinedOutput()
			t.Logf("%s", b)
		}
	}()
	cancel()
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("proxy exit %d", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("proxy did not stop")
	}
	if st, err := os.Stat(pcap); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("capture file: %v %v", st, err)
	}
	proxied := streamTokens(t, stdout.String())
	if len(proxied) < 6 {
		t.Fatalf("proxy logged %d stream events", len(proxied))
	}

	var out, errb strings.Builder
	if c := run(context.Background(), []string{"inspect", pcap, "--format", "json", "--show-secrets"}, &out, &errb); c != 0 {
		t.Fatalf("inspect exit %d: %s", c, errb.String())
	}
	if back := streamTokens(t, out.String()); !slices.Equal(back, proxied) {
		t.Fatalf("inspect of the capture:\n%s\nproxy log:\n%s", strings.Join(back, "\n"), strings.Join(proxied, "\n"))
	}

	bin, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tshark is not installed (Debian package tshark); CI requires it")
		}
		t.Skip("tshark not installed")
	}
	// The server port is not 5222: tell tshark it is XMPP.
	m := regexp.MustCompile(`"server":"[^"]*:(\d+)"`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatal("no server address in the conn-open record")
	}
	port := m[1]
	th, err := exec.Command(bin, "-r", pcap, "-d", "tcp.port=="+port+",xmpp", "-Y", "xmpp", "-T", "fields", "-e", "_ws.col.Info").Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	info := strings.ToLower(string(th))
	var stanzas int
	for _, p := range proxied {
		if strings.Contains(p, " stanza ") {
			stanzas++
			name := strings.Fields(p)[2]
			if !strings.Contains(info, name) {
				t.Errorf("tshark does not show %s:\n%s", name, th)
			}
		}
	}
	if n := strings.Count(info, "iq("); n < stanzas {
		t.Errorf("tshark shows %d iq stanzas, the session had %d:\n%s", n, stanzas, th)
	}
}
