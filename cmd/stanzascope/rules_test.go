package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestRulesCheckExamples(t *testing.T) {
	files, err := filepath.Glob("../../rules/examples/*.yaml")
	if err != nil || len(files) < 6 {
		t.Fatalf("examples: %v %v", files, err)
	}
	code, out, errs := runCmd(t, append([]string{"rules", "check"}, files...)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	if n := strings.Count(out, ": ok, "); n != len(files) {
		t.Fatalf("%d ok lines for %d files:\n%s", n, len(files), out)
	}
}

func TestRulesCheckProblems(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name, content string
		want          string // a regexp for one stderr line
	}{
		{"yaml", "rules:\n  - name: 'x\n", `yaml.yaml:2:11: YAML: `},
		{"unknown-key", "rules:\n  - name: x\n    when: {elemnt: iq}\n    do: [drop]\n", `unknown-key.yaml:3:12: unknown key "elemnt" in when`},
		{"unknown-action", "rules:\n  - name: x\n    do: [frobnicate]\n", `unknown-action.yaml:3:10: unknown action "frobnicate"`},
		{"bad-xpath", "rules:\n  - name: x\n    when: {xpath: \"a[\"}\n    do: [drop]\n", `bad-xpath.yaml:3:19: bad XPath "a\["`},
		{"prefix", "rules:\n  - name: x\n    when: {xpath: \"r:query\"}\n    do: [drop]\n", `prefix.yaml:3:19: XPath "r:query": undeclared namespace prefix "r"`},
		{"regexp", "rules:\n  - name: x\n    do: [{replace-text: {xpath: body, regexp: \"a(\"}}]\n", `regexp.yaml:3:47: bad regexp`},
		{"jid", "rules:\n  - name: x\n    when: {to: \"a@b@c\"}\n    do: [drop]\n", `jid.yaml:3:16: to: JID pattern "a@b@c": more than one '@'`},
		{"template", "rules:\n  - name: x\n    do: [replace: \"<a>{{.Nope}}</a>\"]\n", `template.yaml:3:19: replace: template: .*Nope`},
		{"xml", "rules:\n  - name: x\n    do: [insert: \"<a><b></a>\"]\n", `xml.yaml:3:18: insert: bad XML`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := write(tc.name+".yaml", tc.content)
			code, _, errs := runCmd(t, "rules", "check", p)
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s", code, errs)
			}
			re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(dir+string(filepath.Separator)) + tc.want)
			if !re.MatchString(errs) {
				t.Fatalf("stderr does not match %q:\n%s", tc.want, errs)
			}
		})
	}
	// Several files: every problem of every file, then the count.
	a := write("a.yaml", "rules:\n  - {name: x, do: [frobnicate]}\n")
	b := write("b.yaml", "rules:\n  - {name: y, do: [delay: forever]}\n")
	code, _, errs := runCmd(t, "rules", "check", a, b)
	if code != 1 || !strings.Contains(errs, a+":2:20:") || !strings.Contains(errs, b+":2:27:") || !strings.Contains(errs, "2 problems found") {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	if code, _, _ := runCmd(t, "rules", "check"); code != 2 {
		t.Fatalf("no files: exit %d, want 2", code)
	}
	if code, _, errs := runCmd(t, "rules", "--help"); code != 0 || !strings.Contains(errs, "replace-text  regexp-replace") {
		t.Fatalf("help: exit %d\n%s", code, errs)
	}
	if code, _, _ := runCmd(t, "rules", "frob"); code != 2 {
		t.Fatalf("unknown sub-command: exit %d, want 2", code)
	}
	if code, _, errs := runCmd(t, "rules", "check", filepath.Join(dir, "missing.yaml")); code != 1 || !strings.Contains(errs, "missing.yaml: open") {
		t.Fatalf("missing file: exit %d %s", code, errs)
	}
}

func TestRulesTest(t *testing.T) {
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "r.yaml")
	os.WriteFile(rulesFile, []byte(`namespaces: {r: "jabber:iq:register"}
rules:
  - name: block-registration
    when: {direction: c2s, element: iq, type: set, xpath: "r:query/r:username"}
    do: [{reject: {condition: not-allowed, text: closed}}, {tag: {label: blocked, color: red}}]
  - name: rewrite
    when: {element: message}
    do:
      - {replace-text: {xpath: body, regexp: parrot, with: budgie}}
      - {inject: {to: client, when: before, xml: "<message><body>note</body></message>"}}
      - delay: 2s
      - hide
  - name: mine
    when: {element: presence, bound: "alice@localhost/*"}
    do: [drop]
`), 0o644)
	stanzas := filepath.Join(dir, "s.xml")
	os.WriteFile(stanzas, []byte(`<iq type='set' id='r1'><query xmlns='jabber:iq:register'><username>u</username></query></iq>
<message to='bob@localhost'><body>a parrot</body></message>
<presence/>
`), 0o644)
	code, out, errs := runCmd(t, "rules", "test", rulesFile, stanzas, "--bound", "alice@localhost/tel")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errs)
	}
	for _, want := range []string{
		"stanza 1 (client-to-server): <iq type='set' id='r1'>",
		"  matched:   block-registration\n",
		"  result:    rejected (nothing is forwarded; the error goes back to the client)\n",
		"  sent to the client: <iq id='r1' type='error'><error code='405' type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>closed</text></error></iq>\n",
		"  tag:       blocked (red)\n",
		"stanza 2 (client-to-server)",
		"  matched:   rewrite\n  sent first to the client: <message id='stanzascope-inject-1'><body>note</body></message>\n",
		"  result:    forwarded to the server, changed: <message to='bob@localhost'><body>a budgie</body></message>\n",
		"  delayed:   2s\n  hidden:    not shown in the log\n",
		"stanza 3 (client-to-server): <presence/>\n  matched:   mine\n  result:    dropped",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// s2c: the registration rule does not apply; without --bound neither does "mine".
	code, out, _ = runCmd(t, "rules", "test", "--direction", "s2c", rulesFile, stanzas)
	if code != 0 || strings.Count(out, "no rule; forwarded unchanged") != 2 || !strings.Contains(out, "forwarded to the client, changed:") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if code, _, _ := runCmd(t, "rules", "test", rulesFile); code != 2 {
		t.Fatalf("missing arg: exit %d", code)
	}
	if code, _, _ := runCmd(t, "rules", "test", "--direction", "up", rulesFile, stanzas); code != 2 {
		t.Fatalf("bad direction: exit %d", code)
	}
	// A saved stream, with its header, works too; its stanzas are in jabber:server here.
	stream := filepath.Join(dir, "stream.xml")
	os.WriteFile(stream, []byte("<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' to='localhost'>\n<message to='bob@localhost'><body>a parrot</body></message></stream:stream>"), 0o644)
	code, out, errs = runCmd(t, "rules", "test", rulesFile, stream)
	if code != 0 || !strings.Contains(out, "forwarded to the server, changed: <message to='bob@localhost'><body>a budgie</body></message>") {
		t.Fatalf("stream file: exit %d\n%s%s", code, out, errs)
	}
	bad := filepath.Join(dir, "bad.xml")
	os.WriteFile(bad, []byte(`<message><body>x</message>`), 0o644)
	if code, _, errs := runCmd(t, "rules", "test", rulesFile, bad); code != 1 || !strings.Contains(errs, "not-well-formed") {
		t.Fatalf("bad stanza file: exit %d %s", code, errs)
	}
}
