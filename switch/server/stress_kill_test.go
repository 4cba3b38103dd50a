//go:build stress && linux

package server

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/switch/store"
)

// TestStressKill9 kills the switch with SIGKILL twice: during a burst of registrations and
// offline messages, and while it delivers the stored messages to their recipient. After
// each restart the database opens, every acknowledged registration logs in, and every
// acknowledged message reaches its recipient (at least once: the delivery interrupted by
// the kill may repeat the chunk it had not confirmed yet, never lose one). A message is acknowledged when the
// sender got the answer to a ping sent after it (the switch handles a session's stanzas
// in order, and stores a message before it reads the next stanza).
func TestStressKill9(t *testing.T) {
	db := filepath.Join(t.TempDir(), "switch.db")
	srv := startKillable(t, db)
	registerRaw(t, srv.addr, "dana", "pw")
	registerRaw(t, srv.addr, "jane", "pw")
	jane := legacyLogin(t, srv.addr, "jane", "pw", "Home")

	// A burst of registrations beside the messages, each acknowledged by its result.
	regAcked := make(chan []string, 1)
	go func() {
		var acked []string
		defer func() { regAcked <- acked }()
		c, err := net.Dial("tcp", srv.addr)
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		c.SetDeadline(time.Now().Add(time.Minute))
		fmt.Fprint(c, legacyHeader)
		for i := 0; ; i++ {
			u := "reg" + strconv.Itoa(i)
			if _, err := fmt.Fprintf(c, "<iq id='%s' type='set'><query xmlns='jabber:iq:register'><username>%s</username><password>pw</password></query></iq>", u, u); err != nil {
				return
			}
			line, err := readUntil(r, "id='"+u+"'")
			if err != nil {
				return
			}
			if strings.Contains(line, "type='result'") {
				acked = append(acked, u)
			}
		}
	}()

	// The burst of messages: a ping after every 10; the kill after 150 are acknowledged.
	const every, killAt = 10, 150
	acked := 0
	jane.conn.SetDeadline(time.Now().Add(2 * time.Minute))
	killed := false
	var sent int
	for sent = 0; sent < 10*killAt && !killed; sent += every {
		var b strings.Builder
		for i := sent; i < sent+every; i++ {
			fmt.Fprintf(&b, "<message id='m%d' to='dana@localhost' type='chat'><body>m%d</body></message>", i, i)
		}
		fmt.Fprintf(&b, "<iq id='p%d' type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>", sent)
		if _, err := jane.conn.Write([]byte(b.String())); err != nil {
			break
		}
		if _, err := readUntil(jane.r, fmt.Sprintf("id='p%d'", sent)); err != nil {
			break
		}
		acked = sent + every
		if acked >= killAt {
			srv.kill(t) // while the registrations go on, and with jane's next burst unsent
			killed = true
		}
	}
	regs := <-regAcked
	if !killed {
		t.Fatalf("the burst stopped after %d acknowledged messages, before the kill", acked)
	}

	// Restart: the database opens; every acknowledged registration logs in.
	start := time.Now()
	srv = startKillable(t, db)
	restart := time.Since(start)
	for _, u := range regs {
		legacyLogin(t, srv.addr, u, "pw", "r").conn.Close()
	}

	// Dana logs in; the switch is killed as soon as she has read 40 stored messages (more
	// than two chunks: a delivery confirmed once at its end would repeat them all).
	const killAfter = 40
	seen := map[string]int{}
	dana := legacyLogin(t, srv.addr, "dana", "pw", "Home")
	dana.send("<presence/>")
	bodyRe := regexp.MustCompile(`<body>(m\d+)</body>`)
	beforeKill := 0
	for beforeKill < killAfter {
		s, err := dana.tryStanza(30 * time.Second)
		if err != nil {
			t.Fatalf("after the restart, %d stored messages, then: %v", beforeKill, err)
		}
		if m := bodyRe.FindStringSubmatch(s); m != nil {
			seen[m[1]]++
			beforeKill++
		}
	}
	srv.kill(t)
	for {
		s, err := dana.tryStanza(10 * time.Second)
		if err != nil {
			break
		}
		if m := bodyRe.FindStringSubmatch(s); m != nil {
			seen[m[1]]++
			beforeKill++
		}
	}

	// Restart again: the rest, and whatever the kill left unconfirmed, comes now, before
	// the answer to a ping sent after the presence.
	srv = startKillable(t, db)
	dana = legacyLogin(t, srv.addr, "dana", "pw", "Home")
	dana.send("<presence/><iq id='end' type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	after := 0
	for {
		s := dana.readStanza()
		if strings.HasPrefix(s, "<iq id='end'") {
			break
		}
		if m := bodyRe.FindStringSubmatch(s); m != nil {
			seen[m[1]]++
			after++
		}
	}
	var lost []string
	dups := 0
	for i := range acked {
		id := "m" + strconv.Itoa(i)
		if seen[id] == 0 {
			lost = append(lost, id)
		}
		dups += max(0, seen[id]-1)
	}
	if len(lost) > 0 {
		t.Errorf("%d acknowledged messages lost: %v", len(lost), lost)
	}
	// A delivery confirms each chunk once written: what a crash delivers again is at most
	// the chunk written since the last confirmation.
	if dups > offlineChunk {
		t.Errorf("%d messages delivered twice, more than one chunk (%d)", dups, offlineChunk)
	}
	figures(t, "kill -9 after %d acknowledged messages and %d acknowledged registrations: database reopened in %v, every registration logs in; kill -9 again after dana read %d stored messages: after the restart she read %d more, %d acknowledged messages lost, %d delivered twice",
		acked, len(regs), restart.Round(time.Millisecond), beforeKill, after, len(lost), dups)
}

// readUntil reads from r until it has read want, and returns what it read.
func readUntil(r *bufio.Reader, want string) (string, error) {
	var b strings.Builder
	for !strings.Contains(b.String(), want) || !strings.HasSuffix(b.String(), ">") {
		s, err := r.ReadString('>')
		b.WriteString(s)
		if err != nil {
			return b.String(), err
		}
	}
	return b.String(), nil
}

// killable is a switch in a process of its own (this test binary, re-executed), on a Bolt
// database, that the test can kill with SIGKILL. Its log lines are collected in logs.
type killable struct {
	cmd  *exec.Cmd
	addr string
	logs *logBuffer
}

func startKillable(t *testing.T, db string) *killable { return startKillableUnder(t, db) }

// startKillableUnder starts the switch process through the command prefix (e.g. prlimit
// and its options), if any.
func startKillableUnder(t *testing.T, db string, prefix ...string) *killable {
	t.Helper()
	args := append(prefix, os.Args[0], "-test.run=^TestKillableSwitchHelper$", "-test.v=false")
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "STANZASCOPE_KILLABLE_DB="+db)
	cmd.Stderr = os.Stderr
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	k := &killable{cmd: cmd, logs: new(logBuffer)}
	t.Cleanup(func() { k.kill(t) })
	r := bufio.NewReader(stdout)
	line, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "listening ") {
		t.Fatalf("switch process: %q, %v", line, err)
	}
	k.addr = strings.TrimSpace(strings.TrimPrefix(line, "listening "))
	go func() { // until the process ends; a pipe not read would block its log
		for {
			line, err := r.ReadString('\n')
			if l, ok := strings.CutPrefix(line, "log: "); ok {
				k.logs.logf("%s", strings.TrimSuffix(l, "\n"))
			}
			if err != nil {
				return
			}
		}
	}()
	return k
}

// kill sends SIGKILL to the process (it started it) and waits for it.
func (k *killable) kill(t *testing.T) {
	if k.cmd.ProcessState != nil {
		return
	}
	k.cmd.Process.Signal(syscall.SIGKILL)
	k.cmd.Wait()
}

// TestKillableSwitchHelper is the switch process of TestStressKill9 and
// TestStressFDLimit: a switch on the Bolt database the environment names, on a free
// loopback port it prints, until it is killed; its log lines go to its standard output.
// It does nothing in a normal test run.
func TestKillableSwitchHelper(t *testing.T) {
	db := os.Getenv("STANZASCOPE_KILLABLE_DB")
	if db == "" {
		t.Skip("helper process for TestStressKill9")
	}
	st, err := store.OpenBolt(db)
	if err != nil {
		fmt.Printf("open: %v\n", err)
		os.Exit(1)
	}
	logf := func(format string, args ...any) {
		fmt.Printf("log: "+strings.ReplaceAll(format, "\n", " ")+"\n", args...)
	}
	srv, err := New(Config{Domain: "localhost", Store: st, Logf: logf,
		RegistrationsPerMinute: -1, LoginsPerMinute: -1, LoginTimeout: time.Minute})
	if err != nil {
		fmt.Printf("new: %v\n", err)
		os.Exit(1)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Printf("listen: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("listening %s\n", ln.Addr())
	srv.Serve(context.Background(), ln) // until SIGKILL
	os.Exit(0)
}
