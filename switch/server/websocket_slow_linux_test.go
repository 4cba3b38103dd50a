package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/stanzascope/stanzascope/inspect"
)

// wsPlainLoginSlow is wsPlainLogin with a 4 KiB receive buffer (as dialSlow), so that a
// client that stops reading soon makes the server's writes to it block.
func wsPlainLoginSlow(t *testing.T, url, user, pass, res string) *websocket.Conn {
	t.Helper()
	d := smallRcvBufDialer()
	hc := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	t.Cleanup(hc.CloseIdleConnections)
	return wsPlainLoginWith(t, url, user, pass, res, hc)
}

// TestWebSocketSlowReaderStreamError: a WebSocket client that stops reading while
// messages are routed to it has its stream ended as a TCP one's (TestSlowReaderDropped):
// when it reads again within the grace period after the write timeout, it gets whole
// frames, then the <policy-violation/> stream error in a frame of its own, then <close/>,
// then the close handshake (RFC 7395 section 3.6), not a WebSocket cut off.
func TestWebSocketSlowReaderStreamError(t *testing.T) {
	const writeTimeout = 2 * time.Second // also the grace (maxStallGrace)
	logs := &logBuffer{}
	// An outbox larger than the flood: the write stalls before the outbox overflows (an
	// overflow ends the stream through writeFinal, which is not what this test is about).
	ts := startServer(t, func(c *Config) { c.WriteTimeout = writeTimeout; c.Logf = logs.logf; c.MaxOutbox = 64 << 20 })
	url, _ := wsServer(t, ts, false)
	registerRaw(t, ts.addr, "alice", "pw")
	registerRaw(t, ts.addr, "slow", "pw")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	slow := wsPlainLoginSlow(t, url, "slow", "pw", "r")
	if err := slow.Write(ctx, websocket.MessageText, []byte("<presence xmlns='jabber:client'/>")); err != nil {
		t.Fatal(err)
	}
	alice := legacyLogin(t, ts.addr, "alice", "pw", "Home")
	alice.send("<presence/>")
	go func() { // alice's bounces and the rest: read and dropped, so that she never blocks
		for {
			if _, err := alice.tryStanza(60 * time.Second); err != nil {
				return
			}
		}
	}()
	// Alice floods the slow client (more than socket buffers and its outbox hold), until
	// the server says that a write to it is stalled.
	pad := strings.Repeat("p", 4096)
	alice.conn.SetWriteDeadline(time.Now().Add(50 * time.Second))
	for sent := 0; sent < 3000 && len(logs.matching("stopped reading")) == 0; sent++ {
		msg := fmt.Sprintf("<message id='m%05d' to='slow@localhost/r' type='chat'><body>m%05d %s</body></message>", sent, sent, pad)
		if _, err := io.WriteString(alice.conn, msg); err != nil {
			t.Fatalf("flood: %v", err)
		}
	}
	if !logs.await("stopped reading", 30*time.Second) {
		t.Fatalf("the server never said that the client stopped reading; it said %q", logs.matching(""))
	}
	// Now, in the grace, the client reads everything.
	var last []string
	for {
		typ, b, err := slow.Read(ctx)
		if err != nil {
			if st := websocket.CloseStatus(err); st != websocket.StatusNormalClosure {
				t.Fatalf("the WebSocket ended with %v (status %v) after %q", err, st, last)
			}
			break
		}
		if typ != websocket.MessageText {
			t.Fatalf("a %v message", typ)
		}
		last = append(last, string(b))
		if len(last) > 3 {
			last = last[1:]
		}
	}
	if len(last) < 2 || last[len(last)-1] != inspect.CloseFrame ||
		!strings.HasPrefix(last[len(last)-2], "<stream:error") || !strings.Contains(last[len(last)-2], "<policy-violation ") {
		t.Fatalf("the stream did not end with a policy-violation stream error then <close/>: last frames %q", last)
	}
}
