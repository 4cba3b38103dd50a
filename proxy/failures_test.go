package proxy

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

const plainFeatures = "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>"

// politeServer answers a stream header with a header and features, then reads until the
// client closes its stream, answers with a closing tag and hangs up. What it received
// goes to got when got is not nil.
func politeServer(t testing.TB, got chan<- string) string {
	return rawServer(t, func(c net.Conn) {
		var buf strings.Builder
		b := make([]byte, 4096)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		headerDone := false
		for {
			n, err := c.Read(b)
			buf.Write(b[:n])
			if !headerDone && strings.Contains(buf.String(), "version='1.0'>") {
				headerDone = true
				io.WriteString(c, serverHeader+plainFeatures)
			}
			if strings.Contains(buf.String(), "</stream:stream>") {
				io.WriteString(c, "</stream:stream>")
				break
			}
			if err != nil {
				break
			}
		}
		if got != nil {
			got <- buf.String()
		}
	})
}

// freePort returns a loopback address nobody listens on.
func freePort(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// expectStreamError checks that out is a complete stream ending with the given error.
func expectStreamError(t testing.TB, out string, cond inspect.Cond) {
	t.Helper()
	if !strings.Contains(out, "<stream:stream") || !strings.Contains(out, "<stream:error><"+string(cond)+" xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>") || !strings.HasSuffix(out, "</stream:error></stream:stream>") {
		t.Fatalf("want a stream with a %s stream error, got %q", cond, out)
	}
	if _, err := inspect.NewReader(strings.NewReader(out), inspect.Limits{}).Next(); err != nil {
		t.Fatalf("stream error output does not start with a valid header: %v", err)
	}
}

func TestUpstreamUnreachable(t *testing.T) {
	tp := startProxy(t, Config{Upstream: freePort(t)}, false)
	c := dial(t, tp.addr)
	io.WriteString(c, clientHeader)
	expectStreamError(t, readAll(t, c), inspect.CondRemoteConnectionFailed)
	tp.sink.waitNote(t, "upstream unreachable (remote-connection-failed sent to the client)")
}

// fakeResolver answers SRV and host lookups from maps, so no query leaves the machine.
type fakeResolver struct {
	mu    sync.Mutex
	srv   map[string][]*net.SRV
	hosts map[string][]string
	asked []string
}

func (r *fakeResolver) LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	q := "_" + service + "._" + proto + "." + name
	r.asked = append(r.asked, q)
	if recs, ok := r.srv[name]; ok {
		return q, recs, nil
	}
	return "", nil, &net.DNSError{Err: "no such host", Name: q, IsNotFound: true}
}

func (r *fakeResolver) LookupHost(ctx context.Context, host string) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.asked = append(r.asked, host)
	if a, ok := r.hosts[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func TestHostUnknown(t *testing.T) {
	res := &fakeResolver{}
	tp := startProxy(t, Config{Upstream: "nowhere.test", Resolver: res}, false)
	c := dial(t, tp.addr)
	io.WriteString(c, clientHeader)
	expectStreamError(t, readAll(t, c), inspect.CondHostUnknown)
	tp.sink.waitNote(t, "host-unknown sent to the client")
	res.mu.Lock()
	defer res.mu.Unlock()
	if strings.Join(res.asked, ",") != "_xmpp-client._tcp.nowhere.test,nowhere.test" {
		t.Fatalf("lookups %v", res.asked)
	}
}

func TestSRV(t *testing.T) {
	got := make(chan string, 1)
	live := politeServer(t, got)
	_, livePort, _ := net.SplitHostPort(live)
	_, deadPort, _ := net.SplitHostPort(freePort(t))
	var lp, dp uint16
	fmt.Sscan(livePort, &lp)
	fmt.Sscan(deadPort, &dp)
	res := &fakeResolver{
		srv: map[string][]*net.SRV{"example.test": {
			{Target: "backup.example.test.", Port: lp, Priority: 20},
			{Target: "primary.example.test.", Port: dp, Priority: 10},
		}},
		hosts: map[string][]string{"primary.example.test": {"127.0.0.1"}, "backup.example.test": {"127.0.0.1"}},
	}
	tp := startProxy(t, Config{Upstream: "example.test", Resolver: res}, false)
	c := dial(t, tp.addr)
	io.WriteString(c, clientHeader)
	readUntil(t, c, "</stream:features>")
	io.WriteString(c, "</stream:stream>")
	readAll(t, c)
	if s := <-got; !strings.HasPrefix(s, clientHeader) {
		t.Fatalf("upstream got %q", s)
	}
	res.mu.Lock()
	defer res.mu.Unlock()
	// Priority order: the primary (dead) first, then the backup.
	if want := "_xmpp-client._tcp.example.test,primary.example.test,backup.example.test"; strings.Join(res.asked, ",") != want {
		t.Fatalf("lookups %v, want %s", res.asked, want)
	}
}

func TestSRVFallbackAndParsing(t *testing.T) {
	p, err := New(Config{Upstream: "example.test", Resolver: &fakeResolver{}})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.lookupSRV(context.Background(), "example.test"); len(got) != 1 || got[0] != (target{"example.test", 5222}) {
		t.Fatalf("fallback %v", got)
	}
	noService := &fakeResolver{srv: map[string][]*net.SRV{"example.test": {{Target: "."}}}}
	p.cfg.Resolver = noService
	if got := p.lookupSRV(context.Background(), "example.test"); len(got) != 0 {
		t.Fatalf("'.' target: %v", got)
	}
	for _, tc := range []struct {
		in      string
		host    string
		port    int
		hasPort bool
		bad     bool
	}{
		{"example.org", "example.org", 0, false, false},
		{"example.org:5223", "example.org", 5223, true, false},
		{"[::1]:5222", "::1", 5222, true, false},
		{"[::1]", "::1", 0, false, false},
		{"example.org:0", "", 0, false, true},
		{"example.org:x", "", 0, false, true},
		{"", "", 0, false, true},
		{"a b", "", 0, false, true},
	} {
		h, port, hp, err := splitUpstream(tc.in)
		if (err != nil) != tc.bad || h != tc.host || port != tc.port || hp != tc.hasPort {
			t.Errorf("splitUpstream(%q) = %q %d %v %v", tc.in, h, port, hp, err)
		}
	}
	if _, err := New(Config{}); err == nil {
		t.Error("New without upstream: no error")
	}
}

// TestUpstreamRefusesTLS: the upstream says proceed but its certificate is not trusted;
// the client gets remote-connection-failed instead of a proceed.
func TestUpstreamRefusesTLS(t *testing.T) {
	upCA := newCA(t)
	leaf, _ := upCA.Leaf("localhost")
	up := rawServer(t, func(c net.Conn) {
		readUntil(t, c, "version='1.0'>")
		io.WriteString(c, serverHeader+"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>")
		readUntil(t, c, "<starttls")
		c.Write(proceedTLS)
		tls.Server(c, &tls.Config{Certificates: []tls.Certificate{*leaf}}).Handshake()
	})
	tp := startProxy(t, Config{Upstream: up, CA: newCA(t), UpstreamTLS: &tls.Config{RootCAs: x509.NewCertPool()}}, false)
	c := dial(t, tp.addr)
	io.WriteString(c, clientHeader)
	readUntil(t, c, "</stream:features>")
	io.WriteString(c, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	out := readAll(t, c)
	if !strings.Contains(out, "<remote-connection-failed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>") || !strings.HasSuffix(out, "</stream:stream>") || strings.Contains(out, "proceed") {
		t.Fatalf("client got %q", out)
	}
	tp.sink.waitNote(t, "TLS with the upstream failed")
}

func TestMalformedFromClient(t *testing.T) {
	got := make(chan string, 1)
	tp := startProxy(t, Config{Upstream: politeServer(t, got)}, false)
	c := dial(t, tp.addr)
	io.WriteString(c, clientHeader)
	readUntil(t, c, "</stream:features>")
	io.WriteString(c, "<message><body>x</mess>")
	out := readAll(t, c)
	if !strings.HasSuffix(out, "<stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>") && !strings.Contains(out, "<not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>") {
		t.Fatalf("client got %q", out)
	}
	if !strings.HasSuffix(out, "</stream:stream>") {
		t.Fatalf("client stream not closed: %q", out)
	}
	if s := <-got; !strings.HasSuffix(s, "</stream:stream>") || strings.Contains(s, "</mess>") {
		t.Fatalf("upstream got %q, want the good part and a closing tag", s)
	}
	var found bool
	for _, r := range tp.sink.all() {
		if se := inspect.AsStreamError(r.Err()); r.Kind == inspect.KindError && se != nil && se.Line == 1 && se.Offset > 0 {
			found = true
		}
	}
	if !found {
		t.Fatal("no error record with a position")
	}
}

func TestMalformedFromUpstream(t *testing.T) {
	got := make(chan string, 1)
	up := rawServer(t, func(c net.Conn) {
		readUntil(t, c, "version='1.0'>")
		io.WriteString(c, serverHeader+plainFeatures+"<iq type='result'><!DOCTYPE x></iq>")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(c)
		got <- string(b)
	})
	tp := startProxy(t, Config{Upstream: up}, false)
	c := dial(t, tp.addr)
	io.WriteString(c, clientHeader)
	out := readAll(t, c)
	if !strings.HasSuffix(out, plainFeatures+"</stream:stream>") {
		t.Fatalf("client got %q", out)
	}
	s := <-got
	if !strings.Contains(s, "<stream:error><restricted-xml") && !strings.Contains(s, "<stream:error><not-well-formed") {
		t.Fatalf("upstream got %q, want a stream error", s)
	}
	if !strings.HasSuffix(s, "</stream:stream>") {
		t.Fatalf("upstream stream not closed: %q", s)
	}
}

func TestClientVanishes(t *testing.T) {
	got := make(chan string, 1)
	tp := startProxy(t, Config{Upstream: politeServer(t, got)}, false)
	c := dial(t, tp.addr)
	io.WriteString(c, clientHeader+"<presence/>")
	readUntil(t, c, "</stream:features>")
	c.Close()
	if s := <-got; s != clientHeader+"<presence/></stream:stream>" {
		t.Fatalf("upstream got %q", s)
	}
	tp.sink.waitNote(t, "client closed its stream")
}

func TestUpstreamVanishes(t *testing.T) {
	up := rawServer(t, func(c net.Conn) {
		readUntil(t, c, "version='1.0'>")
		io.WriteString(c, serverHeader+plainFeatures)
	})
	tp := startProxy(t, Config{Upstream: up}, false)
	c := dial(t, tp.addr)
	io.WriteString(c, clientHeader)
	if out := readAll(t, c); out != serverHeader+plainFeatures+"</stream:stream>" {
		t.Fatalf("client got %q", out)
	}
}

func TestShutdownClosesStreams(t *testing.T) {
	got := make(chan string, 3)
	tp := startProxy(t, Config{Upstream: politeServer(t, got)}, false)
	var conns []net.Conn
	for range 3 {
		c := dial(t, tp.addr)
		io.WriteString(c, clientHeader)
		readUntil(t, c, "</stream:features>")
		conns = append(conns, c)
	}
	tp.stop()
	for _, c := range conns {
		out := readAll(t, c)
		if out != "</stream:stream>" {
			t.Errorf("client got %q at shutdown", out)
		}
	}
	for range 3 {
		if s := <-got; !strings.HasSuffix(s, "</stream:stream>") {
			t.Errorf("upstream got %q at shutdown", s)
		}
	}
}

func TestIdleTimeout(t *testing.T) {
	tp := startProxy(t, Config{Upstream: politeServer(t, nil), IdleTimeout: 200 * time.Millisecond}, false)
	c := dial(t, tp.addr)
	io.WriteString(c, clientHeader)
	out := readAll(t, c)
	if !strings.Contains(out, "<connection-timeout xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>") || !strings.HasSuffix(out, "</stream:stream>") {
		t.Fatalf("client got %q", out)
	}
}

func openFDs(t testing.TB) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

// TestNoLeaks runs many short connections, well-behaved and not, and checks that no
// goroutine or descriptor survives them.
func TestNoLeaks(t *testing.T) {
	up := politeServer(t, nil)
	tp := startProxy(t, Config{Upstream: up, Sink: inspect.SinkFunc(func(*inspect.Record) error { return nil })}, false)
	// Warm up so lazily started runtime goroutines are not counted, and take the baseline
	// once the warm-up connection's own goroutines have ended.
	c := dial(t, tp.addr)
	io.WriteString(c, clientHeader+"</stream:stream>")
	readAll(t, c)
	c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for n, stacks := connGoroutines(); n > 0; n, stacks = connGoroutines() {
		if time.Now().After(deadline) {
			t.Fatalf("the warm-up connection left %d goroutines:\n%s", n, stacks)
		}
		time.Sleep(5 * time.Millisecond)
	}
	g0, f0 := runtime.NumGoroutine(), openFDs(t)
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", tp.addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			switch i % 4 {
			case 0: // polite
				io.WriteString(c, clientHeader+"<presence/></stream:stream>")
				io.ReadAll(c)
			case 1: // hangs up without a closing tag
				io.WriteString(c, clientHeader)
				b := make([]byte, 1024)
				c.Read(b)
			case 2: // malformed
				io.WriteString(c, clientHeader+"<a></b>")
				io.ReadAll(c)
			case 3: // gone before the header
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	var g, f, conns int
	var stacks string
	for time.Now().Before(deadline) {
		conns, stacks = connGoroutines()
		g, f = runtime.NumGoroutine(), openFDs(t)
		if conns == 0 && g <= g0 && f <= f0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("goroutines %d -> %d (%d serving a connection), fds %d -> %d\n%s", g0, g, conns, f0, f, stacks)
}

// connGoroutines counts the goroutines that serve one connection: every goroutine the
// proxy package (code or tests) started, except the accept loops of serveProxy and
// rawServer, which live as long as the test. It also returns all stacks, for a report.
func connGoroutines() (int, string) {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	const pkg = "created by github.com/stanzascope/stanzascope/proxy."
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		i := strings.Index(g, pkg)
		if i < 0 {
			continue
		}
		creator, _, _ := strings.Cut(g[i+len(pkg):], " ")
		if creator != "serveProxy" && creator != "rawServer" && !strings.HasPrefix(creator, "Test") {
			n++
		}
	}
	return n, string(buf)
}

var _ = errors.New
