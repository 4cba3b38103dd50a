package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/switch/store"
)

// testServer is a switch running on a loopback port for one test.
type testServer struct {
	srv     *Server
	addr    string
	cancel  context.CancelFunc
	done    chan error
	pool    *x509.CertPool
	certPEM []byte
}

// startServer runs a switch with a memory store (unless cfg.Store is set) and a fresh
// self-signed certificate, and stops it when the test ends.
func startServer(t testing.TB, mod func(*Config)) *testServer {
	t.Helper()
	return startServerWrapped(t, mod, nil)
}

// startServerWrapped is startServer with the listener wrapped by wrap (unless nil), for
// tests that inject faults into the server's sockets.
func startServerWrapped(t testing.TB, mod func(*Config), wrap func(net.Listener) net.Listener) *testServer {
	t.Helper()
	dir := t.TempDir()
	cert, err := LoadOrCreateCert(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), "localhost")
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pemBytes, _ := os.ReadFile(filepath.Join(dir, "cert.pem"))
	pool.AppendCertsFromPEM(pemBytes)
	cfg := Config{
		Domain: "localhost",
		Store:  store.NewMemory(),
		TLS:    &tls.Config{Certificates: []tls.Certificate{cert}},
	}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		ln = wrap(ln)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{srv: srv, addr: ln.Addr().String(), cancel: cancel, done: make(chan error, 1), pool: pool, certPEM: pemBytes}
	go func() { ts.done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() { ts.stop(t) })
	return ts
}

// stop cancels the server and waits for Serve to return (idempotent).
func (ts *testServer) stop(t testing.TB) {
	ts.cancel()
	if ts.done == nil {
		return
	}
	select {
	case err := <-ts.done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Errorf("Serve did not return after cancel")
	}
	ts.done = nil
}

// rawClient is a person at a telnet prompt: it writes exact bytes and reads exact bytes.
type rawClient struct {
	t    testing.TB
	conn net.Conn
	r    *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawClient{t: t, conn: c, r: bufio.NewReader(c)}
}

func (c *rawClient) send(s string) {
	c.t.Helper()
	c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c.conn, s); err != nil {
		c.t.Fatalf("write %q: %v", s, err)
	}
}

// expect reads exactly len(want) bytes and compares them with want.
func (c *rawClient) expect(want string) {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len(want))
	n, err := io.ReadFull(c.r, got)
	if err != nil || string(got) != want {
		c.t.Fatalf("expected\n  %s\ngot\n  %s (err %v)", want, got[:n], err)
	}
}

// readStanza reads one top-level element (or the stream header, or a closing tag) by
// counting tags; enough for the server's output, which never uses CDATA or comments.
func (c *rawClient) readStanza() string {
	c.t.Helper()
	s, err := c.tryStanza(5 * time.Second)
	if err != nil {
		c.t.Fatalf("reading a stanza: %v (got %q)", err, s)
	}
	return s
}

func (c *rawClient) tryStanza(d time.Duration) (string, error) {
	c.conn.SetReadDeadline(time.Now().Add(d))
	var b strings.Builder
	depth := 0
	for {
		ch, err := c.r.ReadByte()
		if err != nil {
			return b.String(), err
		}
		b.WriteByte(ch)
		if ch != '>' {
			continue
		}
		s := b.String()
		tag := s[strings.LastIndex(s, "<"):]
		switch {
		case strings.HasPrefix(tag, "<?"):
			continue
		case strings.HasPrefix(tag, "<stream:stream"):
			return s, nil
		case strings.HasPrefix(tag, "</"):
			depth--
		case strings.HasSuffix(tag, "/>"):
		default:
			depth++
		}
		if depth <= 0 {
			return s, nil
		}
	}
}

// expectRe reads one stanza and matches it against the regular expression re (anchored).
func (c *rawClient) expectRe(re string) string {
	c.t.Helper()
	s := c.readStanza()
	if !regexp.MustCompile("^" + re + "$").MatchString(s) {
		c.t.Fatalf("expected match of\n  %s\ngot\n  %s", re, s)
	}
	return s
}

// expectEOF waits for the server to close the connection.
func (c *rawClient) expectEOF() {
	c.t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := c.r.ReadByte()
	// A reset is a close too: the kernel sends one when the server closes a socket that
	// still holds bytes it did not read, which a loaded machine makes a matter of timing.
	if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		c.t.Fatalf("expected the server to close the connection, got %q, %v", b, err)
	}
}

// markers numbers the messages of expectNothingBefore.
var markers atomic.Int64

// expectNothingBefore checks that nothing reaches c before a marker: from sends a message
// to toJID (c's full JID) and c must read exactly that message next. A session's stanzas
// are routed in order, and a stanza is routed while its sender's session handles it, so
// anything due to c from an earlier stanza would arrive first. Unlike waiting for silence,
// this cannot pass only because the machine was too slow to deliver in time.
func (c *rawClient) expectNothingBefore(from *rawClient, fromJID, toJID string) {
	c.t.Helper()
	id := "marker" + strconv.FormatInt(markers.Add(1), 10)
	from.send("<message to='" + toJID + "' id='" + id + "' type='chat'><body>marker</body></message>")
	c.expect("<message to='" + toJID + "' id='" + id + "' type='chat' from='" + fromJID + "'><body>marker</body></message>")
}

const legacyHeader = "<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
const headerRe = `<\?xml version='1.0'\?><stream:stream xmlns:stream='http://etherx\.jabber\.org/streams' id='[0-9a-f]{32}' xmlns='jabber:client' from='localhost'>`

// legacyLogin opens a pre-1.0 stream and logs in with jabber:iq:auth.
func legacyLogin(t testing.TB, addr, user, pass, res string) *rawClient {
	t.Helper()
	return legacyAuth(dialRaw(t, addr), user, pass, res)
}

// legacyAuth opens a pre-1.0 stream on c and logs in with iq:auth; it returns c.
func legacyAuth(c *rawClient, user, pass, res string) *rawClient {
	c.t.Helper()
	c.send(legacyHeader)
	c.expectRe(headerRe)
	c.send("<iq id='auth1' type='set'><query xmlns='jabber:iq:auth'><username>" + user + "</username><password>" + pass + "</password><resource>" + res + "</resource></query></iq>")
	c.expect("<iq id='auth1' type='result'/>")
	return c
}

// register creates an account through the store, as a registration would.
func registerRaw(t testing.TB, addr, user, pass string) {
	t.Helper()
	c := dialRaw(t, addr)
	c.send(legacyHeader)
	c.expectRe(headerRe)
	c.send("<iq id='r' type='set'><query xmlns='jabber:iq:register'><username>" + user + "</username><password>" + pass + "</password></query></iq>")
	c.expect("<iq id='r' type='result'/>")
	c.send("</stream:stream>")
	c.expect("</stream:stream>")
	c.expectEOF()
}

// logBuffer collects a server's log lines for a test.
type logBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (l *logBuffer) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

// matching returns the lines that contain s.
func (l *logBuffer) matching(s string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return out
}

// waitLine polls for a line containing s until a deadline.
func (l *logBuffer) waitLine(t *testing.T, s string) {
	t.Helper()
	if !l.await(s, 5*time.Second) {
		l.mu.Lock()
		defer l.mu.Unlock()
		t.Fatalf("no log line with %q; log:\n%s", s, strings.Join(l.lines, "\n"))
	}
}

// await polls for a line containing s for at most d, and reports whether one came.
func (l *logBuffer) await(s string, d time.Duration) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if len(l.matching(s)) > 0 {
			return true
		}
	}
	return false
}
