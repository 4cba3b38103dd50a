package server

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"mellium.im/sasl"
	"mellium.im/xmpp"

	"github.com/stanzascope/stanzascope/switch/switchtest"
)

// TestAcceptOutOfDescriptors runs the server in a process whose descriptor table is full:
// accept fails with EMFILE, the server logs it once and keeps running, and the client
// waiting in the listen queue logs in as soon as descriptors are free again. The limit is
// the whole process's, so this test must not run in parallel with others (none calls
// t.Parallel in this package).
func TestAcceptOutOfDescriptors(t *testing.T) {
	logs := &logBuffer{}
	ts := startServer(t, func(c *Config) { c.Logf = logs.logf })
	switchtest.AddAccount(t, ts.srv.store, "alice", "pw")

	var orig syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
		t.Fatal(err)
	}
	open, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	low := orig
	low.Cur = uint64(len(open) + 64)
	if low.Cur > orig.Cur {
		t.Fatalf("the soft descriptor limit %d is already below what the test needs", orig.Cur)
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
			t.Errorf("restore RLIMIT_NOFILE: %v", err)
		}
	})
	var files []*os.File
	release := func() {
		for _, f := range files {
			f.Close()
		}
		files = nil
	}
	t.Cleanup(release)
	for len(files) < int(low.Cur) {
		f, err := os.Open(os.DevNull)
		if errors.Is(err, syscall.EMFILE) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	if len(files) == int(low.Cur) {
		t.Fatalf("opened %d files under a limit of %d without EMFILE", len(files), low.Cur)
	}
	// One descriptor for the client's socket; the server's accept then has none.
	files[len(files)-1].Close()
	files = files[:len(files)-1]
	conn, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	logs.waitLine(t, "too many open files")

	release()
	alice := switchtest.Login(t, conn, "alice@localhost",
		xmpp.StartTLS(&tls.Config{ServerName: "localhost", RootCAs: ts.pool}),
		xmpp.SASL("", "pw", sasl.ScramSha256),
		xmpp.BindResource(),
	)
	alice.SendRaw("<presence/>")
	alice.WaitFor("<presence", `from="`+alice.JID()+`"`)
	logs.waitLine(t, "accepting connections again")
	// Thousands of failed accepts, one line: the refusal is logged once per interval.
	if n := len(logs.matching("too many open files")); n != 1 {
		t.Errorf("%d log lines about the refusal, want 1:\n%s", n, strings.Join(logs.matching("accept"), "\n"))
	}
}
