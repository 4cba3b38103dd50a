package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/switch/scram"
	"github.com/stanzascope/stanzascope/switch/store"
)

// BenchmarkRouteMessages measures chat messages routed per second between two
// authenticated sessions over loopback TCP: one client writes b.N messages to the other's
// bare JID, the other reads them all.
func BenchmarkRouteMessages(b *testing.B) {
	// One client floods another with no flow control, faster than the other reads at
	// moments (both clients and the server share the CPUs): an outbox of the default size
	// would drop the reader, as it should drop a client that cannot keep up. The
	// benchmark measures routing, so its outbox holds the whole backlog (it peaked at
	// 1.4 MB in our runs).
	ts := startServer(b, func(c *Config) { c.MaxOutbox = 64 << 20 })
	registerRaw(b, ts.addr, "jane", "pw")
	registerRaw(b, ts.addr, "dana", "pw")
	jane := legacyLogin(b, ts.addr, "jane", "pw", "Home")
	dana := legacyLogin(b, ts.addr, "dana", "pw", "Home")
	dana.send("<presence/>")
	syncWith(dana, "dana@localhost/Home")
	msg := []byte("<message to='dana@localhost' type='chat'><body>I wish to complain about this parrot what I purchased not half an hour ago from this very boutique.</body></message>")
	want := int64(len(msg) + len(" from='jane@localhost/Home'"))

	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		w := bufio.NewWriterSize(jane.conn, 32<<10)
		jane.conn.SetWriteDeadline(time.Now().Add(5 * time.Minute))
		for i := 0; i < b.N; i++ {
			if _, err := w.Write(msg); err != nil {
				errc <- err
				return
			}
		}
		errc <- w.Flush()
	}()
	dana.conn.SetReadDeadline(time.Now().Add(5 * time.Minute))
	if _, err := io.CopyN(io.Discard, dana.r, want*int64(b.N)); err != nil {
		b.Fatalf("reading routed messages: %v", err)
	}
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkIdleSessionMemory measures the server's memory per idle authenticated session
// (each a 1.0 stream logged in with SASL and bound, with initial presence sent; in tls
// mode after STARTTLS), at 1,000 sessions or STANZASCOPE_IDLE_SESSIONS. The clients run in
// a separate process (this test binary re-executed), so the figures are the server's
// alone: (HeapInuse+StackInuse after - before) / n after forced GCs, accounts already
// stored (B/session), and the growth of the process's resident memory (VmRSS, Linux) over
// the same interval (rssB/session), which also counts what the Go heap keeps from the
// system, the runtime's own structures and the kernel's view of the pages. Only the first
// run in a process says something about RSS: later ones reuse the pages the first left
// resident (run -count 1, once per process).
func BenchmarkIdleSessionMemory(b *testing.B) {
	n := 1000
	if v, err := strconv.Atoi(os.Getenv("STANZASCOPE_IDLE_SESSIONS")); err == nil && v > 0 {
		n = v
	}
	for _, mode := range []string{"plain", "tls"} {
		b.Run(mode, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				perSession, heap, stack, rss := idleSessionMemory(b, mode, n)
				b.ReportMetric(perSession, "B/session")
				b.ReportMetric(heap, "heapB/session")
				b.ReportMetric(stack, "stackB/session")
				if rss > 0 {
					b.ReportMetric(rss, "rssB/session")
				}
			}
		})
	}
}

// vmRSS is the process's resident memory in bytes (Linux), or 0.
func vmRSS() float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" && f[2] == "kB" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb * 1024
		}
	}
	return 0
}

func idleSessionMemory(b *testing.B, mode string, n int) (total, heap, stack, rss float64) {
	st := store.NewMemory()
	creds, err := scram.NewCredentials("pw", scram.MinIterations)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := st.CreateAccount(context.Background(), store.Account{Username: "u" + strconv.Itoa(i), Creds: creds}); err != nil {
			b.Fatal(err)
		}
	}
	ts := startServer(b, func(c *Config) {
		c.Store = st
		c.LoginTimeout = 5 * time.Minute
		// Every client comes from 127.0.0.1.
		c.MaxConnsPerIP, c.LoginsPerMinute = -1, -1
	})
	before := memNow()
	rssBefore := vmRSS()
	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleClientsHelper$", "-test.v=false")
	cmd.Env = append(os.Environ(), "STANZASCOPE_IDLE_CLIENTS="+ts.addr+","+strconv.Itoa(n)+","+mode)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ready") {
		b.Fatalf("client process: %q, %v", line, err)
	}
	deadline := time.Now().Add(time.Duration(max(1, n/1000)) * time.Minute)
	for ts.srv.Sessions() < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := ts.srv.Sessions(); got != n {
		b.Fatalf("%d sessions bound, want %d", got, n)
	}
	// Idle means quiet for longer than idleRelease, after which a session's reader drops its
	// buffer (waitIdle): what a session that is logged in and silent costs.
	time.Sleep(idleRelease + 500*time.Millisecond)
	after := memNow()
	if rssBefore > 0 {
		rss = (vmRSS() - rssBefore) / float64(n)
	}
	if f := os.Getenv("STANZASCOPE_HEAPPROF"); f != "" {
		if w, err := os.Create(f + "." + mode); err == nil {
			pprof.WriteHeapProfile(w)
			w.Close()
		}
	}
	heap = float64(after.HeapInuse-before.HeapInuse) / float64(n)
	stack = float64(after.StackInuse-before.StackInuse) / float64(n)
	return heap + stack, heap, stack, rss
}

func memNow() runtime.MemStats {
	for i := 0; i < 5; i++ {
		runtime.GC()
	}
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m
}

// TestIdleClientsHelper is the client process of BenchmarkIdleSessionMemory: it logs in
// n users (u0..u<n-1>, password pw), sends initial presence, prints "ready" and holds the
// connections until its standard input closes. It does nothing in a normal test run.
func TestIdleClientsHelper(t *testing.T) {
	spec := os.Getenv("STANZASCOPE_IDLE_CLIENTS")
	if spec == "" {
		t.Skip("helper process for BenchmarkIdleSessionMemory")
	}
	parts := strings.Split(spec, ",")
	n, _ := strconv.Atoi(parts[1])
	conns := make([]net.Conn, 0, n)
	for i := 0; i < n; i++ {
		c, err := idleClient(parts[0], "u"+strconv.Itoa(i), parts[2] == "tls")
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		conns = append(conns, c)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	for _, c := range conns {
		c.Close()
	}
	os.Exit(0)
}

// idleClient logs in one user as a modern client does: a 1.0 stream, STARTTLS in tls mode,
// SASL PLAIN (offered on loopback), a stream restart and resource binding.
func idleClient(addr, user string, useTLS bool) (net.Conn, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(time.Minute))
	var conn net.Conn = c
	expect := func(what string) error {
		buf := make([]byte, 4096)
		var got []byte
		for !bytes.Contains(got, []byte(what)) {
			n, err := conn.Read(buf)
			if err != nil {
				return fmt.Errorf("%s: waiting for %q: %v (got %q)", user, what, err, got)
			}
			got = append(got, buf[:n]...)
		}
		return nil
	}
	send := func(s string) error { _, err := io.WriteString(conn, s); return err }
	send(header10)
	if err := expect("</stream:features>"); err != nil {
		return nil, err
	}
	if useTLS {
		send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
		if err := expect("<proceed"); err != nil {
			return nil, err
		}
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
		conn = tc
		send(header10)
		if err := expect("</stream:features>"); err != nil {
			return nil, err
		}
	}
	send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00pw")) + "</auth>")
	if err := expect("<success"); err != nil {
		return nil, err
	}
	send(header10)
	if err := expect("</stream:features>"); err != nil {
		return nil, err
	}
	send("<iq id='b' type='set'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r</resource></bind></iq>")
	if err := expect("</iq>"); err != nil {
		return nil, err
	}
	send("<presence/>")
	c.SetDeadline(time.Time{})
	return conn, nil
}

// BenchmarkRestamp measures the start-tag rewrite every routed stanza goes through.
func BenchmarkRestamp(b *testing.B) {
	raw := []byte("<message id='jcl_52' to='Mr_Praline@localhost' type='chat' from='spoof@localhost'><thread>parrot</thread><body>Oh yes, the, uh, the Norwegian Blue...What&apos;s,uh...What&apos;s wrong with it?</body><x xmlns='jabber:x:event'><composing/></x></message>")
	tail := []kv{{"from", "dana@localhost/Home"}}
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for i := 0; i < b.N; i++ {
		if _, err := restamp(raw, nil, tail, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStampFrom measures the router's stamp of a message (stampFrom, then the copy
// into a recipient's outbox buffer): what BenchmarkRestamp's rewrite costs a routed
// message now.
func BenchmarkStampFrom(b *testing.B) {
	raw := []byte("<message id='jcl_52' to='Mr_Praline@localhost' type='chat' from='spoof@localhost'><thread>parrot</thread><body>Oh yes, the, uh, the Norwegian Blue...What&apos;s,uh...What&apos;s wrong with it?</body><x xmlns='jabber:x:event'><composing/></x></message>")
	from := string(appendAttr(nil, "from", "dana@localhost/Home"))
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for i := 0; i < b.N; i++ {
		st, err := stampFrom(raw, from)
		if err != nil {
			b.Fatal(err)
		}
		buf = st.appendTo(buf[:0])
	}
}
