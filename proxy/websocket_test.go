package proxy

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/switch/server"
	"github.com/stanzascope/stanzascope/switch/store"
	"github.com/stanzascope/stanzascope/switch/switchtest"
)

// wsClient is a WebSocket XMPP client written by hand (coder/websocket), so that the
// tests choose every frame: what it sent and received is kept, frame by frame.
type wsClient struct {
	t    testing.TB
	c    *websocket.Conn
	mu   sync.Mutex
	sent []string
	got  []string
}

func dialWS(t testing.TB, url string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"xmpp"}})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	if c.Subprotocol() != "xmpp" {
		t.Fatalf("subprotocol %q, want xmpp", c.Subprotocol())
	}
	c.SetReadLimit(1 << 20)
	t.Cleanup(func() { c.CloseNow() })
	return &wsClient{t: t, c: c}
}

func (w *wsClient) send(s string) {
	w.t.Helper()
	w.sendType(websocket.MessageText, s)
}

func (w *wsClient) sendType(typ websocket.MessageType, s string) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, typ, []byte(s)); err != nil {
		w.t.Fatalf("send %q: %v", s, err)
	}
	w.mu.Lock()
	w.sent = append(w.sent, s)
	w.mu.Unlock()
}

// next reads one frame ("" and the error at the end of the connection).
func (w *wsClient) next() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	typ, b, err := w.c.Read(ctx)
	if err != nil {
		return "", err
	}
	if typ != websocket.MessageText {
		w.t.Fatalf("binary frame from the proxy: %q", b)
	}
	w.mu.Lock()
	w.got = append(w.got, string(b))
	w.mu.Unlock()
	return string(b), nil
}

// until reads frames until one contains sub, and returns it.
func (w *wsClient) until(sub string) string {
	w.t.Helper()
	for range 100 {
		f, err := w.next()
		if err != nil {
			w.t.Fatalf("waiting for %q: %v; frames so far:\n%s", sub, err, strings.Join(w.got, "\n"))
		}
		if strings.Contains(f, sub) {
			return f
		}
	}
	w.t.Fatalf("no frame with %q in 100", sub)
	return ""
}

// drain reads until the connection ends.
func (w *wsClient) drain() {
	for range 1000 {
		if _, err := w.next(); err != nil {
			return
		}
	}
}

func (w *wsClient) received() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.got, "")
}

func (w *wsClient) sentAll() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.sent, "")
}

const openLocalhost = "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>"

// login opens the stream, logs in with PLAIN and binds the resource web.
func (w *wsClient) login(user, pass string) {
	w.t.Helper()
	w.loginRes(user, pass, "web")
}

// loginRes is login binding the resource res.
func (w *wsClient) loginRes(user, pass, res string) {
	w.t.Helper()
	w.send(openLocalhost)
	w.until("<open ")
	f := w.until("mechanisms")
	if strings.Contains(f, "starttls") {
		w.t.Fatalf("STARTTLS offered to a WebSocket client: %s", f)
	}
	w.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pass)) + "</auth>")
	w.until("<success")
	w.send(openLocalhost)
	w.until("<open ")
	w.until("bind")
	w.send("<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>" + res + "</resource></bind></iq>")
	w.until("<jid>")
}

// writeRecConn records what is written through it: what the upstream received.
type writeRecConn struct {
	net.Conn
	rec *recorder
}

func (c writeRecConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.rec.add(p[:n])
	return n, err
}

// plainSwitch runs the embedded switch without TLS (so the upstream leg is plaintext and
// its bytes can be compared with the records) with alice and bob.
func plainSwitch(t testing.TB) string {
	t.Helper()
	st := store.NewMemory()
	switchtest.AddAccount(t, st, "alice", "wonderland")
	switchtest.AddAccount(t, st, "bob", "builder")
	srv, err := server.New(server.Config{Domain: "localhost", Store: st, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return ln.Addr().String()
}

// wsProxy serves tp's WebSocket handler on a loopback HTTP server and returns its URL.
func wsProxy(t testing.TB, tp *testProxy) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h := tp.p.WebSocketHandler(ctx)
	hs := httptest.NewServer(h)
	t.Cleanup(func() {
		cancel()
		h.Wait() // every session's records are out before the outputs close
		hs.Close()
	})
	return "ws" + strings.TrimPrefix(hs.URL, "http") + WebSocketPath
}

// TestWebSocketRecordIsTheTruth: a WebSocket client logs in and chats through the proxy
// to the switch; the records say transport websocket, and the records of each direction,
// concatenated, are what each receiver got: the frames the client read, the TCP stream the
// switch read. The c2s records also hold what the client sent, as Original where the
// proxy translated it (<open/>, <close/>).
func TestWebSocketRecordIsTheTruth(t *testing.T) {
	sw := plainSwitch(t)
	upstream := &recorder{}
	var d net.Dialer
	tp := startProxy(t, Config{Dial: func(ctx context.Context) (net.Conn, error) {
		c, err := d.DialContext(ctx, "tcp", sw)
		if err != nil {
			return nil, err
		}
		return writeRecConn{c, upstream}, nil
	}}, false)
	url := wsProxy(t, tp)

	w := dialWS(t, url)
	w.login("alice", "wonderland")
	w.send("<presence xmlns='jabber:client'/>")
	w.send("<message xmlns='jabber:client' to='alice@localhost/web' type='chat' id='m1'><body>to myself</body></message>")
	w.until("to myself")
	w.send("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>")
	w.drain()
	recs := waitClosed(t, tp.sink, 1)

	checkTruth(t, recs, 1, w.received(), upstream.String())
	var sent strings.Builder
	var ws int
	for _, r := range recs {
		if r.Conn == nil || r.Conn.Transport != inspect.TransportWebSocket {
			t.Errorf("record without transport websocket: %v %v %q", r.Kind, r.Note(), r.Raw)
			continue
		}
		ws++
		if r.Dir != inspect.ClientToServer || !delivered(r) || r.Producer() != inspect.OriginClient {
			continue
		}
		if r.Original() != nil {
			sent.Write(r.Original())
		} else {
			sent.Write(r.Raw)
		}
	}
	if sent.String() != w.sentAll() {
		t.Errorf("the client's frames are not all in the records:\nrecords  %q\nclient   %q", sent.String(), w.sentAll())
	}
	if ws == 0 {
		t.Fatal("no records")
	}
	if !strings.Contains(w.received(), "<message xmlns='jabber:client'") {
		t.Errorf("the message reached the client without its namespace declared: %s", w.received())
	}
}

// TestWebSocketSTARTTLSUpstream: a WebSocket client and a TCP client (mellium) chat
// through the proxy with the switch, whose leg the proxy secures with STARTTLS itself.
func TestWebSocketSTARTTLSUpstream(t *testing.T) {
	sw, roots := startSwitch(t, true) // RequireTLS: nothing works unless the proxy does STARTTLS
	tp := startProxy(t, Config{Upstream: sw, CA: newCA(t), UpstreamTLS: &tls.Config{RootCAs: roots, ServerName: "localhost"}}, false)
	url := wsProxy(t, tp)

	w := dialWS(t, url)
	w.login("alice", "wonderland")
	w.send("<presence xmlns='jabber:client'/>")

	bob := melliumLogin(t, tp.addr, tp.p.cfg.CA.Pool(), false, "bob", "builder")
	defer bob.Close()
	bob.Chat("alice@localhost/web", "hello from TCP")
	w.until("hello from TCP")
	w.send("<message xmlns='jabber:client' to='" + bob.JID() + "' type='chat' id='a1'><body>hello from the web</body></message>")
	bob.WaitFor("hello from the web")
	tp.sink.waitNote(t, "the proxy negotiates STARTTLS with the upstream itself")
	tp.sink.waitNote(t, "TLS with upstream")
}

// TestWebSocketBadFrames: what RFC 7395 does not allow ends the stream with a stream
// error in a frame of its own, then <close/>, then the WebSocket close; the refused
// message is in the record.
func TestWebSocketBadFrames(t *testing.T) {
	sw := plainSwitch(t)
	var d net.Dialer
	var ups []*recorder
	var mu sync.Mutex
	tp := startProxy(t, Config{Limits: inspect.Limits{MaxStanza: 4096}, Dial: func(ctx context.Context) (net.Conn, error) {
		c, err := d.DialContext(ctx, "tcp", sw)
		if err != nil {
			return nil, err
		}
		r := &recorder{}
		mu.Lock()
		ups = append(ups, r)
		mu.Unlock()
		return writeRecConn{c, r}, nil
	}}, false)
	url := wsProxy(t, tp)
	for i, tc := range []struct {
		name string
		typ  websocket.MessageType
		msg  string
		cond string
	}{
		{"binary", websocket.MessageBinary, "<presence xmlns='jabber:client'/>", "not-well-formed"},
		{"two stanzas", websocket.MessageText, "<presence xmlns='jabber:client'/><presence xmlns='jabber:client'/>", "not-well-formed"},
		{"partial stanza", websocket.MessageText, "<message xmlns='jabber:client'><body>half", "not-well-formed"},
		{"oversize", websocket.MessageText, "<message xmlns='jabber:client'><body>" + strings.Repeat("x", 8000) + "</body></message>", "policy-violation"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := dialWS(t, url)
			w.send(openLocalhost)
			w.until("mechanisms")
			w.sendType(tc.typ, tc.msg)
			errFrame := w.until("<stream:error")
			if !strings.Contains(errFrame, "<"+tc.cond+" ") || !strings.Contains(errFrame, "xmlns:stream='http://etherx.jabber.org/streams'") {
				t.Errorf("stream error frame %s, want %s with its namespaces declared", errFrame, tc.cond)
			}
			f, err := w.next()
			if err != nil || f != inspect.CloseFrame {
				t.Errorf("after the error: %q, %v; want %s", f, err, inspect.CloseFrame)
			}
			if _, err := w.next(); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
				t.Errorf("the WebSocket did not close cleanly: %v", err)
			}
			recs := waitClosed(t, tp.sink, i+1)
			id := uint64(i + 1)
			found := false
			for _, r := range recs {
				if r.Conn != nil && r.Conn.ID == id && r.Kind == inspect.KindError {
					found = true
					want := tc.msg
					if len(want) > 4097 {
						want = want[:4097]
					}
					if string(r.Raw) != want {
						t.Errorf("error record holds %q, want the refused message %q", r.Raw, want)
					}
				}
			}
			if !found {
				t.Errorf("no error record for connection %d", id)
			}
			mu.Lock()
			up := ups[i]
			mu.Unlock()
			checkTruth(t, recs, id, w.received(), up.String())
		})
	}
}

// TestNegotiatorWebSocket plays a WebSocket client's negotiations without a socket: the
// proxy's own STARTTLS upstream as for Direct TLS, STARTTLS never offered to the client,
// a plaintext upstream fine for a ws:// client and refused for a wss:// one (the downgrade
// policy), and a <starttls/> the client sends all the same refused.
func TestNegotiatorWebSocket(t *testing.T) {
	for _, tc := range []struct {
		name               string
		secure, allowPlain bool
		plays              []play
	}{
		{
			name: "own STARTTLS upstream, STARTTLS removed from the client's features",
			plays: []play{
				from(legClient, cHdr).then("forward"),
				from(legUpstream, sHdr).then("hold"),
				from(legUpstream, featTLS).then("drop-held intercepted", "intercept intercepted", "note", "write upstream starttls"),
				from(legUpstream, proceedx).then("intercept intercepted", "starttls upstream"),
				tlsUp(legUpstream, nil).then("milestone TLS with upstream: TLS 1.3, TLS_AES_128_GCM_SHA256, SNI localhost",
					"reset upstream", "write upstream stream", "settle"),
				from(legUpstream, sHdr).then("forward"),
				from(legUpstream, featTLS).then("note", "forward edited"),
			},
		},
		{
			name: "ws:// over a plaintext upstream: both legs plaintext",
			plays: []play{
				from(legUpstream, sHdr).then("hold"),
				from(legUpstream, featPlain).then("release", "settle", "forward"),
				from(legClient, startTLSx).then("intercept intercepted", "write client failure", "fail", "stream-error client policy-violation", "end"),
			},
		},
		{
			name: "ws:// over a pre-1.0 upstream", plays: []play{
				from(legUpstream, sHdrOld).then("settle", "forward"),
			},
		},
		{
			name: "ws:// with --allow-plaintext-upstream: still no STARTTLS offered", allowPlain: true,
			plays: []play{
				from(legUpstream, sHdr).then("hold"),
				from(legUpstream, featPlain).then("release", "settle", "forward"),
			},
		},
		{
			name: "wss:// refused over a plaintext upstream", secure: true,
			plays: []play{
				from(legUpstream, sHdr).then("hold"),
				from(legUpstream, featPlain).then("drop-held dropped", "intercept dropped", "fail",
					"stream-error client policy-violation", "close upstream", "end"),
			},
		},
		{
			name: "wss:// allowed over a plaintext upstream with --allow-plaintext-upstream", secure: true, allowPlain: true,
			plays: []play{
				from(legUpstream, sHdr).then("hold"),
				from(legUpstream, featPlain).then("plain-upstream", "release", "settle", "forward"),
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newWSNegotiator(true, tc.allowPlain, tc.secure)
			for i, p := range tc.plays {
				ops := n.handle(p.by, p.e)
				got := make([]string, len(ops))
				for j, o := range ops {
					got[j] = o.String()
				}
				if fmt.Sprint(got) != fmt.Sprint(p.want) {
					t.Fatalf("step %d (%s %q):\n got %q\nwant %q", i, p.e.from, p.e.raw, got, p.want)
				}
			}
		})
	}
}

// TestWebSocketDowngradePolicy: a client over wss:// is a TLS client leg, so the downgrade
// policy of TCP applies: refused with policy-violation over a plaintext upstream, carried
// and tagged with --allow-plaintext-upstream.
func TestWebSocketDowngradePolicy(t *testing.T) {
	sw := plainSwitch(t)
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprintf("allow=%v", allow), func(t *testing.T) {
			tp := startProxy(t, Config{Upstream: sw, AllowPlaintextUpstream: allow, CA: newCA(t)}, false)
			ctx, cancel := context.WithCancel(context.Background())
			h := tp.p.WebSocketHandler(ctx)
			hs := httptest.NewTLSServer(h)
			t.Cleanup(func() {
				cancel()
				h.Wait()
				hs.Close()
			})
			dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer dcancel()
			c, _, err := websocket.Dial(dctx, "wss"+strings.TrimPrefix(hs.URL, "https")+WebSocketPath,
				&websocket.DialOptions{Subprotocols: []string{"xmpp"}, HTTPClient: hs.Client()})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.CloseNow() })
			w := &wsClient{t: t, c: c}
			w.send(openLocalhost)
			if !allow {
				f := w.until("<stream:error")
				if !strings.Contains(f, "policy-violation") {
					t.Errorf("refusal: %s", f)
				}
				return
			}
			w.until("mechanisms")
			recs := tp.sink.all()
			tagged := false
			for _, r := range recs {
				for _, tag := range r.Tags() {
					if tag.Label == PlaintextUpstreamLabel {
						tagged = true
					}
				}
			}
			if !tagged {
				t.Error("no record tagged plaintext-upstream")
			}
		})
	}
}

// TestWebSocketIdleNotClosed: a WebSocket client leg written nothing for longer than the
// write timeout is idle, not stalled: it stays open (before, the deadline of the proxy's
// last write to it, passing later, closed every idle WebSocket client).
func TestWebSocketIdleNotClosed(t *testing.T) {
	sw := plainSwitch(t)
	var d net.Dialer
	const writeTimeout = 200 * time.Millisecond
	tp := startProxy(t, Config{WriteTimeout: writeTimeout, Dial: func(ctx context.Context) (net.Conn, error) {
		return d.DialContext(ctx, "tcp", sw)
	}}, false)
	w := dialWS(t, wsProxy(t, tp))
	w.login("alice", "wonderland")
	w.send("<presence xmlns='jabber:client'/>")
	w.until("<presence")
	time.Sleep(5 * writeTimeout) // the subject is time passing, not an event to wait for
	w.send("<message xmlns='jabber:client' to='alice@localhost/web' type='chat' id='m1'><body>after idling</body></message>")
	w.until("after idling")
}
