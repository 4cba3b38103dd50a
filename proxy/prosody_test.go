package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startProsody runs Debian's Prosody from testdata/prosody on a free loopback port with
// a certificate made now, registers alice and bob, and stops it by PID at test end. It
// skips when Prosody is not installed, unless CI is set, where that is a failure.
func startProsody(t *testing.T, requireTLS bool) (addr string, roots *x509.CertPool) {
	t.Helper()
	prosody, err1 := exec.LookPath("prosody")
	prosodyctl, err2 := exec.LookPath("prosodyctl")
	if err1 != nil || err2 != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("prosody is not installed (apt-get install prosody); CI requires it")
		}
		t.Skip("prosody not installed")
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	upCA := newCA(t)
	leaf, err := upCA.Leaf("localhost")
	if err != nil {
		t.Fatal(err)
	}
	var certPEM []byte
	for _, der := range leaf.Certificate {
		certPEM = append(certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(leaf.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	must(t, os.WriteFile(filepath.Join(dir, "localhost.crt"), certPEM, 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "localhost.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600))
	addr = freePort(t)
	_, port, _ := net.SplitHostPort(addr)
	tmpl, err := os.ReadFile("../testdata/prosody/prosody.cfg.lua")
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.NewReplacer("@DIR@", dir, "@PORT@", port, "@REQUIRE@", strconv.FormatBool(requireTLS)).Replace(string(tmpl))
	cfgPath := filepath.Join(dir, "prosody.cfg.lua")
	must(t, os.WriteFile(cfgPath, []byte(cfg), 0o644))
	for _, u := range [][2]string{{"alice", "wonderland"}, {"bob", "builder"}} {
		out, err := exec.Command(prosodyctl, "--config", cfgPath, "register", u[0], "localhost", u[1]).CombinedOutput()
		if err != nil {
			t.Fatalf("prosodyctl register %s: %v\n%s", u[0], err, out)
		}
	}
	cmd := exec.Command(prosody, "--config", cfgPath, "-F")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "prosody.log"))
			t.Logf("prosody log:\n%s", log)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return addr, upCA.Pool()
		}
		select {
		case err := <-exited:
			exited <- err
			log, _ := os.ReadFile(filepath.Join(dir, "prosody.log"))
			t.Fatalf("prosody exited early: %v\n%s", err, log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("prosody does not accept on %s", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestProsodySTARTTLS: mellium client -> proxy -> Prosody, TLS required on both legs,
// the proxy verifying Prosody's certificate and the client verifying the proxy's.
func TestProsodySTARTTLS(t *testing.T) {
	upAddr, upRoots := startProsody(t, true)
	authority := newCA(t)
	tp := startProxy(t, Config{Upstream: upAddr, CA: authority, UpstreamTLS: &tls.Config{RootCAs: upRoots}}, false)
	alice := melliumLogin(t, tp.addr, authority.Pool(), false, "alice", "wonderland")
	bob := melliumLogin(t, tp.addr, authority.Pool(), false, "bob", "builder")
	alice.Chat(bob.JID(), "hello prosody")
	bob.WaitFor("hello prosody")
	for _, want := range []string{"TLS with client: TLS 1.3", "TLS with upstream: TLS 1.3", "SASL: success", "bound JID alice@localhost/"} {
		tp.sink.waitNote(t, want)
	}
}

// TestProsodyDirectTLS: a Direct TLS client; the proxy does STARTTLS with Prosody itself.
func TestProsodyDirectTLS(t *testing.T) {
	upAddr, upRoots := startProsody(t, true)
	authority := newCA(t)
	tp := startProxy(t, Config{Upstream: upAddr, CA: authority, UpstreamTLS: &tls.Config{RootCAs: upRoots}}, true)
	alice := melliumLogin(t, tp.addr, authority.Pool(), true, "alice", "wonderland")
	bob := melliumLogin(t, tp.addr, authority.Pool(), true, "bob", "builder")
	alice.Chat(bob.JID(), "hello direct")
	bob.WaitFor("hello direct")
	tp.sink.waitNote(t, "the proxy negotiates STARTTLS with the upstream itself")
}
