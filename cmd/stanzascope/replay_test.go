package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const replayFixture = "internal/replay/testdata/slixmpp-switch.jsonl"

func TestReplayUsage(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "pw")
	must(t, os.WriteFile(pwFile, []byte("from-file\n"), 0o600))
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no log", []string{"replay"}, 2, "one log file"},
		{"two logs", []string{"replay", "a", "b"}, 2, "one log file"},
		{"bad speed", []string{"replay", replayFixture, "--speed", "fast"}, 2, "--speed must be"},
		{"negative speed", []string{"replay", replayFixture, "--speed", "-1"}, 2, "--speed must be"},
		{"bad format", []string{"replay", replayFixture, "--format", "xml"}, 2, "--format"},
		{"target without password", []string{"replay", replayFixture, "--target", "127.0.0.1:1"}, 2, "password is needed"},
		{"target not host:port", []string{"replay", replayFixture, "--target", "localhost", "--password", "x"}, 2, "HOST:PORT"},
		{"ca and insecure", []string{"replay", replayFixture, "--target", "127.0.0.1:1", "--password", "x", "--insecure", "--ca", "f"}, 2, "not both"},
		{"insecure without target", []string{"replay", replayFixture, "--insecure"}, 2, "for --target"},
		{"password twice", []string{"replay", replayFixture, "--password", "x", "--password-file", pwFile}, 2, "not both"},
		{"user with domain", []string{"replay", replayFixture, "--user", "a@b"}, 2, "localpart"},
		{"bad sasl", []string{"replay", replayFixture, "--sasl", "DIGEST-MD5"}, 2, "--sasl"},
		{"no such connection", []string{"replay", replayFixture, "--conn", "9"}, 2, "conn 9: no such connection in the log; the log's connections:\n  (none)"},
		{"missing file", []string{"replay", "does-not-exist.jsonl"}, 1, "does-not-exist.jsonl"},
		{"not a log", []string{"replay", "replay.go"}, 1, "json log line 1"},
		{"nothing listens", []string{"replay", replayFixture, "--target", "127.0.0.1:1", "--password-file", pwFile, "--timeout", "1s"}, 1, "connect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tt.args, &out, &errb)
			if code != tt.code || !strings.Contains(errb.String(), tt.want) {
				t.Errorf("exit %d, want %d; stderr %q lacks %q", code, tt.code, errb.String(), tt.want)
			}
		})
	}
}

func TestReplayList(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"replay", replayFixture, "--list"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.HasPrefix(out.String(), "conn 1  alice@localhost/rec  14 client stanzas  from 127.0.0.1:") {
		t.Fatalf("list: %q", out.String())
	}
}

// TestReplayEmbedded replays the recorded slixmpp session against the default server, a
// fresh embedded switch: no differences, exit 0; as JSON for a program.
func TestReplayEmbedded(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"replay", replayFixture, "--speed", "max", "--format", "json", "--user", "zoe"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, errb.String(), out.String())
	}
	var rep struct {
		JID         string `json:"jid"`
		Differences int    `json:"differences"`
		Sent        int    `json:"sent"`
		Target      string `json:"target"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if rep.JID != "zoe@localhost/rec" || rep.Differences != 0 || rep.Sent != 11 || !strings.HasPrefix(rep.Target, "a fresh embedded switch (localhost, in memory") {
		t.Fatalf("report %+v", rep)
	}
}

// TestReplaySlixmppSession is issue 16's test of the replay with real peers: a slixmpp
// client (register, login, roster, presence, messages, a ping, an iq that errors) is
// recorded through `stanzascope proxy --log` in front of the embedded switch; the
// recording is replayed against a fresh switch (no differences, exit 0) and against
// Prosody (the differences listed, exit 1, nothing crashes).
func TestReplaySlixmppSession(t *testing.T) {
	requireSlixmpp(t)
	prosody, err := exec.LookPath("prosody")
	if err == nil {
		_, err = exec.LookPath("prosodyctl")
	}
	requirePeer(t, "Prosody (Debian's prosody)", err)

	dir := t.TempDir()
	logPath := filepath.Join(dir, "session.jsonl")
	caDir := filepath.Join(dir, "proxy-ca")
	addr, _, stderr, stop := startDefault(t, "--fresh", "--web", "off", "--format", "json", "--log", logPath, "--ca-dir", caDir)
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, "internal/replay/testdata/record_session.py", "--host", host, "--port", port,
		"--jid", "rita@localhost/rec", "--password", "recorded-secret", "--cafile", filepath.Join(caDir, "stanzascope-ca.pem")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "DONE") {
		t.Fatalf("slixmpp: %v\n%s\nproxy:\n%s", err, out, stderr.String())
	}
	if code := stop(); code != 0 {
		t.Fatalf("proxy exit %d:\n%s", code, stderr.String())
	}
	logged, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(logged, []byte("recorded-secret")) {
		t.Fatal("the log holds the password")
	}

	// Against a fresh switch: as recorded.
	var sw, swErr bytes.Buffer
	code := run(ctx, []string{"replay", logPath, "--password", "another-secret"}, &sw, &swErr)
	t.Logf("replay against the switch:\n%s%s", sw.String(), swErr.String())
	if code != 0 || !strings.Contains(sw.String(), "no differences: 11 client stanzas sent") {
		t.Fatalf("replay against a fresh switch: exit %d", code)
	}
	// An answer to a request is listed first after its request; the other stanzas after
	// the client stanza they were recorded after, which depends on how the proxy's two
	// directions interleaved in the recording.
	for _, want := range []string{
		"iq set (query jabber:iq:register)  → iq result",
		"message chat to rita@localhost/rec  → ",
		"message chat to nobody-here@localhost",
		"message error (service-unavailable)",
		"iq get (ping urn:xmpp:ping) to localhost  → iq result",
		"iq get (time urn:xmpp:time) to localhost  → iq error (service-unavailable)",
		"stream close",
	} {
		if !strings.Contains(sw.String(), want) {
			t.Errorf("switch replay lacks %q", want)
		}
	}

	// Against Prosody, which answers XEP-0202 time: listed, exit 1.
	pAddr, pCA := startReplayProsody(t, prosody)
	var pr, prErr bytes.Buffer
	code = run(ctx, []string{"replay", logPath, "--target", pAddr, "--ca", pCA, "--password", "another-secret", "--speed", "max"}, &pr, &prErr)
	t.Logf("replay against Prosody:\n%s%s", pr.String(), prErr.String())
	if code != 1 || prErr.Len() > 0 {
		t.Fatalf("replay against Prosody: exit %d, want 1 (differences) with nothing on stderr", code)
	}
	for _, want := range []string{
		"TLS: TLS 1.3, certificate verified",
		"≠ #",
		"iq get (time urn:xmpp:time) to localhost\n           answer recorded iq error (service-unavailable) (#",
		"replayed iq result (time urn:xmpp:time): type: error → result",
		"</stream:stream>  → stream close",
		"differences: 1 of 11 client stanzas (11 sent)",
	} {
		if !strings.Contains(pr.String(), want) {
			t.Errorf("Prosody replay lacks %q", want)
		}
	}
}

// startReplayProsody runs Debian's Prosody with the proxy tests' configuration
// (testdata/prosody, TLS required, in-band registration open) on a loopback port, and
// returns its address and the CA file that verifies its certificate.
func startReplayProsody(t *testing.T, prosody string) (addr, caFile string) {
	t.Helper()
	dir := t.TempDir()
	must(t, os.Mkdir(filepath.Join(dir, "data"), 0o700))
	certPEM, keyPEM := serverCert(t, dir)
	must(t, os.WriteFile(filepath.Join(dir, "localhost.crt"), certPEM, 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "localhost.key"), keyPEM, 0o600))
	addr = freeLoopbackPort(t)
	_, port, _ := net.SplitHostPort(addr)
	tmpl, err := os.ReadFile("../../testdata/prosody/prosody.cfg.lua")
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.NewReplacer("@DIR@", dir, "@PORT@", port, "@REQUIRE@", "true").Replace(string(tmpl))
	cfgPath := filepath.Join(dir, "prosody.cfg.lua")
	must(t, os.WriteFile(cfgPath, []byte(cfg), 0o644))
	cmd := exec.Command(prosody, "--config", cfgPath, "-F")
	logOut, err := os.Create(filepath.Join(dir, "out.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logOut.Close() })
	cmd.Stdout, cmd.Stderr = logOut, logOut
	exited := startProcess(t, cmd)
	waitAccepting(t, addr, exited, "prosody", filepath.Join(dir, "prosody.log"))
	return addr, filepath.Join(dir, "server-ca", "stanzascope-ca.pem")
}
