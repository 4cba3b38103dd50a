package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRulesCostBounds: rules check warns about a rule that could answer itself (and still
// exits 0); rules test shows a rule cut short by the XPath budget, on the message
// with 800 children.
func TestRulesCostBounds(t *testing.T) {
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "r.yaml")
	os.WriteFile(rulesFile, []byte(`rules:
  - name: heavy
    when: {element: message, xpath: "count(//*/following::*) > 0"}
    do: [drop]
  - name: echo
    do: [{inject: {to: server, xml: "<message><body>again</body></message>"}}]
`), 0o600)
	code, out, errOut := runCmd(t, "rules", "check", rulesFile)
	if code != 0 || !strings.Contains(out, "ok, 2 rules") ||
		!strings.Contains(errOut, rulesFile+`:5:5: warning: rule "echo" could answer itself: it injects a <message> to the server`) {
		t.Fatalf("check: exit %d\n%s\n%s", code, out, errOut)
	}
	var b strings.Builder
	b.WriteString("<message to='bob@localhost'>")
	for i := range 800 {
		fmt.Fprintf(&b, "<x>%d</x>", i)
	}
	b.WriteString("</message>\n")
	stanzas := filepath.Join(dir, "s.xml")
	os.WriteFile(stanzas, []byte(b.String()), 0o600)
	code, out, errOut = runCmd(t, "rules", "test", rulesFile, stanzas)
	if code != 0 || !strings.Contains(out, "budget:    XPath budget exceeded in heavy") ||
		!strings.Contains(out, "matched:   echo") || strings.Contains(out, "dropped") {
		t.Fatalf("test: exit %d\n%s\n%s", code, out, errOut)
	}
}
