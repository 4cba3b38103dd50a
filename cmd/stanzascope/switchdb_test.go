package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stanzascope/stanzascope/switch/store"
)

// TestSwitchDamagedDatabase: a damaged database stops the switch at start with an error
// that names the file and says what to do, and leaves the file as it was.
func TestSwitchDamagedDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "switch.db")
	db, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// Only the two meta pages are left: the root bucket's page is gone.
	if err := os.Truncate(path, int64(2*os.Getpagesize())); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"switch", "--db", path, "--listen", "127.0.0.1:0"}, &out, &errb)
	if code != 1 {
		t.Fatalf("exit code %d, want 1; stderr: %s", code, errb.String())
	}
	for _, want := range []string{"damaged", path, "backup", "--db"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr does not say %q:\n%s", want, errb.String())
		}
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("the damaged file was changed")
	}
}
