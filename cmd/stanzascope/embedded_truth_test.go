package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/proxy/ca"
	"github.com/stanzascope/stanzascope/switch/store"
	"github.com/stanzascope/stanzascope/switch/switchtest"
)

// The record is the truth (issue 12 item 3) in the configuration users run: the main job
// with its embedded switch, reached in process (switch/local). Two mellium clients log in
// through it (STARTTLS to the proxy, SCRAM, bind) and chat; for each connection, the JSON
// log's records of each direction, concatenated, must be byte for byte what the receiver
// got: the client's plaintext as it read it, and the switch's as the switch read it (its
// Observe records, made by its own reader from what its TLS connection gave).

// readRecorder keeps every byte read through it.
type readRecorder struct {
	net.Conn
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (r readRecorder) Read(p []byte) (int, error) {
	n, err := r.Conn.Read(p)
	r.mu.Lock()
	r.buf.Write(p[:n])
	r.mu.Unlock()
	return n, err
}

// observed keeps the switch's records (a noteSink, reporter_test.go).
type observed struct{ noteSink }

// waitJobExit waits for a job run in the test (run, cancelled) to end with exit code 0.
func waitJobExit(t *testing.T, code <-chan int, stderr *syncBuffer, what string) {
	t.Helper()
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("%s: exit code %d: %s", what, c, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not stop", what)
	}
}

// readObserved reads the JSON log at path into an observed.
func readObserved(t *testing.T, path string) *observed {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	logged := &observed{}
	if err := inspect.ReadJSONLog(f, logged); err != nil {
		t.Fatal(err)
	}
	return logged
}

// c2sOf returns the bytes the switch read from the connection of client, as its records
// say, and whether that connection has closed.
func (o *observed) c2sOf(client string) (string, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	var b strings.Builder
	closed := false
	for _, r := range o.recs {
		if r.Conn == nil || r.Conn.Client.String() != client {
			continue
		}
		if r.Kind == inspect.KindConnClose {
			closed = true
		}
		if r.Dir == inspect.ClientToServer && len(r.Raw) > 0 {
			b.Write(r.Raw)
		}
	}
	return b.String(), closed
}

// tlsOf reports whether the switch established TLS on the connection of client.
// securedOf says how the switch secured the connection of client: "tls" (a handshake),
// "in-process" (STARTTLS on the in-process link, no encryption), or "" (plaintext).
func (o *observed) securedOf(client string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, r := range o.recs {
		if r.Conn == nil || r.Conn.Client.String() != client || r.Kind != inspect.KindNote {
			continue
		}
		switch {
		case strings.HasPrefix(r.Note(), "switch: TLS established"):
			return "tls"
		case strings.HasPrefix(r.Note(), "switch: STARTTLS on the in-process link"):
			return "in-process"
		}
	}
	return ""
}

// loginRecorded opens a TCP connection to addr, negotiates STARTTLS by hand (so that
// every plaintext byte the client reads goes through a recorder, before and after TLS),
// then lets mellium log in as user over the TLS connection; with roots nil it stays in
// plaintext (SCRAM, which the switch offers without TLS). It returns the client, its
// address, and what it has read so far (a function: the session goes on reading).
func loginRecorded(t *testing.T, addr string, roots *tls.Config, user, pass string) (*switchtest.Client, string, func() string) {
	t.Helper()
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got bytes.Buffer
	read := func() string {
		mu.Lock()
		defer mu.Unlock()
		return got.String()
	}
	plain := readRecorder{raw, &mu, &got}
	raw.SetDeadline(time.Now().Add(20 * time.Second))
	until := func(c net.Conn, sub string) {
		t.Helper()
		b := make([]byte, 1)
		for !strings.Contains(read(), sub) {
			if _, err := c.Read(b); err != nil {
				t.Fatalf("waiting for %q: %v; got %q", sub, err, read())
			}
		}
	}
	var conn net.Conn = plain
	if roots != nil {
		io.WriteString(raw, "<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")
		until(plain, "</stream:features>")
		io.WriteString(raw, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
		until(plain, "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
		tc := tls.Client(raw, roots)
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		conn = readRecorder{tc, &mu, &got}
	}
	raw.SetDeadline(time.Time{})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	origin := jid.MustParse(user + "@localhost")
	// Secure also in plaintext: mellium negotiates SASL only on a stream it thinks secure.
	s, err := xmpp.NewSession(ctx, origin.Domain(), origin, conn, xmpp.Secure,
		xmpp.NewNegotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
			return xmpp.StreamConfig{Features: []xmpp.StreamFeature{xmpp.SASL("", pass, sasl.ScramSha256), xmpp.BindResource()}}
		}))
	if err != nil {
		t.Fatalf("mellium login of %s: %v", user, err)
	}
	return switchtest.Serve(t, s), raw.LocalAddr().String(), read
}

func TestEmbeddedRecordIsTheTruth(t *testing.T) {
	for _, withTLS := range []bool{true, false} {
		name := "plaintext"
		if withTLS {
			name = "STARTTLS"
		}
		t.Run(name, func(t *testing.T) { embeddedTruth(t, withTLS) })
	}
}

func embeddedTruth(t *testing.T, withTLS bool) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "db", "switch.db")
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := store.OpenBolt(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	switchtest.AddAccount(t, db, "alice", "wonderland")
	switchtest.AddAccount(t, db, "bob", "builder")
	db.Close()

	obs := &observed{}
	embeddedObserve = obs
	defer func() { embeddedObserve = nil }()
	logPath := filepath.Join(dir, "s.jsonl")
	// --show-secrets: the log carries the SASL exchange as it travelled, so that it can be
	// compared with what the switch read.
	args := []string{"--listen", "127.0.0.1:0", "--ca-dir", filepath.Join(dir, "ca"), "--db", dbPath,
		"--web", "off", "--format", "raw", "--log", logPath, "--show-secrets"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	code := make(chan int, 1)
	go func() { code <- run(ctx, args, &stdout, &stderr) }()
	addr := waitListening(t, &stderr, code)
	authority, err := ca.LoadOrCreate(filepath.Join(dir, "ca"))
	if err != nil {
		t.Fatal(err)
	}
	var tlsCfg *tls.Config
	if withTLS {
		tlsCfg = &tls.Config{ServerName: "localhost", RootCAs: authority.Pool()}
	}

	alice, aliceAddr, aliceGot := loginRecorded(t, addr, tlsCfg, "alice", "wonderland")
	bob, bobAddr, bobGot := loginRecorded(t, addr, tlsCfg, "bob", "builder")
	for i := range 20 {
		alice.Chat(bob.JID(), fmt.Sprintf("hello %d <&> through the embedded switch", i))
		bob.WaitFor(fmt.Sprintf("hello %d", i))
	}
	bob.Chat(alice.JID(), "bye")
	alice.WaitFor("bye")
	alice.Close()
	bob.Close()

	// Both connections end at the switch (it read the closing tags), then the job stops
	// and the log is complete.
	for _, a := range []string{aliceAddr, bobAddr} {
		for deadline := time.Now().Add(20 * time.Second); ; {
			if _, closed := obs.c2sOf(a); closed {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the switch did not see the connection of %s close", a)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	cancel()
	waitJobExit(t, code, &stderr, "the main job")
	logged := readObserved(t, logPath)

	for _, c := range []struct {
		name, addr string
		got        func() string
	}{{"alice", aliceAddr, aliceGot}, {"bob", bobAddr, bobGot}} {
		var c2s, s2c strings.Builder
		var lines []string
		for _, r := range logged.recs {
			if r.Conn == nil || r.Conn.Client.String() != c.addr {
				continue
			}
			lines = append(lines, fmt.Sprintf("%v %v %v %v %q", r.Dir, r.Kind, r.Producer(), r.Verdict, r.Raw))
			switch r.Kind {
			case inspect.KindStreamOpen, inspect.KindStanza, inspect.KindWhitespace, inspect.KindStreamClose:
			default:
				continue
			}
			if !r.Verdict.Delivered() {
				continue
			}
			if r.Dir == inspect.ClientToServer {
				c2s.Write(r.Raw)
			} else {
				s2c.Write(r.Raw)
			}
		}
		if len(lines) == 0 {
			t.Fatalf("%s: no record of the connection from %s in the log", c.name, c.addr)
		}
		switchGot, _ := obs.c2sOf(c.addr)
		// The leg to the switch is secured by STARTTLS when the client's is, as an
		// in-process link (no encryption memory to memory), and the record says so as
		// typed fields: the client's leg with its TLS version, the switch's in-process.
		// Both legs are plaintext when the client's is.
		want := ""
		if withTLS {
			want = "in-process"
		}
		if got := obs.securedOf(c.addr); got != want {
			t.Errorf("%s: TLS on the client's leg %v; the switch says the leg to it is secured by %q, want %q", c.name, withTLS, got, want)
		}
		legs := map[string]inspect.Milestone{}
		for _, r := range logged.recs {
			if r.Conn != nil && r.Conn.Client.String() == c.addr && r.Milestone() != nil && r.Milestone().Kind == inspect.MilestoneTLS {
				legs[r.Milestone().Leg] = *r.Milestone()
			}
		}
		if withTLS {
			if m := legs["client"]; m.Version == "" || m.InProcess {
				t.Errorf("%s: the log's TLS milestone of the client leg is %+v, want a TLS version, not in-process", c.name, m)
			}
			if m := legs["upstream"]; !m.InProcess || m.Version != "" || m.Cipher != "" {
				t.Errorf("%s: the log's TLS milestone of the leg to the switch is %+v, want in-process with no version or cipher", c.name, m)
			}
		} else if len(legs) != 0 {
			t.Errorf("%s: TLS milestones in a plaintext session: %+v", c.name, legs)
		}
		if !strings.Contains(switchGot, "hello") && c.name == "alice" {
			t.Fatalf("the switch's records of alice hold no chat: %q", switchGot)
		}
		t.Logf("%s: %d records, the client read %d bytes, the switch %d", c.name, len(lines), len(c.got()), len(switchGot))
		for _, d := range []struct{ dir, said, got string }{{"s2c (client)", s2c.String(), c.got()}, {"c2s (switch)", c2s.String(), switchGot}} {
			if d.said == d.got {
				continue
			}
			i := 0
			for i < len(d.said) && i < len(d.got) && d.said[i] == d.got[i] {
				i++
			}
			t.Errorf("%s: the %s records differ from what the receiver got at byte %d:\nrecords say  %q\nreceiver got %q\nrecords:\n%s",
				c.name, d.dir, i, d.said[i:], d.got[i:], strings.Join(lines, "\n"))
		}
	}
}
