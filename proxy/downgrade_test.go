package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"github.com/stanzascope/stanzascope/inspect"
)

// Secrets a client sends right after TLS; none may cross a plaintext upstream leg.
const (
	plainAuth      = "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAHdvbmRlcmxhbmQ=</auth>" // \0alice\0wonderland
	plainPayload   = "AGFsaWNlAHdvbmRlcmxhbmQ="
	registerIQ     = "<iq type='set' id='reg1'><query xmlns='jabber:iq:register'><username>mallory</username><password>s3cret-register</password></query></iq>"
	registerSecret = "s3cret-register"
	startTLSReq    = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
	policyViolated = "<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
)

// mitm is a man-in-the-middle on the upstream path: it relays each connection to a real
// server, removes <starttls/> from the features the server sends first, and keeps every
// byte it received from the proxy (what crossed the upstream leg).
type mitm struct {
	mu  sync.Mutex
	got bytes.Buffer
}

var starttlsFeature = regexp.MustCompile(`(?s)<starttls[^>]*/>|<starttls[^>]*>.*?</starttls>`)

func startMITM(t testing.TB, target string) (string, *mitm) {
	m := &mitm{}
	addr := rawServer(t, func(c net.Conn) {
		up, err := net.Dial("tcp", target)
		if err != nil {
			return
		}
		defer up.Close()
		deadline := time.Now().Add(20 * time.Second)
		c.SetDeadline(deadline)
		up.SetDeadline(deadline)
		done := make(chan struct{})
		go func() { // server to client, stripping STARTTLS from the first features
			defer close(done)
			defer c.Close()
			var head []byte
			b := make([]byte, 4096)
			for {
				n, err := up.Read(b)
				if head != nil || n > 0 {
					head = append(head, b[:n]...)
				}
				if i := bytes.Index(head, []byte("</stream:features>")); i >= 0 {
					c.Write(starttlsFeature.ReplaceAll(head, nil))
					io.Copy(c, up)
					return
				}
				if err != nil {
					c.Write(head)
					return
				}
			}
		}()
		b := make([]byte, 4096)
		for {
			n, err := c.Read(b)
			m.mu.Lock()
			m.got.Write(b[:n])
			m.mu.Unlock()
			if _, werr := up.Write(b[:n]); err != nil || werr != nil {
				break
			}
		}
		up.Close()
		<-done
	})
	return addr, m
}

func (m *mitm) received() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.got.String()
}

// leaked says which of the client's secrets crossed the upstream leg.
func (m *mitm) leaked() []string {
	got := m.received()
	var out []string
	for _, s := range []string{plainPayload, registerSecret, "wonderland"} {
		if strings.Contains(got, s) {
			out = append(out, s)
		}
	}
	return out
}

// readUntilEnd reads c until EOF, an error, or the bytes contain one of subs; it does not
// fail the test, so a client can see whatever the proxy answered.
func readUntilEnd(c net.Conn, subs ...string) string {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	var buf bytes.Buffer
	b := make([]byte, 4096)
	for {
		n, err := c.Read(b)
		buf.Write(b[:n])
		for _, s := range subs {
			if strings.Contains(buf.String(), s) {
				return buf.String()
			}
		}
		if err != nil {
			return buf.String()
		}
	}
}

// tlsRequiringClient is a client that insists on TLS: it asks for STARTTLS whether or not
// it was offered, and once TLS is up sends its credentials and a registration. It returns
// what it read after asking for TLS.
func tlsRequiringClient(t testing.TB, addr string, roots *x509.CertPool) string {
	c := dial(t, addr)
	io.WriteString(c, clientHeader)
	readUntil(t, c, "</stream:features>")
	io.WriteString(c, startTLSReq)
	out := readUntilEnd(c, "<proceed", "</stream:stream>")
	if !strings.Contains(out, "<proceed") {
		return out + readUntilEnd(c)
	}
	tc := tlsClient(t, c, roots)
	io.WriteString(tc, clientHeader)
	readUntilConn(t, tc, "</stream:features>")
	io.WriteString(tc, registerIQ+plainAuth)
	return out + readUntilEnd(tc, "<success", "</stream:stream>")
}

// directTLSClient speaks TLS from the first byte and pipelines its credentials right
// after its stream header, before any features: they must wait until the proxy knows the
// upstream leg is secure.
func directTLSClient(t testing.TB, addr string, roots *x509.CertPool) string {
	c := dial(t, addr)
	tc := tlsClient(t, c, roots)
	io.WriteString(tc, clientHeader+registerIQ+plainAuth)
	return readUntilEnd(tc, "<success", "</stream:stream>")
}

// logLines collects what the proxy's Logf printed.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) logf(format string, args ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// TestDowngradeRefused: an upstream whose STARTTLS a man-in-the-middle removed is refused
// for every client whose leg is TLS, with or without a trusted upstream CA, and none of
// the client's secrets crosses the plaintext upstream leg.
func TestDowngradeRefused(t *testing.T) {
	swAddr, swRoots := startSwitch(t, false)
	for _, upstreamCA := range []bool{true, false} {
		for _, tc := range []struct {
			name   string
			direct bool
			client func(t testing.TB, addr string, roots *x509.CertPool) string
			note   string
		}{
			{"starttls-raw", false, tlsRequiringClient, "refused: the client asked for STARTTLS, but the upstream offers no STARTTLS"},
			{"direct-raw", true, directTLSClient, "refused: the client uses Direct TLS, but the upstream offers no STARTTLS"},
		} {
			t.Run(fmt.Sprintf("%s/upstream-ca=%v", tc.name, upstreamCA), func(t *testing.T) {
				mitmAddr, m := startMITM(t, swAddr)
				cfg := Config{Upstream: mitmAddr, CA: newCA(t)}
				if upstreamCA {
					cfg.UpstreamTLS = &tls.Config{RootCAs: swRoots}
				}
				var logs logLines
				cfg.Logf = logs.logf
				tp := startProxy(t, cfg, tc.direct)
				out := tc.client(t, tp.addr, cfg.CA.Pool())
				if !strings.Contains(out, policyViolated) || !strings.Contains(out, "upstream offered no STARTTLS") || !strings.HasSuffix(out, "</stream:error></stream:stream>") {
					t.Fatalf("client got %q, want a policy-violation stream error", out)
				}
				if !tc.direct && !strings.HasPrefix(out, "<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>") {
					t.Errorf("a refused STARTTLS starts with <failure/>: %q", out)
				}
				tp.sink.waitNote(t, tc.note)
				tp.stop()
				if l := m.leaked(); len(l) > 0 {
					t.Fatalf("secrets crossed the plaintext upstream leg: %v\nupstream got %q", l, m.received())
				}
				if !strings.Contains(logs.String(), tc.note) {
					t.Errorf("log has no line %q:\n%s", tc.note, logs.String())
				}
				checkRefusalRecords(t, tp.sink.all())
			})
		}
	}
}

// checkRefusalRecords: the stream error the proxy sent is in the log as its own bytes,
// and no record is tagged (nothing was allowed through).
func checkRefusalRecords(t *testing.T, recs []*inspect.Record) {
	t.Helper()
	found := false
	for _, r := range recs {
		if r.Dir == inspect.ServerToClient && r.Kind == inspect.KindStanza && r.Name == "error" && r.Producer() == inspect.OriginProxy &&
			bytes.Contains(r.Raw, []byte("policy-violation")) {
			found = true
		}
		if hasTag(r, PlaintextUpstreamLabel) {
			t.Errorf("record tagged although refused: %+v", r)
		}
	}
	if !found {
		t.Error("no record of the policy-violation the proxy sent")
	}
}

func hasTag(r *inspect.Record, label string) bool {
	for _, g := range r.Tags() {
		if g.Label == label {
			return true
		}
	}
	return false
}

// TestDowngradeRefusedMellium: real clients (mellium) that require TLS, through the same
// man-in-the-middle: the STARTTLS client is offered no STARTTLS and gives up, the Direct
// TLS client gets the stream error; neither sends a credential upstream.
func TestDowngradeRefusedMellium(t *testing.T) {
	swAddr, swRoots := startSwitch(t, false)
	for _, direct := range []bool{false, true} {
		t.Run(fmt.Sprintf("direct=%v", direct), func(t *testing.T) {
			mitmAddr, m := startMITM(t, swAddr)
			authority := newCA(t)
			tp := startProxy(t, Config{Upstream: mitmAddr, CA: authority, UpstreamTLS: &tls.Config{RootCAs: swRoots}}, direct)
			tlsCfg := &tls.Config{ServerName: "localhost", RootCAs: authority.Pool()}
			features := []xmpp.StreamFeature{xmpp.SASL("", "wonderland", sasl.Plain), xmpp.BindResource()}
			var conn net.Conn
			var err error
			if direct {
				conn, err = tls.Dial("tcp", tp.addr, tlsCfg)
			} else {
				conn, err = net.Dial("tcp", tp.addr)
				features = append([]xmpp.StreamFeature{xmpp.StartTLS(tlsCfg)}, features...)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := xmpp.NewClientSession(ctx, jid.MustParse("alice@localhost"), conn, features...)
			if err == nil {
				s.Close()
				t.Fatal("mellium logged in over a plaintext upstream leg")
			}
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("mellium waited for nothing: %v", err)
			}
			t.Logf("mellium: %v", err)
			if direct {
				tp.sink.waitNote(t, "refused: the client uses Direct TLS")
			}
			tp.stop()
			if l := m.leaked(); len(l) > 0 {
				t.Fatalf("secrets crossed the plaintext upstream leg: %v", l)
			}
		})
	}
}

// TestDowngradeAllowed: with AllowPlaintextUpstream the same clients get through, the
// secrets do cross the upstream leg in clear (so the check above can fail), the log warns,
// and every record from the downgrade on is tagged, in JSON and pretty output too.
func TestDowngradeAllowed(t *testing.T) {
	swAddr, _ := startSwitch(t, false)
	for _, tc := range []struct {
		name   string
		direct bool
		client func(t testing.TB, addr string, roots *x509.CertPool) string
	}{
		{"starttls-raw", false, tlsRequiringClient},
		{"direct-raw", true, directTLSClient},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mitmAddr, m := startMITM(t, swAddr)
			var logs logLines
			cfg := Config{Upstream: mitmAddr, CA: newCA(t), AllowPlaintextUpstream: true, Logf: logs.logf}
			tp := startProxy(t, cfg, tc.direct)
			out := tc.client(t, tp.addr, cfg.CA.Pool())
			if !strings.Contains(out, "<success") {
				t.Fatalf("client got %q, want SASL success", out)
			}
			tp.stop()
			if l := m.leaked(); len(l) < 2 {
				t.Fatalf("with the downgrade allowed the secrets should have crossed in clear (the refusal test relies on seeing them); leaked %v", l)
			}
			if !strings.Contains(logs.String(), "WARNING") || !strings.Contains(logs.String(), PlaintextUpstreamLabel) {
				t.Errorf("no warning in the log:\n%s", logs.String())
			}
			checkTaggedFromDowngrade(t, tp.sink.all())
		})
	}
}

// checkTaggedFromDowngrade: every record from the warning on carries the tag, the SASL
// exchange among them, and the JSON and pretty printers show it.
func checkTaggedFromDowngrade(t *testing.T, recs []*inspect.Record) {
	t.Helper()
	from := -1
	for i, r := range recs {
		if strings.Contains(r.Note(), "WARNING") {
			from = i
			break
		}
	}
	if from < 0 {
		t.Fatal("no warning record")
	}
	var sawAuth bool
	for _, r := range recs[from:] {
		if !hasTag(r, PlaintextUpstreamLabel) {
			t.Errorf("record after the downgrade not tagged: %s %q %q", r.Kind, r.Raw, r.Note())
		}
		if r.Name == "auth" {
			sawAuth = true
			var js, pretty bytes.Buffer
			inspect.NewJSON(&js, inspect.JSONOptions{}).Write(r)
			inspect.NewPretty(&pretty, inspect.PrettyOptions{}).Write(r)
			if !strings.Contains(js.String(), `"label":"plaintext-upstream"`) || !strings.Contains(pretty.String(), "[plaintext-upstream]") {
				t.Errorf("tag not shown: json %s pretty %s", js.String(), pretty.String())
			}
		}
	}
	if !sawAuth {
		t.Error("no auth record after the downgrade")
	}
}

// TestUpstreamRefusesSTARTTLS: an upstream that answers <starttls/> with <failure/> and
// keeps its stream open (against RFC 6120 section 5.4.2.2) does not get the client's
// next bytes: the proxy forwards the failure and ends the connection.
func TestUpstreamRefusesSTARTTLS(t *testing.T) {
	got := make(chan string, 1)
	up := rawServer(t, func(c net.Conn) {
		readUntil(t, c, "version='1.0'>")
		io.WriteString(c, serverHeader+"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"+plainFeatures[len("<stream:features>"):])
		readUntil(t, c, "<starttls")
		io.WriteString(c, "<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(c)
		got <- string(b)
	})
	tp := startProxy(t, Config{Upstream: up, CA: newCA(t)}, false)
	c := dial(t, tp.addr)
	io.WriteString(c, clientHeader)
	readUntil(t, c, "</stream:features>")
	io.WriteString(c, startTLSReq)
	out := readUntil(t, c, "<failure")
	io.WriteString(c, plainAuth) // a client that ignores the failure
	out += readUntilEnd(c)
	if !strings.HasSuffix(out, "<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:stream>") {
		t.Fatalf("client got %q", out)
	}
	if s := <-got; strings.Contains(s, plainPayload) {
		t.Fatalf("upstream got the credentials after refusing TLS: %q", s)
	}
	tp.sink.waitNote(t, "the upstream refused STARTTLS")
}

// TestDowngradeAllowedMellium: real clients log in and chat through the man-in-the-middle
// when AllowPlaintextUpstream is set, over STARTTLS answered by the proxy and over Direct
// TLS, and their messages are logged with the tag.
func TestDowngradeAllowedMellium(t *testing.T) {
	swAddr, swRoots := startSwitch(t, false)
	for _, direct := range []bool{false, true} {
		t.Run(fmt.Sprintf("direct=%v", direct), func(t *testing.T) {
			mitmAddr, _ := startMITM(t, swAddr)
			authority := newCA(t)
			tp := startProxy(t, Config{Upstream: mitmAddr, CA: authority, UpstreamTLS: &tls.Config{RootCAs: swRoots}, AllowPlaintextUpstream: true}, direct)
			alice := melliumLogin(t, tp.addr, authority.Pool(), direct, "alice", "wonderland")
			bob := melliumLogin(t, tp.addr, authority.Pool(), direct, "bob", "builder")
			alice.Chat(bob.JID(), "hello over a plaintext upstream")
			bob.WaitFor("hello over a plaintext upstream")
			alice.Close()
			bob.Close()
			tp.stop()
			n := 0
			for _, r := range tp.sink.all() {
				if bytes.Contains(r.Raw, []byte("hello over a plaintext upstream")) {
					n++
					if !hasTag(r, PlaintextUpstreamLabel) {
						t.Errorf("message record not tagged: %q", r.Raw)
					}
				}
			}
			if n != 2 {
				t.Errorf("%d records of the message, want 2 (c2s and s2c)", n)
			}
		})
	}
}

// TestDirectTLSSilentUpstream: a Direct TLS client whose upstream accepts but never sends
// its features is not held forever: after the setup timeout it gets
// remote-connection-failed.
func TestDirectTLSSilentUpstream(t *testing.T) {
	release := make(chan struct{})
	up := rawServer(t, func(c net.Conn) {
		readUntil(t, c, "version='1.0'>")
		<-release
	})
	defer close(release)
	tp := startProxy(t, Config{Upstream: up, CA: newCA(t), SetupTimeout: 300 * time.Millisecond}, true)
	c := dial(t, tp.addr)
	tc := tlsClient(t, c, tp.p.cfg.CA.Pool())
	io.WriteString(tc, clientHeader+plainAuth)
	out := readUntilEnd(tc, "</stream:stream>")
	expectStreamError(t, out, inspect.CondRemoteConnectionFailed)
	tp.sink.waitNote(t, "the upstream did not answer with its stream features within 300ms")
}
