package main

// Test of --keylog (issue 14 item 7): a STARTTLS session goes client -> relay A ->
// `stanzascope proxy --keylog` -> relay B -> `stanzascope switch --keylog`. The relays
// write what they carry (TLS after STARTTLS) as pcap files; tshark from Debian decrypts
// them with the key logs and must find the chat body, and without them must not.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmpp"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/inspect/capture"
	"github.com/stanzascope/stanzascope/switch/store"
	"github.com/stanzascope/stanzascope/switch/switchtest"
)

// recordingRelay forwards connections to target and writes the bytes of both directions,
// as they pass, to a pcap file (synthetic TCP packets with the real addresses).
type recordingRelay struct {
	ln     net.Listener
	target string
	path   string
	file   *os.File
	pcap   *capture.PcapWriter
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  []net.Conn
	nextID uint64
}

func startRelay(t *testing.T, target string) *recordingRelay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "relay.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	pw, err := capture.NewPcapWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	r := &recordingRelay{ln: ln, target: target, path: path, file: f, pcap: pw}
	r.wg.Add(1)
	go r.accept(t)
	t.Cleanup(r.stop)
	return r
}

func (r *recordingRelay) addr() string { return r.ln.Addr().String() }

func (r *recordingRelay) accept(t *testing.T) {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", r.target)
		if err != nil {
			t.Errorf("relay: %v", err)
			c.Close()
			continue
		}
		r.mu.Lock()
		r.nextID++
		info := &inspect.ConnInfo{ID: r.nextID,
			Client: netip.MustParseAddrPort(c.RemoteAddr().String()), Server: netip.MustParseAddrPort(up.RemoteAddr().String())}
		r.conns = append(r.conns, c, up)
		r.mu.Unlock()
		r.pcap.Write(&inspect.Record{Kind: inspect.KindConnOpen, Conn: info, Time: time.Now()})
		var pair sync.WaitGroup
		pair.Add(2)
		r.wg.Add(1)
		go r.pipe(&pair, c, up, info, inspect.ClientToServer)
		go r.pipe(&pair, up, c, info, inspect.ServerToClient)
		go func() {
			defer r.wg.Done()
			pair.Wait()
			r.pcap.Write(&inspect.Record{Kind: inspect.KindConnClose, Conn: info, Time: time.Now()})
		}()
	}
}

// pipe copies src to dst; every chunk becomes a segment in the capture.
func (r *recordingRelay) pipe(pair *sync.WaitGroup, src, dst net.Conn, info *inspect.ConnInfo, dir inspect.Direction) {
	defer pair.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			// Any kind with bytes is written as a segment; whitespace says nothing more.
			r.pcap.Write(&inspect.Record{Kind: inspect.KindWhitespace, Conn: info, Dir: dir, Raw: append([]byte(nil), buf[:n]...), Time: time.Now()})
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if tc, ok := dst.(*net.TCPConn); ok {
				tc.CloseWrite()
			}
			return
		}
	}
}

// stop closes the listener and every connection, waits for the copies and closes the
// capture.
func (r *recordingRelay) stop() {
	r.ln.Close()
	r.mu.Lock()
	for _, c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
	r.pcap.Close()
	r.file.Close()
}

// runCommand runs a stanzascope command until the test ends and returns the first match
// of re in what it writes to stderr.
func runCommand(t *testing.T, re *regexp.Regexp, args ...string) []string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, io.Discard, &stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Errorf("%s did not stop", args[0])
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		if m := re.FindStringSubmatch(stderr.String()); m != nil {
			return m
		}
		select {
		case code := <-done:
			t.Fatalf("%s exited %d: %s", args[0], code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start: %s", args[0], stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// tsharkBodies returns tshark's detailed view of the XMPP messages in a capture,
// decrypting it with keylog ("" for none); it shows a body as `value: TEXT`. port
// carries XMPP.
func tsharkBodies(t *testing.T, tshark, pcap, keylog, port string) string {
	t.Helper()
	args := []string{"-r", pcap, "-d", "tcp.port==" + port + ",xmpp", "-Y", "xmpp.message.body", "-O", "xmpp", "-V"}
	if keylog != "" {
		args = append(args, "-o", "tls.keylog_file:"+keylog)
	}
	out, err := exec.Command(tshark, args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("tshark %v: %v\n%s", args, err, ee.Stderr)
		}
		t.Fatal(err)
	}
	return string(out)
}

func TestKeylogTshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	requirePeer(t, "tshark (Debian's tshark)", err)
	dir := t.TempDir()

	// The switch, with two accounts, and its key log.
	dbPath := filepath.Join(dir, "switch.db")
	db, err := store.OpenBolt(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	switchtest.AddAccount(t, db, "alice", "wonderland")
	switchtest.AddAccount(t, db, "bob", "builder")
	must(t, db.Close())
	switchKeylog := filepath.Join(dir, "switch.keys")
	m := runCommand(t, regexp.MustCompile(`on (127\.0\.0\.1:\d+) \(database`), "switch", "--listen", "127.0.0.1:0", "--db", dbPath,
		"--keylog", switchKeylog, "--format", "json")
	relayB := startRelay(t, m[1])

	// The proxy in front of relay B, and relay A in front of the proxy.
	proxyKeylog := filepath.Join(dir, "proxy.keys")
	// An existing key log is appended to and made private.
	must(t, os.WriteFile(proxyKeylog, []byte("# earlier\n"), 0o644))
	m = runCommand(t, regexp.MustCompile(`listening on (\S+) \(plaintext`), "proxy", "--listen", "127.0.0.1:0",
		"--upstream", relayB.addr(), "--upstream-insecure", "--ca-dir", filepath.Join(dir, "ca"), "--keylog", proxyKeylog, "--format", "json")
	relayA := startRelay(t, m[1])
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca", "stanzascope-ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)

	login := func(user, pass string) *switchtest.Client {
		conn, err := net.Dial("tcp", relayA.addr())
		if err != nil {
			t.Fatal(err)
		}
		return switchtest.Login(t, conn, user+"@localhost",
			xmpp.StartTLS(&tls.Config{ServerName: "localhost", RootCAs: roots}),
			xmpp.SASL("", pass, sasl.ScramSha256, sasl.ScramSha1), xmpp.BindResource())
	}
	alice, bob := login("alice", "wonderland"), login("bob", "builder")
	const body = "the keylog lets tshark read this"
	alice.Chat(bob.JID(), body)
	bob.WaitFor(body)
	alice.Close()
	bob.Close()
	relayA.stop()
	relayB.stop()

	for _, kl := range []string{proxyKeylog, switchKeylog} {
		st, err := os.Stat(kl)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", filepath.Base(kl), st.Mode().Perm())
		}
		data, _ := os.ReadFile(kl)
		if !strings.Contains(string(data), "CLIENT_TRAFFIC_SECRET_0 ") && !strings.Contains(string(data), "CLIENT_RANDOM ") {
			t.Errorf("%s holds no TLS secrets:\n%s", filepath.Base(kl), data)
		}
	}
	if data, _ := os.ReadFile(proxyKeylog); !strings.HasPrefix(string(data), "# earlier\n") {
		t.Error("the proxy's key log was not appended to")
	}

	portOf := func(addr string) string {
		_, p, _ := net.SplitHostPort(addr)
		return p
	}
	// Client leg: both clients' sessions; the proxy is their server. Upstream leg: the
	// proxy is the client, the switch the server; both key logs decrypt it.
	for _, c := range []struct {
		name, pcap, keylog, port string
	}{
		{"client leg with the proxy's key log", relayA.path, proxyKeylog, portOf(m[1])},
		{"upstream leg with the proxy's key log", relayB.path, proxyKeylog, portOf(relayB.target)},
		{"upstream leg with the switch's key log", relayB.path, switchKeylog, portOf(relayB.target)},
	} {
		if got := tsharkBodies(t, tshark, c.pcap, "", c.port); strings.Contains(got, body) {
			t.Fatalf("%s: tshark reads the body without the key log: the capture is not encrypted", c.name)
		}
		// Once sent by alice, once received by bob: two messages carry it.
		if got := tsharkBodies(t, tshark, c.pcap, c.keylog, c.port); strings.Count(got, "value: "+body+"\n") != 2 {
			t.Errorf("%s: tshark decrypted %d bodies, want 2:\n%s", c.name, strings.Count(got, "value: "+body+"\n"), got)
		}
	}
}
