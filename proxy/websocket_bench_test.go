package proxy

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// benchWindow is how many messages a sender may have in flight: fewer than the switch's
// outbox holds for a recipient (DefaultMaxOutbox, 256 KiB, about 1,100 of these), so an
// open-loop flood does not measure the switch dropping a slow reader.
const benchWindow = 256

// BenchmarkWebSocketChat: alice sends chat messages to bob through the proxy (logging JSON
// to a file) to the embedded switch, both over TCP and both over WebSocket
// (/xmpp-websocket), in the same run: messages per second delivered. The switch has no
// TLS, so both paths are plaintext and differ by the transport only.
func BenchmarkWebSocketChat(b *testing.B) {
	sw := plainSwitch(b)
	tp, _ := jsonLogTestProxy(b, Config{Upstream: sw})
	url := wsProxy(b, tp)
	// Each run logs in with resources of its own: a run's sessions may still be closing
	// when the next one logs in.
	runs := 0
	message := func(res string) string {
		return "<message xmlns='jabber:client' to='bob@localhost/" + res + "' type='chat' id='m1'><body>" + strings.Repeat("Hello, Bob! ", 8) + "</body></message>"
	}
	b.Run("tcp", func(b *testing.B) {
		runs++
		res := fmt.Sprintf("b%d", runs)
		msg := message(res)
		alice := switchLogin(b, tp.addr, "alice", "wonderland", "a"+res)
		defer alice.Close()
		bob := switchLogin(b, tp.addr, "bob", "builder", res)
		defer bob.Close()
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		errc := make(chan error, 1)
		window := make(chan struct{}, benchWindow) // no more in flight than the switch's outbox holds
		go func() {
			for range b.N {
				window <- struct{}{}
				if _, err := io.WriteString(alice, msg); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
		cc := &countCloser{tag: []byte("</message>")}
		buf := make([]byte, 64<<10)
		bob.SetReadDeadline(time.Now().Add(2 * time.Minute))
		for cc.n < b.N {
			n, err := bob.Read(buf)
			before := cc.n
			cc.Write(buf[:n])
			for range cc.n - before {
				<-window
			}
			if err != nil {
				b.Fatalf("bob got %d of %d: %v", cc.n, b.N, err)
			}
		}
		d := time.Since(start)
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(b.N)/d.Seconds(), "msg/s")
	})
	b.Run("websocket", func(b *testing.B) {
		runs++
		res := fmt.Sprintf("b%d", runs)
		msg := message(res)
		alice := dialWS(b, url)
		alice.loginRes("alice", "wonderland", "a"+res)
		bob := dialWS(b, url)
		bob.loginRes("bob", "builder", res)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		errc := make(chan error, 1)
		window := make(chan struct{}, benchWindow)
		go func() {
			m := []byte(msg)
			for range b.N {
				window <- struct{}{}
				if err := alice.c.Write(ctx, websocket.MessageText, m); err != nil {
					errc <- err
					return
				}
			}
			errc <- nil
		}()
		for got := 0; got < b.N; {
			_, p, err := bob.c.Read(ctx)
			if err != nil {
				b.Fatalf("bob got %d of %d: %v", got, b.N, err)
			}
			if strings.HasPrefix(string(p), "<message") {
				got++
				<-window
			}
		}
		d := time.Since(start)
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(b.N)/d.Seconds(), "msg/s")
	})
}
