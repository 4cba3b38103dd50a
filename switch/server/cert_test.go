package server

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestLoadOrCreateCert(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	cf, kf := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	c1, err := LoadOrCreateCert(cf, kf, "chat.example")
	if err != nil {
		t.Fatal(err)
	}
	for f, perm := range map[string]os.FileMode{cf: 0o644, kf: 0o600, dir: 0o700} {
		st, err := os.Stat(f)
		if err != nil || st.Mode().Perm() != perm {
			t.Errorf("%s: mode %v, want %v (%v)", f, st.Mode().Perm(), perm, err)
		}
	}
	if got := c1.Leaf.DNSNames; len(got) != 2 || got[0] != "chat.example" || got[1] != "localhost" {
		t.Errorf("names %v", got)
	}
	c2, err := LoadOrCreateCert(cf, kf, "chat.example")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c1.Certificate[0], c2.Certificate[0]) {
		t.Error("the kept certificate was not reused")
	}
	os.Remove(kf)
	if _, err := LoadOrCreateCert(cf, kf, "chat.example"); err == nil {
		t.Error("a certificate without its key was accepted (or overwritten)")
	}
}
