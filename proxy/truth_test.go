package proxy

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/rules"
)

// The record is the truth (issue 12 item 3): for every connection, the records of each
// direction, concatenated, are byte for byte the plaintext bytes that the receiving socket
// got: what the client read, what the upstream read. These tests record what each socket
// received (after TLS) and compare it with the records, whatever the proxy did in between:
// TLS on both legs, Direct TLS, features it edited, rules that rewrite, inject, drop and
// reject, its own stream errors, malformed input from either side, an upstream that fails.

// recorder keeps every byte read through it.
type recorder struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *recorder) add(b []byte) {
	r.mu.Lock()
	r.buf.Write(b)
	r.mu.Unlock()
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String()
}

// recConn is a connection whose reads are recorded.
type recConn struct {
	net.Conn
	rec *recorder
}

func (c recConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.rec.add(p[:n])
	return n, err
}

// scriptStep is what a scripted peer does next: wait until what it received since the
// last step contains until, then start TLS as a server (tls) or send send.
type scriptStep struct {
	until string
	send  string
	tls   bool
	end   bool // close the connection after this step (a peer that vanishes)
}

// scriptedUpstream is an XMPP server that follows steps for each connection and records
// the plaintext it receives. After the steps it reads until the proxy closes.
type scriptedUpstream struct {
	addr  string
	roots *x509.CertPool
	mu    sync.Mutex
	got   []*recorder // by connection, in accept order
	done  chan struct{}
}

func startScriptedUpstream(t *testing.T, steps []scriptStep) *scriptedUpstream {
	t.Helper()
	authority := newCA(t)
	leaf, err := authority.Leaf("localhost")
	if err != nil {
		t.Fatal(err)
	}
	u := &scriptedUpstream{roots: authority.Pool(), done: make(chan struct{}, 16)}
	u.addr = rawServer(t, func(c net.Conn) {
		defer func() { u.done <- struct{}{} }()
		rec := &recorder{}
		u.mu.Lock()
		u.got = append(u.got, rec)
		u.mu.Unlock()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		var conn net.Conn = recConn{c, rec}
		seen := 0
		for _, st := range steps {
			if st.until != "" && !waitFor(conn, rec, &seen, st.until) {
				return
			}
			if st.tls {
				// What the client sent after <starttls/> and before the handshake would be
				// lost: the proxy sends nothing, and a socket read is all it was.
				tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{*leaf}})
				if err := tc.Handshake(); err != nil {
					return
				}
				conn = recConn{tc, rec}
				seen = len(rec.String())
			}
			if st.send != "" {
				io.WriteString(conn, st.send)
			}
			if st.end {
				return
			}
		}
		io.Copy(io.Discard, conn)
	})
	return u
}

// waitFor reads from c until what rec holds beyond *seen contains sub; it moves *seen past
// it. It reports false when the connection ends first.
func waitFor(c net.Conn, rec *recorder, seen *int, sub string) bool {
	b := make([]byte, 4096)
	for {
		s := rec.String()
		if i := strings.Index(s[*seen:], sub); i >= 0 {
			*seen += i + len(sub)
			return true
		}
		if _, err := c.Read(b); err != nil {
			return false
		}
	}
}

func (u *scriptedUpstream) received(i int) string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if i >= len(u.got) {
		return ""
	}
	return u.got[i].String()
}

// checkTruth compares the records of connection id with what each side received.
func checkTruth(t *testing.T, recs []*inspect.Record, id uint64, clientGot, upstreamGot string) {
	t.Helper()
	var s2c, c2s strings.Builder
	var lines []string
	for _, r := range recs {
		if r.Conn == nil || r.Conn.ID != id {
			continue
		}
		lines = append(lines, fmt.Sprintf("%v %v %v %v %q %s", r.Dir, r.Kind, r.Producer(), r.Verdict, r.Raw, r.Note()))
		b := &c2s
		if r.Dir == inspect.ServerToClient {
			b = &s2c
		}
		if m := r.Milestone(); m != nil && m.Kind == inspect.MilestoneUnwritten {
			// The last bytes of the records before did not go: take them off.
			kept := b.String()[:b.Len()-int(m.UnwrittenBytes)]
			b.Reset()
			b.WriteString(kept)
		}
		if delivered(r) {
			b.Write(r.Raw)
		}
	}
	for _, d := range []struct{ dir, said, got string }{{"s2c", s2c.String(), clientGot}, {"c2s", c2s.String(), upstreamGot}} {
		if d.said == d.got {
			continue
		}
		i := 0
		for i < len(d.said) && i < len(d.got) && d.said[i] == d.got[i] {
			i++
		}
		t.Errorf("connection %d: the %s records differ from what the receiver got at byte %d:\nrecords say  %q\nreceiver got %q\nrecords:\n%s",
			id, d.dir, i, d.said[i:], d.got[i:], strings.Join(lines, "\n"))
	}
}

// delivered reports whether a record stands for bytes its receiver got.
func delivered(r *inspect.Record) bool {
	switch r.Kind {
	case inspect.KindStreamOpen, inspect.KindStanza, inspect.KindWhitespace, inspect.KindStreamClose:
	default:
		return false
	}
	return r.Verdict.Delivered()
}

// waitClosed waits for the close record of every connection the proxy served.
func waitClosed(t *testing.T, sink *recSink, n int) []*inspect.Record {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		recs := sink.all()
		closed := 0
		for _, r := range recs {
			if r.Kind == inspect.KindConnClose {
				closed++
			}
		}
		if closed >= n {
			return recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d connections closed", closed, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// clientScript runs steps as the client: send, then read until; with tls, a TLS handshake
// (trusting roots) before sending. It reads until the proxy closes, and returns all the
// plaintext it received.
func clientScript(t *testing.T, addr string, roots *x509.CertPool, direct bool, steps []scriptStep) string {
	t.Helper()
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	rec := &recorder{}
	var conn net.Conn = recConn{raw, rec}
	if direct {
		conn = recConn{tlsClient(t, raw, roots), rec}
	}
	seen := 0
	for _, st := range steps {
		if st.tls {
			conn = recConn{tlsClient(t, raw, roots), rec}
			seen = len(rec.String())
		}
		if st.send != "" {
			io.WriteString(conn, st.send)
		}
		if st.until != "" && !waitFor(conn, rec, &seen, st.until) {
			t.Fatalf("the client did not get %q; it got %q", st.until, rec.String())
		}
	}
	io.Copy(io.Discard, conn)
	return rec.String()
}

const (
	features1 = "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>" +
		"<compression xmlns='http://jabber.org/features/compress'><method>zlib</method></compression>" +
		"<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>"
	features2 = "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>" +
		"<mechanism>SCRAM-SHA-1-PLUS</mechanism><mechanism>PLAIN</mechanism></mechanisms>" +
		"<compression xmlns='http://jabber.org/features/compress'><method>zlib</method></compression></stream:features>"
	features3 = "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>"
	plainFeat = "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>"
	authPlain = "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAHNlY3JldA==</auth>"
	success   = "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
	bindReq   = "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"
	bindRes   = "<iq type='result' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>alice@localhost/r</jid></bind></iq>"
)

// truthHook rewrites, injects, drops and rejects by id.
var truthHook = HookFunc(func(in rules.Input) rules.Outcome {
	switch in.Record.Attr("id") {
	case "rewrite":
		return rules.Outcome{Replaced: []byte("<message id='rewritten'><body>changed</body></message>")}
	case "inject":
		return rules.Outcome{Inject: []rules.Injection{
			{Dir: in.Dir, Raw: []byte("<presence id='before'/>"), Before: true},
			{Dir: in.Dir.Reverse(), Raw: []byte("<message id='back'/>")},
		}}
	case "drop":
		return rules.Outcome{Verdict: rules.Drop}
	case "reject":
		return rules.Outcome{Verdict: rules.Reject, Inject: []rules.Injection{{Dir: in.Dir.Reverse(), Raw: []byte("<iq type='error' id='reject'/>")}}}
	}
	return rules.Outcome{}
})

func TestRecordIsTheTruth(t *testing.T) {
	ruled := "<message id='rewrite'><body>x</body></message> <message id='inject'/>\n" +
		"<message id='drop'/><iq type='get' id='reject'><query xmlns='jabber:iq:version'/></iq><message id='last'/>"
	for _, tc := range []struct {
		name     string
		direct   bool
		allow    bool
		noCA     bool
		upstream []scriptStep
		client   []scriptStep
		check    func(t *testing.T, clientGot string, recs []*inspect.Record)
	}{
		{
			name: "plaintext with rules",
			upstream: []scriptStep{
				{until: "version='1.0'>", send: serverHeader + plainFeat},
				{until: "<message id='last'/>", send: " <message id='s1'/>\n\n<message id='inject'/><message id='rewrite'/>"},
				{until: "</stream:stream>", send: "</stream:stream>"},
			},
			client: []scriptStep{
				{send: clientHeader, until: "</stream:features>"},
				{send: ruled, until: "<message id='rewritten'>"},
				{send: "</stream:stream>"},
			},
		},
		{
			name: "STARTTLS on both legs, features edited, SASL, restarts",
			upstream: []scriptStep{
				{until: "version='1.0'>", send: serverHeader + features1},
				{until: "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", send: "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"},
				{tls: true},
				{until: "version='1.0'>", send: serverHeader + features2},
				{until: "</auth>", send: success},
				{until: "version='1.0'>", send: serverHeader + features3},
				{until: "</iq>", send: bindRes},
				{until: "<message id='last'/>", send: "<message id='inject'/>"},
				{until: "</stream:stream>", send: "</stream:stream>"},
			},
			client: []scriptStep{
				{send: clientHeader, until: "</stream:features>"},
				{send: "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", until: "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"},
				{tls: true, send: clientHeader, until: "</stream:features>"},
				{send: authPlain, until: success},
				{send: clientHeader, until: "</stream:features>"},
				{send: bindReq, until: "</iq>"},
				{send: ruled, until: "<message id='back'/>"},
				{send: "</stream:stream>"},
			},
			check: func(t *testing.T, _ string, recs []*inspect.Record) {
				// The milestones are typed fields of the records, not only sentences.
				var got []string
				for _, r := range recs {
					if m := r.Milestone(); m != nil {
						got = append(got, fmt.Sprintf("%s %s %v %s %s %s", m.Kind, m.Leg, m.Version != "" && m.Cipher != "", m.SNI, m.Mechanism+m.Result+m.Condition, m.JID))
					}
				}
				want := []string{
					"tls upstream true localhost  ", "tls client true localhost  ",
					"sasl  false  PLAINchosen ", "sasl  false  success ", "bound  false   alice@localhost/r",
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("milestones\n%q\nwant\n%q", got, want)
				}
				// The features the proxy edited carry what the server sent and what the
				// client got.
				var edited int
				for _, r := range recs {
					if r.Name == "features" && r.Original() != nil && bytes.Contains(r.Original(), []byte("SCRAM-SHA-1-PLUS")) && !bytes.Contains(r.Raw, []byte("-PLUS")) {
						edited++
					}
				}
				if edited != 1 {
					t.Errorf("%d records of edited features with both versions, want 1", edited)
				}
			},
		},
		{
			name:   "Direct TLS, the proxy's own STARTTLS upstream",
			direct: true,
			upstream: []scriptStep{
				{until: "version='1.0'>", send: serverHeader + features1},
				{until: "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", send: "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"},
				{tls: true},
				{until: "version='1.0'>", send: serverHeader + features2},
				{until: "</auth>", send: success},
				{until: "version='1.0'>", send: serverHeader + features3},
				{until: "</stream:stream>", send: "</stream:stream>"},
			},
			client: []scriptStep{
				{send: clientHeader, until: "</stream:features>"},
				{send: authPlain, until: success},
				{send: clientHeader, until: "</stream:features>"},
				{send: "</stream:stream>"},
			},
		},
		{
			name:   "Direct TLS refused: the upstream offers no STARTTLS",
			direct: true,
			upstream: []scriptStep{
				{until: "version='1.0'>", send: serverHeader + plainFeat},
			},
			client: []scriptStep{{send: clientHeader}},
		},
		{
			name:  "STARTTLS answered by the proxy (allowed plaintext upstream)",
			allow: true,
			upstream: []scriptStep{
				{until: "version='1.0'>", send: serverHeader + plainFeat},
				{until: "</auth>", send: success},
				{until: "</stream:stream>", send: "</stream:stream>"},
			},
			client: []scriptStep{
				{send: clientHeader, until: "</stream:features>"},
				{send: "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>", until: "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"},
				{tls: true, send: clientHeader, until: "</stream:features>"},
				{send: authPlain, until: success},
				{send: "</stream:stream>"},
			},
		},
		{
			name: "STARTTLS asked without a CA",
			noCA: true,
			upstream: []scriptStep{
				{until: "version='1.0'>", send: serverHeader + features1},
			},
			client: []scriptStep{
				{send: clientHeader, until: "</stream:features>"},
				{send: "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"},
			},
		},
		{
			name: "malformed input from the client",
			upstream: []scriptStep{
				{until: "version='1.0'>", send: serverHeader + plainFeat},
			},
			client: []scriptStep{
				{send: clientHeader, until: "</stream:features>"},
				{send: "<message id='ok'/> <message><body>x</mess>"},
			},
		},
		{
			name: "pre-1.0 stream and a typo before the server answered",
			upstream: []scriptStep{
				{until: "jabber:client'>", send: "<?xml version='1.0'?><stream:stream from='localhost' id='s1' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"},
			},
			client: []scriptStep{
				{send: "<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>" +
					"<iq type='get' id='1'><query xmlns='jabber:iq:register'></iq>"},
			},
			check: func(t *testing.T, clientGot string, _ []*inspect.Record) {
				// Whichever header the client got, the proxy's own or the server's, it is
				// a pre-1.0 header like the client's.
				if strings.Count(clientGot, "version=") != strings.Count(clientGot, "<?xml version=") {
					t.Errorf("a pre-1.0 client got a versioned header: %q", clientGot)
				}
				if !strings.Contains(clientGot, "<not-well-formed ") {
					t.Errorf("no not-well-formed stream error: %q", clientGot)
				}
			},
		},
		{
			name: "malformed input from the upstream",
			upstream: []scriptStep{
				{until: "version='1.0'>", send: serverHeader + plainFeat},
				{until: "<message id='go'/>", send: "<message id='fine'/><message><body>x</mess>"},
			},
			client: []scriptStep{
				{send: clientHeader, until: "</stream:features>"},
				{send: "<message id='go'/>"},
			},
		},
		{
			name: "the upstream vanishes",
			upstream: []scriptStep{
				{until: "version='1.0'>", send: serverHeader + plainFeat},
				{until: "<message id='bye'/>", send: "<message id='last words'/>", end: true},
			},
			client: []scriptStep{
				{send: clientHeader, until: "</stream:features>"},
				{send: "<message id='bye'/>", until: "<message id='last words'/>"},
			},
		},
		{
			name: "a stream prefix of the client's own",
			upstream: []scriptStep{
				{until: "version='1.0'>", send: serverHeader + plainFeat},
			},
			client: []scriptStep{
				{send: "<s:stream to='localhost' xmlns='jabber:client' xmlns:s='http://etherx.jabber.org/streams' version='1.0'>", until: "</stream:features>"},
				{send: "<message><body>x</mess>"},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := startScriptedUpstream(t, tc.upstream)
			cfg := Config{Upstream: up.addr, Hook: truthHook, UpstreamTLS: &tls.Config{RootCAs: up.roots},
				AllowPlaintextUpstream: tc.allow, Logf: func(string, ...any) {}}
			if !tc.noCA {
				cfg.CA = newCA(t)
			}
			tp := startProxy(t, cfg, tc.direct)
			var roots *x509.CertPool
			if cfg.CA != nil {
				roots = cfg.CA.Pool()
			}
			clientGot := clientScript(t, tp.addr, roots, tc.direct, tc.client)
			recs := waitClosed(t, tp.sink, 1)
			select {
			case <-up.done:
			case <-time.After(10 * time.Second):
				t.Fatal("the upstream connection did not end")
			}
			checkTruth(t, recs, 1, clientGot, up.received(0))
			if tc.check != nil {
				tc.check(t, clientGot, recs)
			}
		})
	}
}

// An upstream that cannot be reached: what the client receives is recorded.
func TestRecordIsTheTruthUnreachable(t *testing.T) {
	tp := startProxy(t, Config{Upstream: freePort(t), Logf: func(string, ...any) {}}, false)
	clientGot := clientScript(t, tp.addr, nil, false, []scriptStep{{send: clientHeader}})
	if !strings.Contains(clientGot, "remote-connection-failed") {
		t.Fatalf("client got %q", clientGot)
	}
	checkTruth(t, waitClosed(t, tp.sink, 1), 1, clientGot, "")
}
