package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/switch/store/pgstore"
	"github.com/stanzascope/stanzascope/switch/store/pgtest"
)

// TestMain removes the PostgreSQL cluster that the --db postgres:// tests start (only when
// one of them runs).
func TestMain(m *testing.M) { pgtest.Main(m) }

// TestSwitchPostgres runs `stanzascope switch --db postgres://...`: the schema is created
// at start, a registration lands in PostgreSQL, the password in the URL is never printed,
// and the certificate is kept in the default data directory.
func TestSwitchPostgres(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_DATA_HOME", dir)
	// Trust authentication ignores the password; it is there to check it is not shown.
	url := strings.Replace(pgtest.Database(t), "postgres@", "postgres:Sp4mSp4m@", 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"switch", "--listen", "127.0.0.1:0", "--db", url, "--format", "json"}, &stdout, &stderr)
	}()
	re := regexp.MustCompile(`on (127\.0\.0\.1:\d+) \(database (.*)\)`)
	var m []string
	for deadline := time.Now().Add(30 * time.Second); m == nil && time.Now().Before(deadline); {
		select {
		case code := <-done:
			t.Fatalf("the switch exited with %d: %s", code, stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		m = re.FindStringSubmatch(stderr.String())
	}
	if m == nil {
		t.Fatalf("the switch did not start: %s", stderr.String())
	}
	if want := pgstore.Redact(url); m[2] != want || !strings.Contains(m[2], "xxxxx") {
		t.Errorf("database %q, want %q", m[2], want)
	}
	if got := talk(t, m[1]); !strings.Contains(got, "<iq id='auth1' type='result'/>") {
		t.Fatalf("switch answered %q", got)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit code %d: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("switch did not stop")
	}
	for _, out := range []string{stdout.String(), stderr.String()} {
		if strings.Contains(out, "Sp4mSp4m") {
			t.Errorf("the database password was shown: %q", out)
		}
	}
	db, err := pgstore.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if a, err := db.Account(context.Background(), "mr_praline"); err != nil || len(a.Creds.SHA256.StoredKey) == 0 {
		t.Errorf("the registration is not in PostgreSQL: %+v, %v", a, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "stanzascope", "switch-key.pem")); err != nil {
		t.Errorf("certificate key: %v", err)
	}
}

// TestEmbeddedSwitchPostgres is the default mode's switch on PostgreSQL, and its error for
// a database that cannot be reached.
func TestEmbeddedSwitchPostgres(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, wait, err := embeddedSwitch(ctx, "localhost", pgtest.Database(t), t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	if got := talk(t, addr); !strings.Contains(got, "<iq id='auth1' type='result'/>") {
		t.Fatalf("switch answered %q", got)
	}
	cancel()
	if err := wait(); err != nil {
		t.Fatal(err)
	}

	// A port nobody listens on: the error names the database (without its password) and
	// says it is unavailable.
	_, _, err = embeddedSwitch(context.Background(), "localhost", "postgres://juliet:Sp4mSp4m@127.0.0.1:1/switch", t.Logf)
	if err == nil || !strings.Contains(err.Error(), "database unavailable") || strings.Contains(err.Error(), "Sp4mSp4m") ||
		!strings.Contains(err.Error(), "postgres://juliet:xxxxx@127.0.0.1:1/switch") {
		t.Errorf("unreachable database: %v", err)
	}
}
