package server

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSlixmppInterop runs scripts/interop/slixmpp_client.py (slixmpp, an independent client)
// against the switch with TLS required: in-band registration, STARTTLS, SCRAM, subscription,
// chat, ping, disco and offline delivery. Without slixmpp it skips, but fails under CI.
func TestSlixmppInterop(t *testing.T) {
	requireSlixmpp(t)
	ts := startServer(t, func(c *Config) { c.RequireTLS = true })
	dir := t.TempDir()
	// startServer made the certificate in its own temp dir; write the pool's PEM for Python.
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, ts.certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(ts.addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), 70*time.Second)
	defer cancel()
	trace := filepath.Join(dir, "trace.jsonl")
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", "../../scripts/interop/slixmpp_client.py",
		"--host", host, "--port", port, "--domain", "localhost", "--user1", "praline", "--user2", "dana",
		"--password", "Norwegian Blue", "--cafile", ca, "--trace", trace)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "PASS") {
		t.Fatalf("slixmpp client failed: %v\n%s", err, out)
	}
	tr, err := os.ReadFile(trace)
	if err != nil || !strings.Contains(string(tr), `"dir": "in"`) {
		t.Errorf("trace file: %v, %.200q", err, tr)
	}
	t.Logf("%s", strings.TrimSpace(string(out[strings.LastIndex(string(out[:len(out)-1]), "\n")+1:])))
}
