package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
)

// inspectCapture runs 'stanzascope inspect' on the slixmpp capture with args added.
func inspectCapture(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	all := append([]string{"inspect", "../../testdata/captures/c2s-slixmpp-plain.pcapng", "--color", "never"}, args...)
	code = run(context.Background(), all, &out, &errb)
	return code, out.String(), errb.String()
}

var headerLineRE = regexp.MustCompile(`(?m)^#\d+ \S+ #(\d+) (C->S|S->C)? ?(\S+)`)

// TestInspectFilterFollowsSession: --filter-jid knows a connection by its bound JID, so
// alice's own stanzas (sent without 'from') are shown, and the records of the other
// connections that do not name her are not (issue 14 item 3).
func TestInspectFilterFollowsSession(t *testing.T) {
	code, out, errs := inspectCapture(t, "--filter-jid", "alice446616@localhost")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	heads := headerLineRE.FindAllStringSubmatch(out, -1)
	if len(heads) < 20 {
		t.Fatalf("only %d records shown:\n%s", len(heads), out)
	}
	// The first record shown is her binding's result; then her connection's records,
	// including the stanzas she sends without from.
	if !strings.Contains(out[:strings.Index(out, "\n#")], "<jid>alice446616@localhost/BzjKCe22FFHc</jid>") {
		t.Errorf("the first record shown is not alice's bind result:\n%s", out[:400])
	}
	var ownNoFrom int
	for _, block := range strings.Split(out, "\n#")[1:] {
		if strings.Contains(block, " #1 C->S stanza") && !strings.Contains(block, "from=") {
			ownNoFrom++
		}
		if !strings.Contains(block, " #1 ") && !strings.Contains(block, "'alice446616@localhost") && !strings.Contains(block, `"alice446616@localhost`) {
			t.Errorf("a record of another connection that does not name alice:\n#%s", block)
		}
		if strings.Contains(block, "conn-open") {
			t.Errorf("a connection opening before anything was known of it:\n#%s", block)
		}
	}
	if ownNoFrom < 5 {
		t.Errorf("only %d of alice's own stanzas without from are shown", ownNoFrom)
	}
}

func TestInspectFilterConnAndExpression(t *testing.T) {
	code, out, errs := inspectCapture(t, "--filter-conn", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	heads := headerLineRE.FindAllStringSubmatch(out, -1)
	if len(heads) < 10 {
		t.Fatalf("only %d records of connection 2", len(heads))
	}
	kinds := map[string]bool{}
	for _, h := range heads {
		if h[1] != "2" {
			t.Errorf("a record of connection %s", h[1])
		}
		kinds[h[3]] = true
	}
	if !kinds["conn-open"] || !kinds["open"] || !kinds["stanza"] {
		t.Errorf("connection 2's headers and events are not all there: %v", kinds)
	}
	// An expression: messages and presences of connection 1 that are not from the server.
	code, out, errs = inspectCapture(t, "--filter", "conn 1 and name presence,message and not origin server")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, h := range headerLineRE.FindAllStringSubmatch(out, -1) {
		if h[1] != "1" || h[2] != "C->S" || h[3] != "stanza" {
			t.Errorf("shown: %q", h[0])
		}
	}
}

// TestInspectFilterWarningsAndErrors: a name no XMPP specification uses is a warning with
// the closest known name; an expression that does not parse is a usage error (exit 2)
// that shows the column.
func TestInspectFilterWarningsAndErrors(t *testing.T) {
	code, out, errs := inspectCapture(t, "--filter-name", "mesage")
	if code != 0 || !strings.Contains(errs, `--filter-name: no XMPP specification we know uses an element named "mesage"`) || !strings.Contains(errs, "did you mean message?") {
		t.Errorf("exit %d, stderr:\n%s", code, errs)
	}
	if strings.Contains(out, "stanza") {
		t.Errorf("mesage matched something:\n%s", out)
	}
	code, _, errs = inspectCapture(t, "--filter", "type chta")
	if code != 0 || !strings.Contains(errs, "did you mean chat?") {
		t.Errorf("exit %d, stderr:\n%s", code, errs)
	}
	code, _, errs = inspectCapture(t, "--filter", "type chat and (name message")
	if code != 2 || !strings.Contains(errs, "--filter: column 28: ')' expected") || !strings.Contains(errs, "\n  type chat and (name message\n"+strings.Repeat(" ", 29)+"^") {
		t.Errorf("exit %d, stderr:\n%s", code, errs)
	}
	code, _, errs = inspectCapture(t, "--filter-conn", "0")
	if code != 2 {
		t.Errorf("--filter-conn 0: exit %d, stderr:\n%s", code, errs)
	}
}
