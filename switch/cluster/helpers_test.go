package cluster_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmpp"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/switch/cluster"
	"github.com/stanzascope/stanzascope/switch/cluster/natstest"
	"github.com/stanzascope/stanzascope/switch/server"
	"github.com/stanzascope/stanzascope/switch/store/pgstore"
	"github.com/stanzascope/stanzascope/switch/store/pgtest"
	"github.com/stanzascope/stanzascope/switch/switchtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// testTTL is the sessions' time-to-live in the tests: short, so that a dead node's users
// go unavailable quickly, and long enough for a loaded machine to refresh in time.
const testTTL = 3 * time.Second

// env is a cluster under test: one NATS server, one PostgreSQL database, nodes.
type env struct {
	t       testing.TB
	nats    *natstest.Server // nil on a NATS cluster (newEnvURL)
	natsURL string
	tune    func(*cluster.Config)           // if set, changes each node's configuration
	wrap    func(net.Listener) net.Listener // if set, wraps the next node's listener
	dbURL   string
	certDir string
	cert    tls.Certificate
	pool    *x509.CertPool
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ns := natstest.Start(t)
	e := newEnvURL(t, ns.URL())
	e.nats = ns
	return e
}

// newEnvURL is newEnv on the NATS servers at url (comma separated).
func newEnvURL(t testing.TB, url string) *env {
	t.Helper()
	e := &env{t: t, natsURL: url, dbURL: pgtest.Database(t), certDir: t.TempDir()}
	var err error
	e.cert, err = server.LoadOrCreateCert(filepath.Join(e.certDir, "cert.pem"), filepath.Join(e.certDir, "key.pem"), "localhost")
	if err != nil {
		t.Fatal(err)
	}
	e.pool = x509.NewCertPool()
	e.pool.AddCert(e.cert.Leaf)
	return e
}

// node is a switch with its cluster node, in this process.
type node struct {
	name  string
	addr  string
	node  *cluster.Node
	stats *cluster.Stats
	sw    *server.Stats // the switch's
	db    *pgstore.Store
	logs  chan string
}

// startNode starts a switch node named name on its own connection to the database.
func (e *env) startNode(name string) *node {
	t := e.t
	t.Helper()
	db, err := pgstore.Open(context.Background(), e.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	n := &node{name: name, stats: new(cluster.Stats), sw: new(server.Stats), db: db, logs: make(chan string, 1024)}
	logf := func(f string, a ...any) {
		select {
		case n.logs <- name + ": " + fmt.Sprintf(f, a...):
		default:
		}
	}
	cfg := cluster.Config{URL: e.natsURL, Node: name, Store: db, TTL: testTTL, Stats: n.stats, Logf: logf}
	if e.tune != nil {
		e.tune(&cfg)
	}
	n.node, err = cluster.Open(context.Background(), cfg)
	if err != nil {
		db.Close()
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: db, Directory: n.node, TLS: &tls.Config{Certificates: []tls.Certificate{e.cert}}, Stats: n.sw, Logf: logf})
	if err != nil {
		t.Fatal(err)
	}
	n.node.SetReroute(srv.Reroute)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n.addr = ln.Addr().String()
	if e.wrap != nil {
		ln = e.wrap(ln)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
		n.node.Close()
		db.Close()
	})
	return n
}

// login logs user (password "pw") in on the switch at addr with a mellium client: STARTTLS,
// SCRAM, and the resource of origin if it has one.
func (e *env) login(addr, origin string) *switchtest.Client {
	e.t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		e.t.Fatal(err)
	}
	return switchtest.Login(e.t, c, origin,
		xmpp.StartTLS(&tls.Config{ServerName: "localhost", RootCAs: e.pool}),
		xmpp.SASL("", "pw", sasl.ScramSha256), xmpp.BindResource())
}

// online logs in and sends initial presence, waiting for its echo.
func (e *env) online(addr, origin string) *switchtest.Client {
	e.t.Helper()
	c := e.login(addr, origin)
	c.SendRaw("<presence/>")
	c.WaitFor("<presence", `from="`+c.JID()+`"`)
	return c
}

// subscribe makes a and b subscribed to each other's presence (both online) and waits
// until each saw the other's presence.
func subscribe(t *testing.T, a, b *switchtest.Client) {
	t.Helper()
	bareA, bareB := bare(a.JID()), bare(b.JID())
	a.SendRaw("<presence to='" + bareB + "' type='subscribe'/>")
	b.WaitFor(`type="subscribe"`, `from="`+bareA+`"`)
	b.SendRaw("<presence to='" + bareA + "' type='subscribed'/>")
	a.WaitFor("<presence", `from="`+b.JID()+`"`)
	b.SendRaw("<presence to='" + bareA + "' type='subscribe'/>")
	a.WaitFor(`type="subscribe"`, `from="`+bareB+`"`)
	a.SendRaw("<presence to='" + bareB + "' type='subscribed'/>")
	b.WaitFor("<presence", `from="`+a.JID()+`"`)
}

// availableOn waits until each of nodes sees c's session, available. A node hears of
// another node's sessions and their presence through NATS, on its own time: c's own node
// echoed its presence before the others need have heard of it, and a message to c's bare
// JID routed by a node that has not is kept for later, not delivered.
func availableOn(t testing.TB, c *switchtest.Client, nodes ...*node) {
	t.Helper()
	j := mustJID(t, c.JID())
	for _, n := range nodes {
		waitUntil(t, 30*time.Second, "node "+n.name+" sees "+c.JID()+" available", func() bool {
			s := n.node.Lookup(j)
			return s != nil && s.Presence().Available
		})
	}
}

func bare(full string) string {
	if i := strings.IndexByte(full, '/'); i >= 0 {
		return full[:i]
	}
	return full
}

// raw is a pre-1.0 client on a plain socket, to read stream errors byte for byte.
type raw struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
	seen strings.Builder
}

// rawLogin opens a pre-1.0 stream at addr and logs user (password "pw") in with resource
// res (jabber:iq:auth).
func rawLogin(t testing.TB, addr, user, res string) *raw {
	t.Helper()
	r := rawDial(t, addr)
	r.send("<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")
	r.expect("<stream:stream")
	r.send("<iq id='auth1' type='set'><query xmlns='jabber:iq:auth'><username>" + user + "</username><password>pw</password><resource>" + res + "</resource></query></iq>")
	r.expect("<iq id='auth1' type='result'/>")
	return r
}

// rawDial connects to addr.
func rawDial(t testing.TB, addr string) *raw {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &raw{t: t, conn: c, r: bufio.NewReader(c)}
}

func (r *raw) send(s string) {
	r.t.Helper()
	if _, err := r.conn.Write([]byte(s)); err != nil {
		r.t.Fatal(err)
	}
}

// expect reads until what arrived since the last expect contains s (10 s at most), and
// returns what came before s.
func (r *raw) expect(s string) string {
	r.t.Helper()
	r.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	for !strings.Contains(r.seen.String(), s) {
		k, err := r.r.Read(buf)
		r.seen.Write(buf[:k])
		if err != nil && !strings.Contains(r.seen.String(), s) {
			r.t.Fatalf("waiting for %q: %v; got %q", s, err, r.seen.String())
		}
	}
	seen := r.seen.String()
	at := strings.Index(seen, s)
	r.seen.Reset()
	r.seen.WriteString(seen[at+len(s):])
	return seen[:at]
}

// waitUntil polls cond until it holds, failing the test after d.
func waitUntil(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
	}
}

func addAccount(t testing.TB, db *pgstore.Store, user string) {
	t.Helper()
	switchtest.AddAccount(t, db, user, "pw")
}

func mustJID(t testing.TB, s string) inspect.JID {
	t.Helper()
	j, err := inspect.ParseJID(s)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// reportOnFailure has a failed test print what each of nodes counted and logged, so that
// a failure under load tells why a stanza did not arrive (was it sent, failed, kept?).
func reportOnFailure(t testing.TB, nodes ...*node) {
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, n := range nodes {
			s := n.stats
			t.Logf("node %s: sent %d received %d refused %d failed %d kept offline %d lost %d expired %d disconnects %d retried %d",
				n.name, s.Sent.Load(), s.Received.Load(), s.Refused.Load(), s.Failed.Load(), s.KeptOffline.Load(),
				s.Lost.Load(), s.Expired.Load(), s.Disconnects.Load(), s.Retried.Load())
			for len(n.logs) > 0 {
				t.Log(<-n.logs)
			}
		}
	})
}
