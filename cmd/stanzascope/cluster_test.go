package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/cmd/stanzascope/internal/loadgen"
	"github.com/stanzascope/stanzascope/switch/cluster/natstest"
	"github.com/stanzascope/stanzascope/switch/store/pgtest"
)

// TestSwitchCluster runs two `stanzascope switch --cluster` nodes on one NATS server and
// one PostgreSQL database: an account registered on one logs in on the other, a message
// crosses from one node to the other, and --metrics shows the node connected to NATS.
func TestSwitchCluster(t *testing.T) {
	start := clusterStarter(t)
	a, metricsA := start("a")
	b, _ := start("b")

	alice := legacyClient(t, a)
	alice.do("<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>", "<stream:stream")
	alice.do("<iq type='set' id='reg'><query xmlns='jabber:iq:register'><username>alice</username><password>pw</password></query></iq>", "id='reg' type='result'")
	alice.do("<iq type='set' id='auth'><query xmlns='jabber:iq:auth'><username>alice</username><password>pw</password><resource>a</resource></query></iq>", "id='auth' type='result'")
	bob := legacyClient(t, b)
	bob.do("<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>", "<stream:stream")
	bob.do("<iq type='set' id='reg'><query xmlns='jabber:iq:register'><username>bob</username><password>pw</password></query></iq>", "id='reg' type='result'")
	bob.do("<iq type='set' id='auth'><query xmlns='jabber:iq:auth'><username>bob</username><password>pw</password><resource>b</resource></query></iq>", "id='auth' type='result'")
	bob.do("<presence/>", "")
	// Node a learns of bob's session through NATS: poll with messages to his full JID until
	// one arrives (the ones before are kept offline, not lost).
	deadline := time.Now().Add(15 * time.Second)
	for i := 0; ; i++ {
		alice.do("<message to='bob@localhost/b' type='chat' id='m"+string(rune('a'+i%26))+"'><body>across</body></message>", "")
		if bob.try("<body>across</body>", 500*time.Millisecond) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no message crossed from node a to node b")
		}
	}
	resp, err := http.Get("http://" + metricsA + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"stanzascope_cluster_nats_connected 1", `stanzascope_cluster_stanzas_total{result="sent"}`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// clusterStarter starts a NATS server and a PostgreSQL database for the test, and returns
// a function that starts a `stanzascope switch --cluster` node on them and returns its
// address and its metrics' address.
func clusterStarter(t *testing.T, extra ...string) func(name string) (addr, metrics string) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	ns := natstest.Start(t)
	db := pgtest.Database(t)
	re := regexp.MustCompile(`(?s)metrics on http://(127\.0\.0\.1:\d+)/metrics.*serving localhost on (127\.0\.0\.1:\d+) \(database`)
	return func(name string) (addr, metrics string) {
		args := []string{"switch", "--listen", "127.0.0.1:0", "--db", db, "--cluster", ns.URL(), "--node", name,
			"--cluster-ttl", "3s", "--web", "off", "--format", "json", "--metrics", "127.0.0.1:0"}
		m := runCommand(t, re, append(args, extra...)...)
		return m[2], m[1]
	}
}

// TestBenchCluster runs `stanzascope bench` with two targets, the two nodes of a cluster:
// the clients register and log in on both, every pair across the nodes, and every
// message is delivered and counted as crossed.
func TestBenchCluster(t *testing.T) {
	start := clusterStarter(t, "--registrations-per-minute", "0", "--logins-per-minute", "0")
	a, _ := start("a")
	b, _ := start("b")
	var out, errOut syncBuffer
	args := []string{"bench", "--target", a + "," + b, "--domain", "localhost", "--register", "--clients", "6",
		"--rate", "150", "--duration", "1s", "--json"}
	if code := run(context.Background(), args, &out, &errOut); code != 0 {
		t.Fatalf("bench exited %d: %s", code, errOut.String())
	}
	var res loadgen.Result
	if err := json.Unmarshal([]byte(out.String()), &res); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	m := res.Messages
	if m == nil || m.Sent == 0 || m.Delivered != m.Sent || m.Lost != 0 || m.Errored != 0 || m.Crossed != m.Delivered || m.CrossedShare != 1 {
		t.Fatalf("messages %+v", m)
	}
	if res.Target != a+","+b || res.Login.OK != 6 {
		t.Fatalf("target %q, logins %+v", res.Target, res.Login)
	}
}

// TestSwitchClusterFlags: --cluster needs --node and a shared PostgreSQL database;
// --cluster-replicas is 1 to 5.
func TestSwitchClusterFlags(t *testing.T) {
	for _, args := range [][]string{
		{"switch", "--cluster", "nats://127.0.0.1:4222", "--db", "postgres://x@127.0.0.1/db"},
		{"switch", "--node", "a", "--db", "postgres://x@127.0.0.1/db"},
		{"switch", "--cluster", "nats://127.0.0.1:4222", "--node", "a", "--fresh"},
		{"switch", "--cluster", "nats://127.0.0.1:4222", "--node", "a", "--db", "postgres://x@127.0.0.1/db", "--cluster-replicas", "0"},
		{"switch", "--cluster", "nats://127.0.0.1:4222", "--node", "a", "--db", "postgres://x@127.0.0.1/db", "--cluster-replicas", "6"},
	} {
		var stderr strings.Builder
		if code := run(t.Context(), args, io.Discard, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2 (usage): %s", args, code, stderr.String())
		}
	}
}

// lineClient is a raw client that waits for text in what the server sends.
type lineClient struct {
	t    *testing.T
	c    net.Conn
	r    *bufio.Reader
	seen strings.Builder
}

func legacyClient(t *testing.T, addr string) *lineClient {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &lineClient{t: t, c: c, r: bufio.NewReader(c)}
}

// do sends s and, unless want is empty, waits up to 10 s for want.
func (l *lineClient) do(s, want string) {
	l.t.Helper()
	if _, err := l.c.Write([]byte(s)); err != nil {
		l.t.Fatal(err)
	}
	if want != "" && !l.try(want, 10*time.Second) {
		l.t.Fatalf("no %q after %q; got %q", want, s, l.seen.String())
	}
}

// try reports whether want arrives within d (what arrived before it is consumed).
func (l *lineClient) try(want string, d time.Duration) bool {
	l.c.SetReadDeadline(time.Now().Add(d))
	buf := make([]byte, 4096)
	for {
		if i := strings.Index(l.seen.String(), want); i >= 0 {
			rest := l.seen.String()[i+len(want):]
			l.seen.Reset()
			l.seen.WriteString(rest)
			return true
		}
		k, err := l.r.Read(buf)
		l.seen.Write(buf[:k])
		if err != nil {
			return strings.Contains(l.seen.String(), want)
		}
	}
}
