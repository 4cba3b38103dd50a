package main

// Tests of issue 14 item 2 with the real programs: slixmpp clients talk through
// `stanzascope proxy --log` to Prosody and to ejabberd (both from Debian, started here on
// loopback ports with their debug logs on), then `stanzascope inspect` reads slixmpp's
// log and the server's log, and the stanzas it reads must be the stanzas the proxy
// recorded of the same sessions.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/proxy/ca"
)

const (
	logsTestdata   = "../../inspect/logs/testdata/"
	slixmppSession = logsTestdata + "slixmpp_session.py"
	python         = "/usr/bin/python3"
)

// requirePeer skips a test whose peer program is missing, except under CI (scripts/test.sh
// sets CI), where it fails.
func requirePeer(t *testing.T, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is needed and not available: %v (CI requires it)", what, err)
	}
	t.Skipf("%s not available: %v", what, err)
}

func requireSlixmpp(t *testing.T) {
	t.Helper()
	out, err := exec.Command(python, "-c", "import slixmpp").CombinedOutput()
	if err != nil {
		err = fmt.Errorf("%v: %s", err, out)
	}
	requirePeer(t, "slixmpp (Debian's python3-slixmpp)", err)
}

func freeLoopbackPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitAccepting waits until something accepts on addr, or exited says the process ended.
func waitAccepting(t *testing.T, addr string, exited <-chan error, what string, logFile string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case err := <-exited:
			log, _ := os.ReadFile(logFile)
			t.Fatalf("%s exited while starting: %v\n%s", what, err, tail(log, 3000))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not accept on %s", what, addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// startProcess starts cmd and stops it by its PID at the end of the test (SIGTERM, then
// SIGKILL after 10 s). The returned channel gets its exit.
func startProcess(t *testing.T, cmd *exec.Cmd) <-chan error {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	return exited
}

// serverCert writes a certificate for localhost (signed by a CA made now) and its key.
func serverCert(t *testing.T, dir string) (certPEM, keyPEM []byte) {
	t.Helper()
	authority, err := ca.LoadOrCreate(filepath.Join(dir, "server-ca"))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := authority.Leaf("localhost")
	if err != nil {
		t.Fatal(err)
	}
	for _, der := range leaf.Certificate {
		certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(leaf.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

// fillTemplate writes testdata's template name to dir with @DIR@ and @PORT@ replaced.
func fillTemplate(t *testing.T, name, dir, port string) string {
	t.Helper()
	tmpl, err := os.ReadFile(logsTestdata + name)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	cfg := strings.NewReplacer("@DIR@", dir, "@PORT@", port).Replace(string(tmpl))
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// startProsodyDebug runs Debian's Prosody with its debug log and mod_stanza_debug, with
// the accounts alice and bob. It returns its address and the path of its log.
func startProsodyDebug(t *testing.T) (addr, logPath string) {
	t.Helper()
	prosody, err := exec.LookPath("prosody")
	if err == nil {
		_, err = exec.LookPath("prosodyctl")
	}
	requirePeer(t, "Prosody (Debian's prosody)", err)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM := serverCert(t, dir)
	must(t, os.WriteFile(filepath.Join(dir, "localhost.crt"), certPEM, 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "localhost.key"), keyPEM, 0o600))
	addr = freeLoopbackPort(t)
	_, port, _ := net.SplitHostPort(addr)
	cfg := fillTemplate(t, "prosody.cfg.lua", dir, port)
	for _, u := range [][2]string{{"alice", "alice-secret"}, {"bob", "bob-secret"}} {
		if out, err := exec.Command("prosodyctl", "--config", cfg, "register", u[0], "localhost", u[1]).CombinedOutput(); err != nil {
			t.Fatalf("prosodyctl register %s: %v\n%s", u[0], err, out)
		}
	}
	logPath = filepath.Join(dir, "prosody.log")
	cmd := exec.Command(prosody, "--config", cfg, "-F")
	out, err := os.Create(filepath.Join(dir, "out.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	cmd.Stdout, cmd.Stderr = out, out
	exited := startProcess(t, cmd)
	waitAccepting(t, addr, exited, "prosody", logPath)
	return addr, logPath
}

// startEjabberdDebug runs Debian's ejabberd with loglevel debug: erl with ejabberd's
// libraries, as ejabberdctl foreground would, but as the current user and without
// Erlang distribution. It returns its address and the path of its log.
func startEjabberdDebug(t *testing.T) (addr, logPath string) {
	t.Helper()
	erl, err := exec.LookPath("erl")
	ebin, _ := filepath.Glob("/usr/lib/*/ejabberd-*/ebin")
	if err == nil && len(ebin) == 0 {
		err = errors.New("no /usr/lib/*/ejabberd-*/ebin")
	}
	requirePeer(t, "ejabberd (Debian's ejabberd)", err)
	dir := t.TempDir()
	certPEM, keyPEM := serverCert(t, dir)
	must(t, os.WriteFile(filepath.Join(dir, "server.pem"), append(certPEM, keyPEM...), 0o600))
	addr = freeLoopbackPort(t)
	_, port, _ := net.SplitHostPort(addr)
	cfg := fillTemplate(t, "ejabberd.yml", dir, port)
	logPath = filepath.Join(dir, "ejabberd.log")
	cmd := exec.Command(erl, "-noinput", "+K", "true", "-mnesia", "dir", `"`+filepath.Join(dir, "spool")+`"`, "-s", "ejabberd")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "EJABBERD_CONFIG_PATH="+cfg, "EJABBERD_LOG_PATH="+logPath,
		"ERL_LIBS="+filepath.Dir(filepath.Dir(ebin[0])), "ERL_CRASH_DUMP_BYTES=0")
	out, err := os.Create(filepath.Join(dir, "out.log"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	cmd.Stdout, cmd.Stderr = out, out
	exited := startProcess(t, cmd)
	waitAccepting(t, addr, exited, "ejabberd", filepath.Join(dir, "out.log"))
	return addr, logPath
}

// runLoggingProxy runs `stanzascope proxy --log` in front of upstream until stop is called.
func runLoggingProxy(t *testing.T, upstream string) (addr, caPEM, logPath string, stop func()) {
	t.Helper()
	dir := t.TempDir()
	logPath = filepath.Join(dir, "proxy.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"proxy", "--listen", "127.0.0.1:0", "--upstream", upstream, "--upstream-insecure",
			"--ca-dir", filepath.Join(dir, "ca"), "--log", logPath, "--show-secrets", "--format", "json"}, io.Discard, pw)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	re := regexp.MustCompile(`listening on (\S+) \(plaintext`)
	var said strings.Builder
	for lines.Scan() {
		said.WriteString(lines.Text() + "\n")
		if m := re.FindStringSubmatch(lines.Text()); m != nil {
			addr = m[1]
			break
		}
	}
	if addr == "" {
		cancel()
		t.Fatalf("the proxy did not say where it listens:\n%s", said.String())
	}
	go io.Copy(io.Discard, pr)
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case c := <-code:
			if c != 0 {
				t.Errorf("proxy exit %d", c)
			}
		case <-time.After(15 * time.Second):
			t.Error("the proxy did not stop")
		}
	}
	t.Cleanup(stop)
	return addr, filepath.Join(dir, "ca", "stanzascope-ca.pem"), logPath, stop
}

// slixmppPair runs the receiver bob, then the sender alice (scripts in
// inspect/logs/testdata) against addr, each writing its debug log. It returns the paths
// of alice's and bob's logs.
func slixmppPair(t *testing.T, addr, caPEM string, register bool) (aliceLog, bobLog string) {
	t.Helper()
	dir := t.TempDir()
	host, port, _ := net.SplitHostPort(addr)
	args := func(user, peer, role, log string) []string {
		a := []string{slixmppSession, "--host", host, "--port", port, "--jid", user + "@localhost", "--password", user + "-secret",
			"--peer", peer + "@localhost", "--role", role, "--log", log, "--cafile", caPEM}
		if register {
			a = append(a, "--register")
		}
		return a
	}
	aliceLog, bobLog = filepath.Join(dir, "alice.log"), filepath.Join(dir, "bob.log")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bob := exec.CommandContext(ctx, python, args("bob", "alice", "receiver", bobLog)...)
	bobOut, err := bob.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var bobErr bytes.Buffer
	bob.Stderr = &bobErr
	if err := bob.Start(); err != nil {
		t.Fatal(err)
	}
	var bobSaid strings.Builder
	ready := false
	sc := bufio.NewScanner(bobOut)
	for sc.Scan() {
		bobSaid.WriteString(sc.Text() + "\n")
		if sc.Text() == "READY" {
			ready = true
			break
		}
	}
	if !ready {
		bob.Wait()
		log, _ := os.ReadFile(bobLog)
		t.Fatalf("bob did not get ready: %s%s\n%s", bobSaid.String(), bobErr.String(), tail(log, 4000))
	}
	out, err := exec.CommandContext(ctx, python, args("alice", "bob", "sender", aliceLog)...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "DONE") {
		log, _ := os.ReadFile(aliceLog)
		t.Fatalf("alice: %v\n%s\n%s", err, out, tail(log, 4000))
	}
	rest, _ := io.ReadAll(bobOut)
	if err := bob.Wait(); err != nil || !strings.Contains(string(rest), "DONE") {
		t.Fatalf("bob: %v\n%s%s%s", err, bobSaid.String(), rest, bobErr.String())
	}
	return aliceLog, bobLog
}

// inspectLog runs `stanzascope inspect FILE --format json --show-secrets` (format found
// from the content) and reads its output back as records.
func inspectLog(t *testing.T, path string, wantFormat string) []*inspect.Record {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"inspect", path, "--format", "json", "--show-secrets"}, &out, &errb); code != 0 {
		log, _ := os.ReadFile(path)
		t.Fatalf("inspect %s: exit %d: %s\n%s", path, code, errb.String(), tail(log, 6000))
	}
	detected := out.String()
	recs := readRecords(t, &out)
	for _, r := range recs {
		if r.Kind == inspect.KindError {
			t.Errorf("inspect %s: error record: %v", filepath.Base(path), r.Err())
		}
	}
	// The format was detected: --input-format with the expected name gives the same.
	var forced bytes.Buffer
	if code := run(context.Background(), []string{"inspect", path, "--input-format", wantFormat, "--format", "json", "--show-secrets"}, &forced, io.Discard); code != 0 || forced.String() != detected {
		t.Errorf("inspect --input-format %s gives other records than detection (exit %d)", wantFormat, code)
	}
	return recs
}

func readRecords(t *testing.T, r io.Reader) []*inspect.Record {
	t.Helper()
	var recs []*inspect.Record
	if err := inspect.ReadJSONLog(r, inspect.SinkFunc(func(r *inspect.Record) error {
		recs = append(recs, r)
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	return recs
}

func readRecordFile(t *testing.T, path string) []*inspect.Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return readRecords(t, f)
}

// view is what one party saw of a connection: canonical stanzas per direction, with the
// records they came from.
type view struct {
	conn     uint64
	stanzas  [3][]string
	recs     [3][]*inspect.Record
	sessions string
}

// views groups the stanza records by connection. server says whose view to take of what
// the proxy recorded: what the server sent (the original of a stanza the proxy edited)
// rather than what the client got.
func views(t *testing.T, recs []*inspect.Record, server bool) []*view {
	t.Helper()
	byConn := map[uint64]*view{}
	var order []*view
	for _, r := range recs {
		if r.Conn == nil {
			continue
		}
		v := byConn[r.Conn.ID]
		if v == nil {
			v = &view{conn: r.Conn.ID}
			byConn[r.Conn.ID] = v
			order = append(order, v)
		}
		if r.Kind == inspect.KindConnOpen {
			v.sessions = r.Note()
		}
		if r.Kind != inspect.KindStanza {
			continue
		}
		if server && r.Producer() == inspect.OriginProxy {
			continue // the server never saw the proxy's own bytes
		}
		raw := r.Raw
		if server && r.Dir == inspect.ServerToClient && r.Original() != nil {
			raw = r.Original()
		}
		e, err := inspect.ParseElement(raw, r.Header)
		if err != nil {
			t.Fatalf("conn %d: %v: %s", r.Conn.ID, err, raw)
		}
		v.stanzas[r.Dir] = append(v.stanzas[r.Dir], canon(e, true))
		v.recs[r.Dir] = append(v.recs[r.Dir], r)
	}
	return order
}

// canon writes an element with resolved names, attributes sorted, namespace declarations
// and whitespace between elements left out: two serialisations of the same stanza give
// the same string. The xml:lang of the top element is left out: Prosody adds the
// stream's to each stanza it receives before it logs it.
func canon(e *inspect.Element, top bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<{%s}%s", e.Space, e.Local)
	attrs := slices.Clone(e.Attrs)
	slices.SortFunc(attrs, func(a, b inspect.Attr) int { return strings.Compare(a.Space+" "+a.Local, b.Space+" "+b.Local) })
	for _, a := range attrs {
		if top && a.Space == inspect.NSXML && a.Local == "lang" {
			continue
		}
		fmt.Fprintf(&b, " {%s}%s=%q", a.Space, a.Local, a.Value)
	}
	b.WriteString(">")
	for _, c := range e.Children {
		switch c := c.(type) {
		case *inspect.Element:
			b.WriteString(canon(c, false))
		case inspect.Text:
			if strings.TrimSpace(string(c)) != "" || len(e.Children) == 1 {
				fmt.Fprintf(&b, "%q", string(c))
			}
		}
	}
	b.WriteString("</>")
	return b.String()
}

// sameSession finds the proxy's connection whose client-to-server stanzas are those of
// v (stanza ids are random, so only one can match).
func sameSession(proxyViews []*view, v *view) *view {
	for _, p := range proxyViews {
		if len(v.stanzas[inspect.ClientToServer]) > 0 && slices.Equal(p.stanzas[inspect.ClientToServer], v.stanzas[inspect.ClientToServer]) {
			return p
		}
	}
	return nil
}

// compareViews checks that each connection read from a log has the stanzas, in both
// directions and in order, that the proxy recorded of one of its connections, and that
// the log's times are the proxy's times give or take slack (zero: only check that the
// records have times).
func compareViews(t *testing.T, name string, logRecs, proxyRecs []*inspect.Record, server bool, wantConns int, slack time.Duration) {
	t.Helper()
	lv := views(t, logRecs, server)
	pv := views(t, proxyRecs, server)
	n := 0
	for _, v := range lv {
		if len(v.stanzas[inspect.ClientToServer])+len(v.stanzas[inspect.ServerToClient]) == 0 {
			continue
		}
		n++
		p := sameSession(pv, v)
		if p == nil {
			t.Errorf("%s: connection %d (%s): no connection of the proxy has its %d client stanzas:\n%s",
				name, v.conn, v.sessions, len(v.stanzas[inspect.ClientToServer]), diffHint(pv, v))
			continue
		}
		for _, dir := range []inspect.Direction{inspect.ClientToServer, inspect.ServerToClient} {
			if !slices.Equal(v.stanzas[dir], p.stanzas[dir]) {
				t.Errorf("%s: connection %d %v: the log has %d stanzas, the proxy %d:\n%s", name, v.conn, dir,
					len(v.stanzas[dir]), len(p.stanzas[dir]), listDiff(v.stanzas[dir], p.stanzas[dir]))
				continue
			}
			for i, r := range v.recs[dir] {
				if r.Time.IsZero() {
					t.Errorf("%s: connection %d %v stanza %d has no time", name, v.conn, dir, i+1)
					break
				}
				if d := r.Time.Sub(p.recs[dir][i].Time).Abs(); slack > 0 && d > slack {
					t.Errorf("%s: connection %d %v stanza %d: log time %v, proxy time %v", name, v.conn, dir, i+1, r.Time, p.recs[dir][i].Time)
					break
				}
			}
		}
	}
	if n != wantConns {
		t.Errorf("%s: %d connections with stanzas, want %d", name, n, wantConns)
	}
}

func diffHint(pv []*view, v *view) string {
	var b strings.Builder
	for _, p := range pv {
		fmt.Fprintf(&b, "proxy connection %d:\n%s", p.conn, listDiff(v.stanzas[inspect.ClientToServer], p.stanzas[inspect.ClientToServer]))
	}
	return b.String()
}

// listDiff shows the first difference of two lists.
func listDiff(a, b []string) string {
	for i := 0; i < max(len(a), len(b)); i++ {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return fmt.Sprintf("  first difference at %d:\n  log:   %s\n  proxy: %s\n", i+1, x, y)
		}
	}
	return ""
}

// TestLogsProsodySlixmpp: two slixmpp clients (STARTTLS, SCRAM, roster, ping, chat with
// escaped characters and a line break) through the proxy to Prosody. Read back: each
// client's slixmpp log gives its connection; Prosody's debug log gives both sessions,
// interleaved; all three agree with the proxy's log.
func TestLogsProsodySlixmpp(t *testing.T) {
	requireSlixmpp(t)
	upstream, prosodyLog := startProsodyDebug(t)
	addr, caPEM, proxyLog, stopProxy := runLoggingProxy(t, upstream)
	aliceLog, bobLog := slixmppPair(t, addr, caPEM, false)
	stopProxy()
	proxyRecs := readRecordFile(t, proxyLog)

	for _, c := range []struct{ name, path string }{{"alice's slixmpp log", aliceLog}, {"bob's slixmpp log", bobLog}} {
		recs := inspectLog(t, c.path, "slixmpp")
		compareViews(t, c.name, recs, proxyRecs, false, 1, 0)
	}
	// Prosody's log is written as the server sees it; the proxy was its client.
	recs := inspectLog(t, prosodyLog, "prosody")
	compareViews(t, "Prosody's log", recs, proxyRecs, true, 2, 0)
	if !hasBody(recs, "second line <&> 'quoted' \"double\"\nand a new line") {
		t.Error("Prosody's log: the message with a line break is not read whole")
	}
}

// TestLogsEjabberdSlixmpp: the same with ejabberd (accounts made in-band). ejabberd logs
// the raw bytes it reads (stream headers, several stanzas in one read, bytes that are not
// Latin-1 as a list of numbers) and each element it writes, with full timestamps.
func TestLogsEjabberdSlixmpp(t *testing.T) {
	requireSlixmpp(t)
	upstream, ejabberdLog := startEjabberdDebug(t)
	addr, caPEM, proxyLog, stopProxy := runLoggingProxy(t, upstream)
	aliceLog, _ := slixmppPair(t, addr, caPEM, true)
	stopProxy()
	proxyRecs := readRecordFile(t, proxyLog)

	compareViews(t, "alice's slixmpp log", inspectLog(t, aliceLog, "slixmpp"), proxyRecs, false, 1, 0)
	waitSettled(t, ejabberdLog)
	recs := inspectLog(t, ejabberdLog, "ejabberd")
	compareViews(t, "ejabberd's log", recs, proxyRecs, true, 2, 2*time.Second)
	if !hasBody(recs, "hello from slixmpp, café ☕") {
		t.Error("ejabberd's log: the message with characters beyond Latin-1 is not read")
	}
}

func hasBody(recs []*inspect.Record, body string) bool {
	for _, r := range recs {
		if r.Kind == inspect.KindStanza && r.Name == "message" {
			if e, err := r.Element(); err == nil {
				for _, c := range e.Children {
					if b, ok := c.(*inspect.Element); ok && b.Local == "body" && b.Text() == body {
						return true
					}
				}
			}
		}
	}
	return false
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// waitSettled waits (at most 10 s) until the file at path has not grown for 300 ms:
// ejabberd writes its log through its own logger process, which may still be writing the
// session's last lines when the clients are done (read early, the log had one connection
// with stanzas instead of two).
func waitSettled(t *testing.T, path string) {
	t.Helper()
	last, since := int64(-1), time.Now()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() != last {
			last, since = fi.Size(), time.Now()
		} else if time.Since(since) >= 300*time.Millisecond {
			return
		}
		time.Sleep(20 * time.Millisecond) // polling the file's size, with a deadline
	}
}
