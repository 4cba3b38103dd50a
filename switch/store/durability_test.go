package store_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/switch/store"
	"github.com/stanzascope/stanzascope/switch/store/storetest"
	bolt "go.etcd.io/bbolt"
)

// helperEnv names the database the helper process writes to.
const helperEnv = "STANZASCOPE_STORE_HELPER_DB"

// TestHelperProcess is not a test: TestKillDurability runs the test binary again with
// helperEnv set, and this function then writes records forever, printing "ack N" after
// each write returns, until it is killed.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(helperEnv)
	if path == "" {
		t.Skip("helper process for TestKillDurability")
	}
	b, err := store.OpenBolt(path)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(3)
	}
	if err := b.CreateAccount(ctx, storetest.SampleAccount("juliet")); err != nil {
		fmt.Println("error", err)
		os.Exit(3)
	}
	fmt.Println("ack account")
	// Bounded in count and time so an orphaned helper cannot run forever.
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; i < 1_000_000 && time.Now().Before(deadline); i++ {
		if err := b.AddOffline(ctx, "juliet", storetest.SampleMessage(i)); err != nil {
			fmt.Println("error", err)
			os.Exit(3)
		}
		if err := b.PutRosterItem(ctx, "juliet", storetest.SampleItem(fmt.Sprintf("c%d@example.net", i))); err != nil {
			fmt.Println("error", err)
			os.Exit(3)
		}
		fmt.Println("ack", i)
	}
	os.Exit(4)
}

// TestKillDurability kills a writing process with SIGKILL mid-way and checks that every
// write it acknowledged is in the database afterwards, and that the file was locked against
// a second process while the writer lived.
func TestKillDurability(t *testing.T) {
	const killAfter = 40
	path := filepath.Join(t.TempDir(), "switch.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	waited := false
	defer func() {
		if !waited {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	// The parent is stopped by the killer goroutine's deadline if the helper stalls.
	timer := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()

	acked, account, killed := -1, false, false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "ack account":
			account = true
		case strings.HasPrefix(line, "ack "):
			n, err := strconv.Atoi(strings.TrimPrefix(line, "ack "))
			if err != nil || n != acked+1 {
				t.Fatalf("helper printed %q after ack %d", line, acked)
			}
			acked = n
		default:
			t.Fatalf("helper: %s", line)
		}
		if acked == killAfter && !killed {
			if _, err := store.OpenBolt(path, store.WithLockTimeout(50*time.Millisecond)); !errors.Is(err, store.ErrLocked) {
				t.Errorf("open while another process writes: %v, want ErrLocked", err)
			}
			// SIGKILL to the helper's PID: no deferred code, no clean close.
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	waited = true
	if !killed {
		t.Fatalf("helper ended before it was killed (%d acks): %v", acked, err)
	}
	t.Logf("helper %d killed after %d acknowledged writes: %v", pid, acked+1, err)
	if !account {
		t.Fatal("account creation was never acknowledged")
	}

	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("reopen after kill -9: %v", err)
	}
	if err := db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return err
		}
		return nil
	}); err != nil {
		t.Fatalf("consistency check: %v", err)
	}
	db.Close()
	b, err := store.OpenBolt(path)
	if err != nil {
		t.Fatalf("reopen after kill -9: %v", err)
	}
	defer b.Close()
	if _, err := b.Account(ctx, "juliet"); err != nil {
		t.Fatalf("acknowledged account lost: %v", err)
	}
	roster, err := b.Roster(ctx, "juliet")
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, it := range roster {
		have[it.JID] = true
	}
	for i := 0; i <= acked; i++ {
		if !have[fmt.Sprintf("c%d@example.net", i)] {
			t.Errorf("acknowledged roster item %d lost", i)
		}
	}
	msgs, err := b.TakeOffline(ctx, "juliet")
	if err != nil {
		t.Fatal(err)
	}
	// Writes in flight at the kill may or may not be there; acknowledged ones must be.
	if len(msgs) < acked+1 {
		t.Fatalf("%d offline messages after %d acknowledged", len(msgs), acked+1)
	}
	storetest.CheckMessages(t, msgs[:acked+1], 0, acked+1)
}
