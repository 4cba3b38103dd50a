package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	xws "mellium.im/xmpp/websocket"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/switch/store"
	"github.com/stanzascope/stanzascope/switch/switchtest"
)

// wsServer serves the switch's WebSocket handler at /xmpp-websocket of a loopback HTTP
// server, over https when secure; it returns the ws:// or wss:// URL and the roots that
// trust the server's certificate.
func wsServer(t testing.TB, ts *testServer, secure bool) (string, *x509.CertPool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h := ts.srv.WebSocketHandler(ctx)
	mux := http.NewServeMux()
	mux.Handle("/xmpp-websocket", h)
	hs := httptest.NewUnstartedServer(mux)
	var pool *x509.CertPool
	if secure {
		hs.StartTLS()
		pool = x509.NewCertPool()
		pool.AddCert(hs.Certificate())
	} else {
		hs.Start()
	}
	t.Cleanup(func() {
		ts.stop(t) // ends the sessions, WebSocket ones too
		cancel()
		h.Wait()
		hs.Close()
	})
	return "ws" + strings.TrimPrefix(hs.URL, "http") + "/xmpp-websocket", pool
}

// wsLogin logs user in over wss:// with mellium.im/xmpp/websocket (golang.org/x/net's
// WebSocket client; mellium negotiates SASL on a secure stream only): SCRAM, then
// resource binding.
func wsLogin(t *testing.T, url string, pool *x509.CertPool, user, pass string) *switchtest.Client {
	t.Helper()
	// mellium takes the stream for secure when the origin's scheme is wss (the client's
	// LocalAddr in golang.org/x/net/websocket is its origin).
	origin := strings.TrimSuffix(url, "/xmpp-websocket")
	d := xws.Dialer{Origin: origin, TLSConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}
	conn, err := d.DialDirect(context.Background(), url)
	if err != nil {
		t.Fatalf("WebSocket dial: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := xws.NewSession(ctx, jid.MustParse(user+"@localhost"), conn, xmpp.SASL("", pass, sasl.ScramSha256), xmpp.BindResource())
	if err != nil {
		conn.Close()
		t.Fatalf("mellium login over WebSocket of %s: %v", user, err)
	}
	return switchtest.Serve(t, s)
}

// TestWebSocketSession: a mellium client logs in over the switch's own WebSocket listener
// (RFC 7395) and chats with a mellium client over TCP; the records of the WebSocket
// connection say transport websocket and hold the frames the client got, with the TCP form
// the session wrote as Original.
func TestWebSocketSession(t *testing.T) {
	db := store.NewMemory()
	switchtest.AddAccount(t, db, "alice", "wonderland")
	switchtest.AddAccount(t, db, "bob", "builder")
	rec := &recorder{}
	ts := startServer(t, func(c *Config) { c.Store = db; c.Observe = rec })
	url, pool := wsServer(t, ts, true)

	alice := wsLogin(t, url, pool, "alice", "wonderland")
	bob := melliumLogin(t, ts, "bob", "builder", "desk", sasl.ScramSha1)
	if !strings.HasPrefix(alice.JID(), "alice@localhost/") {
		t.Fatalf("bound %s", alice.JID())
	}
	alice.Chat(bob.JID(), "over a WebSocket")
	bob.WaitFor("over a WebSocket", "alice@localhost/")
	bob.Chat(alice.JID(), "over TCP")
	alice.WaitFor("over TCP", bob.JID())
	alice.Close()

	var wsConn uint64
	var sawOpen, sawChat bool
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, r := range rec.snapshot() {
			if r.Conn == nil || r.Conn.Transport != inspect.TransportWebSocket {
				continue
			}
			wsConn = r.Conn.ID
			raw := string(r.Raw)
			switch {
			case r.Dir == inspect.ServerToClient && r.Kind == inspect.KindStreamOpen:
				sawOpen = true
				if !strings.HasPrefix(raw, "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'") || !strings.Contains(string(r.Original()), "<stream:stream") {
					t.Errorf("our header's record: %s (original %s)", raw, r.Original())
				}
			case r.Dir == inspect.ClientToServer && r.Kind == inspect.KindStreamOpen:
				if !strings.Contains(string(r.Original()), "<open") || !strings.Contains(raw, "<stream:stream") {
					t.Errorf("the client's header's record: %s (original %s)", raw, r.Original())
				}
			case r.Dir == inspect.ServerToClient && strings.Contains(raw, "over TCP"):
				sawChat = true
				if !strings.Contains(raw, "xmlns='jabber:client'") && !strings.Contains(raw, `xmlns="jabber:client"`) {
					t.Errorf("a frame must declare its namespace: %s", raw)
				}
			case r.Dir == inspect.ServerToClient && r.Kind == inspect.KindStanza && r.Name == "features":
				if strings.Contains(raw, "starttls") {
					t.Errorf("STARTTLS offered over WebSocket: %s", raw)
				}
			}
		}
		if sawOpen && sawChat || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond) // polling the records, bounded by the deadline
	}
	if wsConn == 0 || !sawOpen || !sawChat {
		t.Fatalf("records of the WebSocket connection: conn %d, open %v, chat %v", wsConn, sawOpen, sawChat)
	}
}

// TestWebSocketBadFrames: a binary message, a message with two elements and one over the
// stanza limit get the stream error RFC 7395 names, then <close/>.
func TestWebSocketBadFrames(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.Limits.MaxStanza = 2048 })
	url, _ := wsServer(t, ts, false)
	open := "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>"
	for _, tc := range []struct {
		name string
		typ  websocket.MessageType
		msg  string
		cond string
	}{
		{"binary", websocket.MessageBinary, "<presence/>", "not-well-formed"},
		{"two elements", websocket.MessageText, "<presence xmlns='jabber:client'/><presence xmlns='jabber:client'/>", "not-well-formed"},
		{"partial", websocket.MessageText, "<iq xmlns='jabber:client' type='get' id='1'>", "not-well-formed"},
		{"text", websocket.MessageText, "hello", "not-well-formed"},
		{"oversize", websocket.MessageText, "<message xmlns='jabber:client'><body>" + strings.Repeat("x", 4096) + "</body></message>", "policy-violation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"xmpp"}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			if c.Subprotocol() != "xmpp" {
				t.Fatalf("subprotocol %q", c.Subprotocol())
			}
			read := func() string {
				typ, b, err := c.Read(ctx)
				if err != nil {
					t.Fatalf("read: %v", err)
				}
				if typ != websocket.MessageText {
					t.Fatalf("a %v message from the switch", typ)
				}
				return string(b)
			}
			if err := c.Write(ctx, websocket.MessageText, []byte(open)); err != nil {
				t.Fatal(err)
			}
			if got := read(); !strings.HasPrefix(got, "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'") || !strings.Contains(got, "from='localhost'") {
				t.Fatalf("open: %s", got)
			}
			if got := read(); !strings.HasPrefix(got, "<stream:features xmlns:stream='http://etherx.jabber.org/streams'") {
				t.Fatalf("features: %s", got)
			}
			if err := c.Write(ctx, tc.typ, []byte(tc.msg)); err != nil {
				t.Fatal(err)
			}
			if got := read(); !strings.HasPrefix(got, "<stream:error xmlns:stream='http://etherx.jabber.org/streams'>") || !strings.Contains(got, "<"+tc.cond+" ") {
				t.Fatalf("stream error: %s, want %s", got, tc.cond)
			}
			if got := read(); got != inspect.CloseFrame {
				t.Fatalf("after the error: %s, want %s", got, inspect.CloseFrame)
			}
			c.Close(websocket.StatusNormalClosure, "")
		})
	}
}

// TestWebSocketLimits: the limits of TCP clients hold over WebSocket: connections per
// address (policy-violation) and the login time limit (connection-timeout).
func TestWebSocketLimits(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.MaxConnsPerIP = 1; c.LoginTimeout = 500 * time.Millisecond })
	url, _ := wsServer(t, ts, false)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dial := func() *websocket.Conn {
		c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"xmpp"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.CloseNow() })
		if err := c.Write(ctx, websocket.MessageText, []byte("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>")); err != nil {
			t.Fatal(err)
		}
		return c
	}
	// frames reads until <close/> and returns what came.
	frames := func(c *websocket.Conn) string {
		var got []string
		for {
			_, b, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("read after %q: %v", got, err)
			}
			got = append(got, string(b))
			if string(b) == inspect.CloseFrame {
				return strings.Join(got, "\n")
			}
		}
	}
	first := dial()
	if _, b, err := first.Read(ctx); err != nil || !strings.HasPrefix(string(b), "<open ") {
		t.Fatalf("first: %s %v", b, err)
	}
	second := dial()
	if got := frames(second); !strings.Contains(got, "<policy-violation ") || !strings.Contains(got, "too many connections") {
		t.Errorf("second connection from the address: %s", got)
	}
	if got := frames(first); !strings.Contains(got, "<connection-timeout ") {
		t.Errorf("not logged in in time: %s", got)
	}
}

// TestWebSocketIdleNotClosed: a WebSocket session that is written nothing for longer than
// the write timeout is idle, not stalled: it stays open (before, the deadline of the last
// write, passing later, closed every idle WebSocket session).
func TestWebSocketIdleNotClosed(t *testing.T) {
	const writeTimeout = 200 * time.Millisecond
	ts := startServer(t, func(c *Config) { c.WriteTimeout = writeTimeout })
	url, _ := wsServer(t, ts, false)
	registerRaw(t, ts.addr, "idle", "pw")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := wsPlainLogin(t, url, "idle", "pw", "r")
	// Five write timeouts with nothing written: the session's writer is idle.
	time.Sleep(5 * writeTimeout) // the subject is time passing, not an event to wait for
	if err := c.Write(ctx, websocket.MessageText, []byte("<iq xmlns='jabber:client' id='ping' type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")); err != nil {
		t.Fatalf("write after idling: %v", err)
	}
	for range 10 {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("the idle WebSocket session was closed: %v", err)
		}
		if strings.Contains(string(b), "id='ping'") {
			return
		}
	}
	t.Fatal("no answer to the ping in 10 frames")
}
