package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const textbookC2S = "../../inspect/testdata/textbook-c2s.xml"

func inspectCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestInspectJSON(t *testing.T) {
	code, out, errOut := inspectCmd(t, "inspect", textbookC2S, "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	stanzas := 0
	for i, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %d is not JSON: %v", i+1, err)
		}
		if m["dir"] != "c2s" {
			t.Fatalf("line %d: dir %v (a header without id is the client's)", i+1, m["dir"])
		}
		if m["kind"] == "stanza" {
			stanzas++
		}
	}
	if stanzas != 6 {
		t.Errorf("%d stanzas, want 6", stanzas)
	}
	if strings.Contains(out, "polly") {
		t.Error("password not redacted")
	}
	if !strings.Contains(errOut, "inspect: 16 records, 6 stanzas, 0 errors") {
		t.Errorf("summary: %q", errOut)
	}
}

func TestInspectFormats(t *testing.T) {
	input, err := os.ReadFile(textbookC2S)
	if err != nil {
		t.Fatal(err)
	}
	code, out, _ := inspectCmd(t, "inspect", textbookC2S, "--format", "raw", "--show-secrets")
	if code != 0 || out != string(input) {
		t.Fatalf("raw: exit %d, output differs from the input:\n%s", code, out)
	}
	code, out, _ = inspectCmd(t, "inspect", textbookC2S, "--format", "raw")
	if code != 0 || strings.Contains(out, "polly") || out != strings.ReplaceAll(string(input), ">polly<", ">[redacted]<") {
		t.Fatalf("raw without --show-secrets: exit %d, not the input with the password redacted:\n%s", code, out)
	}
	code, out, _ = inspectCmd(t, "inspect", textbookC2S, "--explain", "--show-secrets", "--color", "never")
	if code != 0 || !strings.Contains(out, "# Legacy login") || !strings.Contains(out, "<password>polly</password>") || strings.Contains(out, "\x1b[") {
		t.Fatalf("pretty: exit %d:\n%s", code, out)
	}
	code, out, _ = inspectCmd(t, "inspect", textbookC2S, "--color", "always", "--filter-name", "message")
	if code != 0 || !strings.Contains(out, "\x1b[") || strings.Contains(out, "<iq") || !strings.Contains(out, "parrot") {
		t.Fatalf("filtered colour: exit %d:\n%s", code, out)
	}
	code, out, _ = inspectCmd(t, "inspect", "../../inspect/testdata/textbook-s2c.xml", "--filter-jid", "dana@localhost", "--format", "json")
	if code != 0 || strings.Count(out, `"kind":"stanza"`) != 2 || !strings.Contains(out, `"dir":"s2c"`) {
		t.Fatalf("jid filter: exit %d:\n%s", code, out)
	}
}

// TestInspectLogRoundTrip: --log writes a JSON log (mode 0600) that inspect shows again.
func TestInspectLogRoundTrip(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "session.jsonl")
	if code, _, e := inspectCmd(t, "inspect", textbookC2S, "--log", logPath, "--show-secrets"); code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	fi, err := os.Stat(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("log mode %v, want 0600", fi.Mode().Perm())
	}
	input, _ := os.ReadFile(textbookC2S)
	code, out, e := inspectCmd(t, "inspect", logPath, "--format", "raw", "--show-secrets")
	if code != 0 || out != string(input) {
		t.Fatalf("raw from the log: exit %d (%s):\n%s", code, e, out)
	}
	// The log holds requests without their answers, written without iq tracking (one
	// direction): reading it back derives nothing the log does not hold.
	code, out, _ = inspectCmd(t, "inspect", logPath, "--format", "json")
	if code != 0 || strings.Contains(out, "was never answered") {
		t.Fatalf("json from the log: exit %d:\n%s", code, out)
	}
}

func TestInspectStdin(t *testing.T) {
	old := stdin
	defer func() { stdin = old }()
	stdin = strings.NewReader("<message to='a@b' type='chat'><body>hi</body></message>\n")
	code, out, e := inspectCmd(t, "inspect", "-", "--format", "json", "--dir", "s2c")
	if code != 0 || !strings.Contains(out, `"dir":"s2c","kind":"stanza","name":"message"`) {
		t.Fatalf("exit %d (%s):\n%s", code, e, out)
	}
}

func TestInspectErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.xml")
	os.WriteFile(bad, []byte("<stream:stream xmlns:stream='http://etherx.jabber.org/streams'><!-- no --></stream:stream>"), 0o644)
	badLog := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(badLog, []byte("{\"kind\":\"note\"}\n{\"kind\":\"nope\"}\n"), 0o644)
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"missing file", []string{"inspect", filepath.Join(dir, "none.xml")}, 1, "cannot read input"},
		{"restricted xml", []string{"inspect", bad, "--format", "json"}, 1, "restricted-xml"},
		{"bad log line", []string{"inspect", badLog}, 1, "line 2"},
		{"no input", []string{"inspect"}, 2, "give one FILE"},
		{"two inputs are merged: each must exist", []string{"inspect", "a", "b"}, 1, "cannot read input"},
		{"file and iface", []string{"inspect", "a", "--iface", "lo"}, 2, "not both"},
		{"bad format", []string{"inspect", textbookC2S, "--format", "xml"}, 2, "--format"},
		{"bad color", []string{"inspect", textbookC2S, "--color", "sometimes"}, 2, "--color"},
		{"bad jid", []string{"inspect", textbookC2S, "--filter-jid", "a@b@c"}, 2, "--filter-jid"},
		{"bad port", []string{"inspect", textbookC2S, "--port", "0"}, 2, "--port"},
		{"bad dir", []string{"inspect", textbookC2S, "--dir", "up"}, 2, "--dir"},
		{"unknown flag", []string{"inspect", textbookC2S, "--frob"}, 2, "frob"},
		{"no pcap-out on inspect", []string{"inspect", textbookC2S, "--pcap-out", "x.pcap"}, 2, "pcap-out"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, e := inspectCmd(t, tc.args...)
			if code != tc.code || !strings.Contains(e, tc.msg) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, e, tc.code, tc.msg)
			}
		})
	}
	code, out, _ := inspectCmd(t, "inspect", bad, "--format", "json")
	if code != 1 || !strings.Contains(out, `"kind":"error"`) || !strings.Contains(out, `"condition":"restricted-xml"`) {
		t.Fatalf("the error is also a record: %s", out)
	}
}

// textbookPcap is a real capture of the textbook session against Prosody.
const textbookPcap = "../../testdata/captures/c2s-textbook.pcap"

func TestInspectCapture(t *testing.T) {
	code, out, e := inspectCmd(t, "inspect", textbookPcap, "--format", "json")
	if readCaptureFile == nil {
		if code != 1 || !strings.Contains(e, "not available in this build") {
			t.Fatalf("exit %d, stderr %q", code, e)
		}
		return
	}
	if code != 0 {
		t.Fatalf("exit %d (%s):\n%.500s", code, e, out)
	}
	// 6 TCP connections; the password (NorwegianBlue) stays redacted.
	if n := strings.Count(out, `"kind":"conn-open"`); n != 6 {
		t.Errorf("%d connections, want 6:\n%.500s", n, out)
	}
	if !strings.Contains(out, `"kind":"stanza","name":"message"`) || strings.Contains(out, "NorwegianBlue") {
		t.Errorf("no message, or the password shown:\n%.500s", out)
	}
}

func TestInspectHelp(t *testing.T) {
	code, _, e := inspectCmd(t, "inspect", "--help")
	if code != 0 || !strings.Contains(e, "--format") || !strings.Contains(e, "--filter-jid") {
		t.Fatalf("exit %d: %s", code, e)
	}
}

// TestInspectStdinCancel: Ctrl-C ends inspect while standard input is silent, after the
// records read so far are shown.
func TestInspectStdinCancel(t *testing.T) {
	old := stdin
	pr, pw := io.Pipe()
	defer func() { stdin = old; pw.Close() }()
	stdin = pr
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"inspect", "-", "--format", "json"}, &out, &errb) }()
	if _, err := pw.Write([]byte("<presence/>")); err != nil {
		t.Fatal(err)
	}
	// Cancel once the presence is shown: standard input then stays silent.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), `"name":"presence"`) {
		if time.Now().After(deadline) {
			t.Fatalf("the presence was not shown: stdout %q, stderr %q", out.String(), errb.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 || !strings.Contains(errb.String(), "inspect: 1 records, 1 stanzas") {
			t.Fatalf("exit %d, stderr %q, stdout %q", code, errb.String(), out.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("inspect did not stop on cancellation")
	}
}

func TestInspectLiveUnavailable(t *testing.T) {
	if readLive != nil {
		t.Skip("live capture is built in; its own tests cover it")
	}
	code, _, e := inspectCmd(t, "inspect", "--iface", "lo")
	if code != 1 || !strings.Contains(e, "not available in this build") {
		t.Fatalf("exit %d: %s", code, e)
	}
}
