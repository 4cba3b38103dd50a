package proxy

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// switchLogin logs user in on the switch at addr with SASL PLAIN (offered on loopback)
// and binds resource res; it returns the connection, ready for stanzas.
func switchLogin(tb testing.TB, addr, user, pass, res string) net.Conn {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	step := func(send, until string) {
		tb.Helper()
		if send != "" {
			io.WriteString(c, send)
		}
		if got, err := readUpTo(c, until); err != nil {
			tb.Fatalf("login of %s: waiting for %q: %v (got %q)", user, until, err, got)
		}
	}
	step(clientHeader, "</stream:features>")
	cred := base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
	step("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"+cred+"</auth>", "/>")
	step(clientHeader, "</stream:features>")
	step("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>"+res+"</resource></bind></iq>", "</iq>")
	return c
}

// countCloser counts occurrences of a closing tag in a byte stream, across reads.
type countCloser struct {
	tag  []byte
	tail []byte
	n    int
}

func (cc *countCloser) Write(p []byte) (int, error) {
	buf := append(cc.tail, p...)
	cc.n += bytes.Count(buf, cc.tag)
	// Keep the last len(tag)-1 bytes: a tag cut by the read boundary is counted next time.
	k := min(len(buf), len(cc.tag)-1)
	if i := bytes.LastIndex(buf, cc.tag); i >= 0 && len(buf)-(i+len(cc.tag)) < k {
		k = len(buf) - (i + len(cc.tag))
	}
	cc.tail = append(cc.tail[:0], buf[len(buf)-k:]...)
	return len(p), nil
}

// chatWindow is how many messages BenchmarkSwitchChat's sender may be ahead of its
// receiver: about 50 KB of messages, well within the switch's outbox limit of 256 KiB.
const chatWindow = 256

// BenchmarkSwitchChat: alice sends chat messages to bob through the embedded switch,
// directly and through the proxy logging JSON to a file: messages per second delivered
// (the target is at least 90 percent of direct).
func BenchmarkSwitchChat(b *testing.B) {
	sw, _ := startSwitch(b, false)
	prox, log := jsonLogProxy(b, Config{Upstream: sw})
	for _, batch := range []int{1, 16} {
		for _, tc := range []struct{ name, addr string }{{"direct", sw}, {"proxy-json", prox}} {
			b.Run(fmt.Sprintf("%s/batch=%d", tc.name, batch), func(b *testing.B) {
				alice := switchLogin(b, tc.addr, "alice", "wonderland", "a")
				defer alice.Close()
				bob := switchLogin(b, tc.addr, "bob", "builder", "b")
				defer bob.Close()
				msg := "<message to='bob@localhost/b' type='chat' id='m1'><body>" + strings.Repeat("Hello, Bob! ", 8) + "</body></message>"
				chunk := strings.Repeat(msg, batch)
				b.ReportAllocs()
				b.ResetTimer()
				start := time.Now()
				// alice keeps at most chatWindow messages ahead of what bob has read, as a
				// real client does (the load tool: 100 in flight): flooding without a window
				// fills bob's outbox on the switch, which then rightly drops him as a reader
				// that stopped reading.
				var got atomic.Int64
				more := make(chan struct{}, 1)
				errc := make(chan error, 1)
				go func() {
					for sent := 0; sent < b.N; sent += batch {
						k := min(batch, b.N-sent)
						for int64(sent)-got.Load() > chatWindow {
							<-more
						}
						if _, err := io.WriteString(alice, chunk[:k*len(msg)]); err != nil {
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
					cc.Write(buf[:n])
					got.Store(int64(cc.n))
					select {
					case more <- struct{}{}:
					default:
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
				if tc.name == "proxy-json" {
					log.report(b, b.N, start)
				}
			})
		}
	}
}
