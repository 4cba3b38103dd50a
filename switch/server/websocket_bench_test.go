package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/stanzascope/stanzascope/switch/store"
	"github.com/stanzascope/stanzascope/switch/switchtest"
)

// BenchmarkWebSocketChat: alice sends chat messages to bob through the switch alone (no
// proxy, no observer, no TLS), both over TCP and both over the switch's own WebSocket
// transport, in the same run: the two pairs take turns, a round of 200 messages each (fewer
// than a recipient's outbox holds), in alternating order. msg/s is messages delivered to
// bob per second of each pair's own rounds; ws/tcp their ratio; allocs/msg the whole
// process's allocations (clients and switch) per message in each pair's rounds.
//
//	go test -run '^$' -bench 'WebSocketChat' -benchtime 20000x -count 6 ./switch/server
func BenchmarkWebSocketChat(b *testing.B) {
	db := store.NewMemory()
	switchtest.AddAccount(b, db, "alice", "wonderland")
	switchtest.AddAccount(b, db, "bob", "builder")
	ts := startServer(b, func(c *Config) { c.Store = db; c.TLS = nil })
	url, _ := wsServer(b, ts, false)
	ctx := context.Background()

	msg := func(res string) []byte {
		return []byte("<message xmlns='jabber:client' to='bob@localhost/" + res + "' type='chat' id='m1'><body>" + strings.Repeat("Hello, Bob! ", 8) + "</body></message>")
	}
	// TCP pair.
	ta, tb := tcpPlainLogin(b, ts.addr, "alice", "wonderland", "ta"), tcpPlainLogin(b, ts.addr, "bob", "builder", "tb")
	tmsg := msg("tb")
	// WebSocket pair.
	wa, wb := wsPlainLogin(b, url, "alice", "wonderland", "wa"), wsPlainLogin(b, url, "bob", "builder", "wb")
	wmsg := msg("wb")

	tcpRound := func(k int) time.Duration {
		start := time.Now()
		errc := make(chan error, 1)
		go func() {
			var err error
			for range k {
				if _, err = ta.Write(tmsg); err != nil {
					break
				}
			}
			errc <- err
		}()
		buf := make([]byte, 64<<10)
		tb.SetReadDeadline(time.Now().Add(time.Minute))
		for got := 0; got < k; {
			n, err := tb.Read(buf)
			got += bytes.Count(buf[:n], []byte("</message>"))
			if err != nil {
				b.Fatalf("bob over TCP got %d of %d: %v", got, k, err)
			}
		}
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	wsRound := func(k int) time.Duration {
		rctx, rcancel := context.WithTimeout(ctx, time.Minute)
		defer rcancel()
		start := time.Now()
		errc := make(chan error, 1)
		go func() {
			var err error
			for range k {
				if err = wa.Write(rctx, websocket.MessageText, wmsg); err != nil {
					break
				}
			}
			errc <- err
		}()
		for got := 0; got < k; {
			_, p, err := wb.Read(rctx)
			if err != nil {
				b.Fatalf("bob over WebSocket got %d of %d: %v", got, k, err)
			}
			if bytes.HasPrefix(p, []byte("<message")) {
				got++
			}
		}
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	const round = 200
	tcpRound(round) // warm up
	wsRound(round)
	b.ReportAllocs()
	b.ResetTimer()
	var dt, dw time.Duration
	var at, aw uint64 // allocations during each pair's rounds
	var ms runtime.MemStats
	mallocs := func() uint64 { runtime.ReadMemStats(&ms); return ms.Mallocs }
	tcp := func(k int) {
		m := mallocs()
		dt += tcpRound(k)
		at += mallocs() - m
	}
	ws := func(k int) {
		m := mallocs()
		dw += wsRound(k)
		aw += mallocs() - m
	}
	n := 0
	for i := 0; n < b.N; i++ {
		k := min(round, b.N-n)
		if i%2 == 0 {
			tcp(k)
			ws(k)
		} else {
			ws(k)
			tcp(k)
		}
		n += k
	}
	b.StopTimer()
	b.ReportMetric(float64(n)/dt.Seconds(), "tcp-msg/s")
	b.ReportMetric(float64(n)/dw.Seconds(), "ws-msg/s")
	b.ReportMetric(dt.Seconds()/dw.Seconds(), "ws/tcp")
	b.ReportMetric(float64(at)/float64(n), "tcp-allocs/msg")
	b.ReportMetric(float64(aw)/float64(n), "ws-allocs/msg")
}

// tcpPlainLogin logs user in over plaintext TCP with PLAIN (offered on loopback) and binds
// res; it returns the connection after the bind result.
func tcpPlainLogin(tb testing.TB, addr, user, pass, res string) net.Conn {
	tb.Helper()
	c := dialRaw(tb, addr)
	header := "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"
	c.send(header)
	c.readStanza()
	c.readStanza()
	c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pass)) + "</auth>")
	if s := c.readStanza(); !strings.HasPrefix(s, "<success") {
		tb.Fatalf("login of %s: %s", user, s)
	}
	c.send(header)
	c.readStanza()
	c.readStanza()
	c.send("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>" + res + "</resource></bind></iq>")
	if s := c.readStanza(); !strings.Contains(s, "type='result'") {
		tb.Fatalf("bind of %s: %s", user, s)
	}
	if c.r.Buffered() > 0 {
		tb.Fatalf("unexpected bytes after the bind of %s", user)
	}
	return c.conn
}

// wsPlainLogin is tcpPlainLogin over the switch's WebSocket transport at url.
func wsPlainLogin(tb testing.TB, url, user, pass, res string) *websocket.Conn {
	tb.Helper()
	return wsPlainLoginWith(tb, url, user, pass, res, nil)
}

// wsPlainLoginWith is wsPlainLogin with the HTTP client hc (nil: the default) for the
// WebSocket's handshake.
func wsPlainLoginWith(tb testing.TB, url, user, pass, res string, hc *http.Client) *websocket.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{WebSocketProtocol}, HTTPClient: hc})
	if err != nil {
		tb.Fatal(err)
	}
	c.SetReadLimit(1 << 20)
	tb.Cleanup(func() { c.CloseNow() })
	send := func(s string) {
		if err := c.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
			tb.Fatal(err)
		}
	}
	read := func() string {
		_, p, err := c.Read(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		return string(p)
	}
	open := "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>"
	send(open)
	read()
	read()
	send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pass)) + "</auth>")
	if s := read(); !strings.HasPrefix(s, "<success") {
		tb.Fatalf("login of %s: %s", user, s)
	}
	send(open)
	read()
	read()
	send("<iq xmlns='jabber:client' type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>" + res + "</resource></bind></iq>")
	if s := read(); !strings.Contains(s, "type='result'") {
		tb.Fatalf("bind of %s: %s", user, s)
	}
	return c
}
