package main

import (
	"bytes"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// streamRecords frames one direction of a stream into records of conn, times from at on.
func streamRecords(t *testing.T, xml string, dir inspect.Direction, conn *inspect.ConnInfo) []*inspect.Record {
	t.Helper()
	var recs []*inspect.Record
	err := inspect.ReadStream(strings.NewReader(xml), dir, conn, inspect.SinkFunc(func(r *inspect.Record) error {
		recs = append(recs, r)
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestInspectLogReadBack: the log of a session with 3 requests never answered holds 3
// notes; reading it back with --format json gives the log again, line for line, instead
// of deriving the notes a second time (issue 14 item 4).
func TestInspectLogReadBack(t *testing.T) {
	conn := &inspect.ConnInfo{ID: 1, Client: netip.MustParseAddrPort("127.0.0.1:40000"), Server: netip.MustParseAddrPort("127.0.0.1:5222")}
	c2s := streamRecords(t, `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>`+
		`<iq type='get' id='a'><ping xmlns='urn:xmpp:ping'/></iq>`+
		`<iq type='get' id='b'><query xmlns='jabber:iq:version'/></iq>`+
		`<iq type='set' id='c'><query xmlns='jabber:iq:roster'/></iq>`+
		`<iq type='get' id='d'><query xmlns='jabber:iq:roster'/></iq>`, inspect.ClientToServer, conn)
	s2c := streamRecords(t, `<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='localhost' id='s1' version='1.0'>`+
		`<iq type='result' id='d'><query xmlns='jabber:iq:roster'/></iq>`, inspect.ServerToClient, conn)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	recs := []*inspect.Record{(&inspect.Record{Kind: inspect.KindConnOpen, Conn: conn}).WithNote("accepted")}
	recs = append(recs, c2s...)
	recs = append(recs, s2c...)
	recs = append(recs, (&inspect.Record{Kind: inspect.KindConnClose, Conn: conn}).WithNote("closed by client"))
	for i, r := range recs {
		r.Time = at.Add(time.Duration(i) * 1500 * time.Microsecond)
	}

	// Write the log through the same pipeline as the proxy's --log.
	logPath := filepath.Join(t.TempDir(), "session.jsonl")
	out := &outputFlags{format: "json", color: "never", logFile: logPath, isTerminal: writerIsTerminal}
	sink, closeOut, err := out.open(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := sink.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := closeOut(); err != nil {
		t.Fatal(err)
	}
	log, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(log), "was never answered"); n != 3 {
		t.Fatalf("the log holds %d notes about unanswered requests, want 3:\n%s", n, log)
	}
	if !strings.Contains(string(log), `"rtt_ms":`) {
		t.Fatalf("the answer has no round trip time in the log:\n%s", log)
	}

	code, again, e := inspectCmd(t, "inspect", logPath, "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	if n := strings.Count(again, "was never answered"); n != 3 {
		t.Errorf("read back: %d notes about unanswered requests, want 3", n)
	}
	wantLines, gotLines := strings.Count(string(log), "\n"), strings.Count(again, "\n")
	if wantLines != gotLines {
		t.Errorf("read back: %d lines, the log has %d", gotLines, wantLines)
	}
	if again != string(log) {
		t.Errorf("read back differs from the log:\n--- log\n%s--- read back\n%s", log, again)
	}
	// The pretty view shows the logged round trip time without a tracker of its own.
	code, pretty, e := inspectCmd(t, "inspect", logPath, "--color", "never")
	if code != 0 || !strings.Contains(pretty, "(answered in 3.0ms)") || strings.Count(pretty, "was never answered") != 3 {
		t.Errorf("pretty: exit %d (%s):\n%s", code, e, pretty)
	}
}

// TestInspectInputFormat: --input-format names the input; a wrong name is a usage error,
// input that is no known format says so.
func TestInspectInputFormat(t *testing.T) {
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(text, []byte("just some notes\nnothing else\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	smack := "../../inspect/logs/testdata/smack.log"
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"bad name", []string{"inspect", smack, "--input-format", "word"}, 2, "--input-format must be"},
		{"unknown content", []string{"inspect", text}, 1, "cannot tell what"},
		{"forced", []string{"inspect", smack, "--input-format", "smack", "--format", "json"}, 0, "21 stanzas"},
		{"wrong forced format", []string{"inspect", smack, "--input-format", "prosody"}, 0, "0 stanzas"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, e := inspectCmd(t, tc.args...)
			if code != tc.code || !strings.Contains(e, tc.msg) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, e, tc.code, tc.msg)
			}
		})
	}
}

// TestInspectLogStdin: a debug log on standard input is detected as well.
func TestInspectLogStdin(t *testing.T) {
	data, err := os.ReadFile("../../inspect/logs/testdata/prosody.log")
	if err != nil {
		t.Fatal(err)
	}
	old := stdin
	defer func() { stdin = old }()
	stdin = bytes.NewReader(data)
	code, out, e := inspectCmd(t, "inspect", "-", "--format", "json")
	if code != 0 || !strings.Contains(e, "40 stanzas, 0 errors") || !strings.Contains(out, `"conn":2`) {
		t.Fatalf("exit %d (%s)", code, e)
	}
}

// TestInspectSASLLine: through the whole sink chain, the pretty output decodes SCRAM's
// messages; the client proof shows only with --show-secrets.
func TestInspectSASLLine(t *testing.T) {
	const log = "../../inspect/logs/testdata/slixmpp.log"
	// The client-final message of this log, and its proof.
	const final = "Yz1lU3dzLHI9MDAzMjY4OTQyOTU0ODY2NzkzNjhhZGYxYzlmLWZmMWYtNDRlNy1iOWEwLWY4NmUwZDI3ZTM0YSxwPUJ3ckZhRG9ralNIQzl5UmxzdHhGR2ZvVVlYQT0="
	const proof = "BwrFaDokjSHC9yRlstxFGfoUYXA="
	code, out, e := inspectCmd(t, "inspect", log, "--color", "never")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	for _, want := range []string{
		`  = SCRAM-SHA-1 client-first: channel binding supported but not used (y), user "alice", nonce "0032689429548667936"`,
		`  = SCRAM server-first: nonce "00326894295486679368adf1c9f-ff1f-44e7-b9a0-f86e0d27e34a", salt `,
		`, proof [redacted]`,
		`  = SCRAM server-final: server signature "w/dGENevvGNdfbRErmnaaaEjVFs="`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(out, proof) || strings.Contains(out, final) {
		t.Error("the client proof shows without --show-secrets")
	}
	_, out, _ = inspectCmd(t, "inspect", log, "--color", "never", "--show-secrets")
	if !strings.Contains(out, `proof "`+proof+`"`) {
		t.Error("--show-secrets does not show the proof")
	}
}
