package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmpp"

	"github.com/stanzascope/stanzascope/proxy/ca"
	"github.com/stanzascope/stanzascope/switch/switchtest"
)

const (
	secretUser = "Mr_Praline"
	secretPass = "NorwegianBlue"
)

// TestSecretsInEveryOutput runs the textbook session (pre-1.0, iq:register and iq:auth
// with a password), a SASL PLAIN login and a SCRAM login through the proxy in front of the
// embedded switch, with pretty output, --log and --pcap-out. No output holds the password,
// as text or inside a base64 payload, and every SASL payload the client sent is redacted;
// with --show-secrets every output holds them. The log and capture existed with mode 0644
// and are 0600 afterwards.
func TestSecretsInEveryOutput(t *testing.T) {
	for _, show := range []bool{false, true} {
		t.Run(fmt.Sprintf("show-secrets=%v", show), func(t *testing.T) {
			outputs := proxySession(t, show)
			for name, out := range outputs {
				literal := bytes.Contains(out, []byte(secretPass))
				encoded := base64Holding(out, secretPass)
				if show && name != "stderr" { // stderr shows no traffic at all
					if !literal || encoded == "" {
						t.Errorf("%s with --show-secrets: password shown %v, PLAIN payload shown %v", name, literal, encoded != "")
					}
					continue
				}
				if literal {
					t.Errorf("%s shows the password:\n%s", name, around(out, secretPass))
				}
				if encoded != "" {
					t.Errorf("%s shows the PLAIN payload %s", name, encoded)
				}
			}
			sasl := saslPayloads(t, outputs["log"])
			if len(sasl) != 3 { // PLAIN auth; SCRAM auth and response
				t.Fatalf("only %d SASL payloads from the client in the log: %q", len(sasl), sasl)
			}
			for _, p := range sasl {
				if (p == "[redacted]") == show {
					t.Errorf("show-secrets %v: SASL payload %q", show, p)
				}
			}
		})
	}
}

// proxySession runs the proxy command, drives the three logins through it and returns
// its outputs by name: stdout (pretty), log, pcap, stderr.
func proxySession(t *testing.T, show bool) map[string][]byte {
	dir := t.TempDir()
	logPath, pcapPath := filepath.Join(dir, "s.jsonl"), filepath.Join(dir, "s.pcap")
	for _, p := range []string{logPath, pcapPath} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o644); err != nil { // whatever the umask
			t.Fatal(err)
		}
	}
	args := []string{"proxy", "--listen", "127.0.0.1:0", "--ca-dir", filepath.Join(dir, "ca"),
		"--db", filepath.Join(dir, "db", "switch.db"), "--format", "pretty", "--color", "never",
		"--log", logPath, "--pcap-out", pcapPath}
	if show {
		args = append(args, "--show-secrets")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	code := make(chan int, 1)
	go func() { code <- run(ctx, args, &stdout, &stderr) }()
	re := regexp.MustCompile(`listening on (\S+) \(plaintext`)
	var addr string
	for deadline := time.Now().Add(20 * time.Second); addr == "" && time.Now().Before(deadline); {
		if m := re.FindStringSubmatch(stderr.String()); m != nil {
			addr = m[1]
			break
		}
		select {
		case c := <-code:
			t.Fatalf("proxy exited with %d: %s", c, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	if addr == "" {
		t.Fatalf("no listening line: %s", stderr.String())
	}

	textbook(t, addr)
	authority, err := ca.LoadOrCreate(filepath.Join(dir, "ca"))
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg := &tls.Config{ServerName: "localhost", RootCAs: authority.Pool()}
	for _, mech := range []sasl.Mechanism{sasl.Plain, sasl.ScramSha256} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c := switchtest.Login(t, conn, "mr_praline@localhost", xmpp.StartTLS(tlsCfg),
			xmpp.SASL("", secretPass, mech), xmpp.BindResource())
		c.Close()
	}

	cancel()
	waitJobExit(t, code, &stderr, "the proxy")
	outputs := map[string][]byte{"stdout": []byte(stdout.String()), "stderr": []byte(stderr.String())}
	for name, p := range map[string]string{"log": logPath, "pcap": pcapPath} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", name, st.Mode().Perm())
		}
		if outputs[name], err = os.ReadFile(p); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Contains(outputs["stdout"], []byte("bound JID")) {
		t.Fatalf("the logins did not happen:\n%s", outputs["stdout"])
	}
	return outputs
}

// textbook walks the pre-1.0 session of the tutorial: register, then log in with iq:auth.
func textbook(t *testing.T, addr string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)
	step := func(send, want string) {
		t.Helper()
		io.WriteString(c, send)
		var got strings.Builder
		for !strings.Contains(got.String(), want) {
			b, err := br.ReadByte()
			if err != nil {
				t.Fatalf("waiting for %q: %v; got %q", want, err, got.String())
			}
			got.WriteByte(b)
		}
	}
	step("<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>", ">")
	step("<iq id='reg' type='set'><query xmlns='jabber:iq:register'><username>"+secretUser+"</username><password>"+secretPass+"</password></query></iq>",
		"<iq id='reg' type='result'/>")
	step("<iq id='auth' type='set'><query xmlns='jabber:iq:auth'><username>"+secretUser+"</username><password>"+secretPass+"</password><resource>telnet</resource></query></iq>",
		"<iq id='auth' type='result'/>")
	step("</stream:stream>", "</stream:stream>")
}

var base64Token = regexp.MustCompile(`[A-Za-z0-9+/]{8,}={0,2}`)

// base64Holding returns the first base64 token in out whose decoded bytes hold secret.
func base64Holding(out []byte, secret string) string {
	for _, tok := range base64Token.FindAll(out, -1) {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding} {
			if b, err := enc.DecodeString(string(tok)); err == nil && bytes.Contains(b, []byte(secret)) {
				return string(tok)
			}
		}
	}
	return ""
}

// saslPayloads returns the text of every SASL <auth> and <response> in a JSON log.
func saslPayloads(t *testing.T, log []byte) []string {
	var out []string
	for _, line := range bytes.Split(bytes.TrimSpace(log), []byte("\n")) {
		var r struct{ Name, NS, XML string }
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if r.NS != "urn:ietf:params:xml:ns:xmpp-sasl" || (r.Name != "auth" && r.Name != "response") {
			continue
		}
		start, end := strings.IndexByte(r.XML, '>'), strings.LastIndex(r.XML, "</")
		if start < 0 || end < start {
			continue // no payload (SCRAM's empty <auth/> does not exist, but a bare one might)
		}
		out = append(out, r.XML[start+1:end])
	}
	return out
}

// around shows where needle is in out.
func around(out []byte, needle string) string {
	i := bytes.Index(out, []byte(needle))
	return string(out[max(0, i-200):min(len(out), i+len(needle)+50)])
}

// TestRulesTestRedacts: `rules test` shows the stanzas it tried, the result and what a
// rule injects (here a copy of the registration) redacted unless --show-secrets.
func TestRulesTestRedacts(t *testing.T) {
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "r.yaml")
	stanzas := filepath.Join(dir, "s.xml")
	os.WriteFile(rulesFile, []byte(`rules:
  - name: copy
    when: {element: iq}
    do:
      - inject: {xml: "<iq type='set' id='copy'><query xmlns='jabber:iq:register'><password>{{.XPath \"string(*/*[local-name()='password'])\"}}</password></query></iq>", to: server}
      - set-attr: {name: seen, value: "1"}
`), 0o600)
	os.WriteFile(stanzas, []byte("<iq id='reg' type='set'><query xmlns='jabber:iq:register'><username>"+secretUser+
		"</username><password>"+secretPass+"</password></query></iq>\n"+
		"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"+
		base64.StdEncoding.EncodeToString([]byte("\x00mr_praline\x00"+secretPass))+"</auth>\n"), 0o600)
	for _, show := range []bool{false, true} {
		args := []string{"rules", "test", rulesFile, stanzas}
		if show {
			args = append(args, "--show-secrets")
		}
		code, out, errOut := runCmd(t, args...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if !strings.Contains(out, "changed:") || !strings.Contains(out, "sent to the server: <iq type='set' id='copy'>") {
			t.Fatalf("the rule did not apply:\n%s", out)
		}
		// The registration, its changed version and the injected copy; the PLAIN payload.
		literal := strings.Count(out, secretPass)
		encoded := base64Holding([]byte(out), secretPass)
		if show && (literal != 3 || encoded == "") {
			t.Errorf("--show-secrets: password %d times, PLAIN payload %q:\n%s", literal, encoded, out)
		}
		if !show && (literal != 0 || encoded != "") {
			t.Errorf("password %d times, PLAIN payload %q:\n%s", literal, encoded, out)
		}
	}
}
