package ca

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestLoadOrCreatePermissionsAndReload(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "conf", "stanzascope")
	c, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, c.CertPath(): 0o644, filepath.Join(dir, KeyFile): 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %o, want %o", path, got, want)
		}
	}
	c2, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.Fingerprint() != c2.Fingerprint() {
		t.Fatalf("reload made a new root: %s vs %s", c.Fingerprint(), c2.Fingerprint())
	}
	if len(c.Fingerprint()) != 32*3-1 {
		t.Fatalf("fingerprint %q", c.Fingerprint())
	}
}

func TestLoadOrCreateHalfPresent(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadOrCreate(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, KeyFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreate(dir); err == nil {
		t.Fatal("certificate without key: no error")
	}
	if err := os.WriteFile(filepath.Join(dir, KeyFile), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreate(dir); err == nil {
		t.Fatal("garbage key: no error")
	}
}

func TestDefaultDirHonoursXDG(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", "/x/y")
	d, err := DefaultDir()
	if err != nil || d != "/x/y/stanzascope" {
		t.Fatalf("DefaultDir = %q, %v", d, err)
	}
}

func TestLeafVerifiesAndIsCached(t *testing.T) {
	c, err := LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"localhost", "Example.ORG", "bücher.example", "127.0.0.1", "::1", ""} {
		crt, err := c.Leaf(name)
		if err != nil {
			t.Fatalf("Leaf(%q): %v", name, err)
		}
		host, _ := normalise(name)
		inter := x509.NewCertPool()
		if _, err := crt.Leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: c.Pool(), Intermediates: inter}); err != nil {
			t.Errorf("Leaf(%q) does not verify for %q: %v", name, host, err)
		}
		again, _ := c.Leaf(name)
		if again != crt {
			t.Errorf("Leaf(%q) not cached", name)
		}
	}
}

func TestLeafRejectsBadNames(t *testing.T) {
	c, err := LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	long := make([]byte, 300)
	for i := range long {
		long[i] = 'a'
	}
	for _, name := range []string{"a b", "x/y", "a..b", string(long), "<evil>"} {
		if _, err := c.Leaf(name); err == nil {
			t.Errorf("Leaf(%q): no error", name)
		}
	}
}

func TestLeafConcurrentAndBounded(t *testing.T) {
	c, err := LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 100 {
				if _, err := c.Leaf(string(rune('a'+i)) + "-" + string(rune('a'+j%26)) + ".test"); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	c.mu.Lock()
	n := len(c.cache)
	c.mu.Unlock()
	if n > maxCached {
		t.Fatalf("cache holds %d > %d", n, maxCached)
	}
}

func TestLeafTLSHandshake(t *testing.T) {
	c, err := LoadOrCreate(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srvCfg := &tls.Config{GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) { return c.Leaf(h.ServerName) }}
	a, b := pipeConns(t)
	errc := make(chan error, 1)
	go func() { errc <- tls.Server(a, srvCfg).Handshake() }()
	cl := tls.Client(b, &tls.Config{ServerName: "chat.example", RootCAs: c.Pool()})
	if err := cl.Handshake(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func BenchmarkLeafCached(b *testing.B) {
	c, err := LoadOrCreate(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Leaf("localhost"); err != nil {
			b.Fatal(err)
		}
	}
}
