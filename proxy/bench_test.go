package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// The benchmarks measure the proxy against the same upstream reached directly and through
// a plain io.Copy relay, with the proxy logging every record as JSON to a file.
//
//	go test -run '^$' -bench . -benchtime 20000x ./proxy

const benchFeaturesTLS = "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>" +
	"<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>"

// echoUpstream is a minimal XMPP server: it answers the stream header with features
// (offering STARTTLS when cert is set, and doing it), then echoes every byte back.
func echoUpstream(tb testing.TB, cert *tls.Certificate) string {
	return rawServer(tb, func(c net.Conn) {
		if _, err := readHeader(c); err != nil {
			return
		}
		var rw net.Conn = c
		if cert != nil {
			io.WriteString(c, serverHeader+benchFeaturesTLS)
			if _, err := readUpTo(c, "/>"); err != nil { // <starttls .../>
				return
			}
			c.Write(proceedTLS)
			tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{*cert}})
			if err := tc.Handshake(); err != nil {
				return
			}
			if _, err := readHeader(tc); err != nil {
				return
			}
			rw = tc
		}
		io.WriteString(rw, serverHeader+plainFeatures)
		io.Copy(rw, rw)
	})
}

// readUpTo reads byte by byte until the input ends with suffix, so nothing after it is
// consumed (the next bytes may be TLS).
func readUpTo(c io.Reader, suffix string) (string, error) {
	var b strings.Builder
	one := make([]byte, 1)
	for !strings.HasSuffix(b.String(), suffix) {
		if _, err := io.ReadFull(c, one); err != nil {
			return b.String(), err
		}
		b.WriteByte(one[0])
		if b.Len() > 4096 {
			return b.String(), fmt.Errorf("no %q in 4 KiB", suffix)
		}
	}
	return b.String(), nil
}

func readHeader(c io.Reader) (string, error) { return readUpTo(c, "version='1.0'>") }

// benchClient opens a stream at addr and returns a connection ready for stanzas; with
// roots it does STARTTLS first.
func benchClient(tb testing.TB, addr string, roots *x509.CertPool) net.Conn {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	io.WriteString(c, clientHeader)
	if _, err := readUpTo(c, "</stream:features>"); err != nil {
		tb.Fatal(err)
	}
	if roots == nil {
		return c
	}
	c.Write(startTLS)
	if _, err := readUpTo(c, "/>"); err != nil {
		tb.Fatal(err)
	}
	tc := tls.Client(c, &tls.Config{ServerName: "localhost", RootCAs: roots})
	if err := tc.Handshake(); err != nil {
		tb.Fatal(err)
	}
	io.WriteString(tc, clientHeader)
	if _, err := readUpTo(tc, "</stream:features>"); err != nil {
		tb.Fatal(err)
	}
	return tc
}

// ioCopyRelay is the baseline: a TCP relay that copies bytes and looks at nothing.
func ioCopyRelay(tb testing.TB, upstream string) string {
	return rawServer(tb, func(c net.Conn) {
		u, err := net.Dial("tcp", upstream)
		if err != nil {
			return
		}
		defer u.Close()
		done := make(chan struct{})
		go func() { io.Copy(u, c); u.(*net.TCPConn).CloseWrite(); close(done) }()
		io.Copy(c, u)
		<-done
	})
}

// benchLog is the proxy's JSON log in the benchmarks, behind the sink chain the command
// builds (redactor, iq tracker, numbering, a lossless queue, a buffered file flushed when
// the queue runs empty). It counts the records the proxy hands over and the records the
// log gets, so a benchmark can tell when the log missed some.
type benchLog struct {
	json              *inspect.JSON
	w                 *bufio.Writer
	in, logged, notes atomic.Uint64
}

func (l *benchLog) Write(r *inspect.Record) error {
	l.logged.Add(1)
	if r.Kind == inspect.KindNote && r.Unmatched { // the iq tracker's own notes
		l.notes.Add(1)
	}
	return l.json.Write(r)
}

func (l *benchLog) Flush() error { return l.w.Flush() }

// lost returns how many records the proxy emitted that did not reach the log (yet).
func (l *benchLog) lost() uint64 { return l.in.Load() - (l.logged.Load() - l.notes.Load()) }

// report reports how far behind the log was when the traffic ended ("log-behind"
// records, at most the queue), waits until it has caught up and reports the rate
// including that wait ("logged-msg/s"): traffic and its complete log.
func (l *benchLog) report(b *testing.B, n int, start time.Time) {
	b.ReportMetric(float64(l.lost()), "log-behind")
	for deadline := time.Now().Add(time.Minute); l.lost() != 0; {
		if time.Now().After(deadline) {
			b.Fatalf("the log is still %d records behind after a minute", l.lost())
		}
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "logged-msg/s")
}

// jsonLogProxy starts a proxy in front of upstream logging JSON to a file through the
// sink chain, and returns its address and the log's counts. When the benchmark ends, it
// fails if the log file misses a record.
func jsonLogProxy(tb testing.TB, cfg Config) (string, *benchLog) {
	tp, l := jsonLogTestProxy(tb, cfg)
	return tp.addr, l
}

// jsonLogTestProxy is jsonLogProxy returning the proxy itself.
func jsonLogTestProxy(tb testing.TB, cfg Config) (*testProxy, *benchLog) {
	path := filepath.Join(tb.TempDir(), "proxy.jsonl")
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 64<<10)
	l := &benchLog{json: inspect.NewJSON(w, inspect.JSONOptions{}), w: w}
	chain := inspect.NewChain(inspect.ChainOptions{IQTimeout: 30 * time.Second, Queue: 8192}, inspect.Output{Sink: l})
	tb.Cleanup(func() { // after the proxy has stopped (cleanups run last first)
		chain.Close()
		w.Flush()
		f.Close()
		lines := 0
		if b, err := os.ReadFile(path); err == nil {
			lines = bytes.Count(b, []byte("\n"))
		}
		if l.lost() != 0 || uint64(lines) != l.logged.Load() {
			tb.Fatalf("the JSON log lost records: %d emitted, %d logged (%d of them iq notes), %d lines in the file",
				l.in.Load(), l.logged.Load(), l.notes.Load(), lines)
		}
	})
	cfg.Sink = inspect.SinkFunc(func(r *inspect.Record) error { l.in.Add(1); return chain.Write(r) })
	cfg.Logf = func(string, ...any) {}
	tp := startProxy(tb, cfg, false)
	return tp, l
}

var benchMsg = "<message to='bob@localhost' from='alice@localhost/phone' type='chat' id='m0000001'><body>" +
	strings.Repeat("Hello, Bob! ", 8) + "</body></message>"

// pump sends n messages on c in writes of batch messages and reads the echo; it returns
// the elapsed time.
func pump(tb testing.TB, c net.Conn, n, batch int) time.Duration {
	chunk := []byte(strings.Repeat(benchMsg, batch))
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		for sent := 0; sent < n; sent += batch {
			k := min(batch, n-sent)
			if _, err := c.Write(chunk[:k*len(benchMsg)]); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	want := int64(n * len(benchMsg))
	c.SetReadDeadline(time.Now().Add(2 * time.Minute))
	if _, err := io.CopyN(io.Discard, c, want); err != nil {
		tb.Fatalf("reading the echo: %v", err)
	}
	if err := <-errc; err != nil {
		tb.Fatal(err)
	}
	return time.Since(start)
}

// BenchmarkThroughput: messages per second echoed by the same upstream reached directly,
// through an io.Copy relay, and through the proxy logging JSON to a file. Batch is how
// many messages the client writes at once.
func BenchmarkThroughput(b *testing.B) {
	up := echoUpstream(b, nil)
	relay := ioCopyRelay(b, up)
	prox, log := jsonLogProxy(b, Config{Upstream: up})
	for _, batch := range []int{1, 16} {
		for _, tc := range []struct{ name, addr string }{{"direct", up}, {"iocopy", relay}, {"proxy-json", prox}} {
			b.Run(fmt.Sprintf("%s/batch=%d", tc.name, batch), func(b *testing.B) {
				c := benchClient(b, tc.addr, nil)
				defer c.Close()
				b.SetBytes(int64(len(benchMsg)))
				b.ReportAllocs()
				b.ResetTimer()
				start := time.Now()
				d := pump(b, c, b.N, batch)
				b.ReportMetric(float64(b.N)/d.Seconds(), "msg/s")
				if tc.name == "proxy-json" {
					log.report(b, b.N, start)
				}
			})
		}
	}
}

// BenchmarkLatency sends 1,000 messages per second and measures each one's round trip
// (client -> upstream echo -> client), directly and through the proxy; the proxy's added
// latency per stanza is half the difference (each round trip crosses it twice).
func BenchmarkLatency(b *testing.B) {
	up := echoUpstream(b, nil)
	prox, _ := jsonLogProxy(b, Config{Upstream: up})
	for _, tc := range []struct{ name, addr string }{{"direct", up}, {"proxy-json", prox}} {
		b.Run(tc.name, func(b *testing.B) {
			c := benchClient(b, tc.addr, nil)
			defer c.Close()
			buf := make([]byte, len(benchMsg))
			rtts := make([]time.Duration, 0, b.N)
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			b.ResetTimer()
			for range b.N {
				<-tick.C
				t0 := time.Now()
				if _, err := io.WriteString(c, benchMsg); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					b.Fatal(err)
				}
				rtts = append(rtts, time.Since(t0))
			}
			b.StopTimer()
			slices.Sort(rtts)
			b.ReportMetric(float64(rtts[len(rtts)/2].Microseconds()), "p50-rtt-µs")
			b.ReportMetric(float64(rtts[len(rtts)*99/100].Microseconds()), "p99-rtt-µs")
		})
	}
}

// heapAndStacks returns the memory in use after a GC: heap objects plus goroutine stacks.
func heapAndStacks() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc + m.StackInuse
}

// BenchmarkIdleMemory opens 1,000 idle connections directly and then through the proxy,
// plaintext and with TLS on both legs; the difference per connection is what the proxy
// holds for one idle proxied connection, both legs together.
func BenchmarkIdleMemory(b *testing.B) {
	const n = 1000
	upCA := newCA(b)
	upLeaf, _ := upCA.Leaf("localhost")
	authority := newCA(b)
	for _, tlsOn := range []bool{false, true} {
		name := "plaintext"
		var cert *tls.Certificate
		var directRoots, proxyRoots *x509.CertPool
		if tlsOn {
			name, cert, directRoots, proxyRoots = "tls-both-legs", upLeaf, upCA.Pool(), authority.Pool()
		}
		b.Run(name, func(b *testing.B) {
			up := echoUpstream(b, cert)
			cfg := Config{Upstream: up, CA: authority, UpstreamTLS: &tls.Config{RootCAs: upCA.Pool()}}
			prox, _ := jsonLogProxy(b, cfg)
			open := func(addr string, roots *x509.CertPool) (uint64, func()) {
				before := heapAndStacks()
				conns := make([]net.Conn, n)
				var wg sync.WaitGroup
				sem := make(chan struct{}, 32)
				for i := range conns {
					wg.Add(1)
					sem <- struct{}{}
					go func() {
						defer wg.Done()
						conns[i] = benchClient(b, addr, roots)
						<-sem
					}()
				}
				wg.Wait()
				time.Sleep(100 * time.Millisecond) // let the last writes settle
				after := heapAndStacks()
				return after - before, func() {
					for _, c := range conns {
						c.Close()
					}
				}
			}
			for range b.N {
				direct, closeDirect := open(up, directRoots)
				closeDirect()
				time.Sleep(200 * time.Millisecond)
				proxied, closeProxied := open(prox, proxyRoots)
				closeProxied()
				time.Sleep(200 * time.Millisecond)
				per := (float64(proxied) - float64(direct)) / n
				b.ReportMetric(per/1024, "KiB/conn")
				b.ReportMetric(float64(direct)/n/1024, "direct-KiB/conn")
			}
		})
	}
}

var _ = context.Background

// BenchmarkThroughputTLS is BenchmarkThroughput with TLS: client to upstream directly,
// and through the proxy with TLS on both legs (the proxy decrypts, parses, logs and
// re-encrypts every stanza).
func BenchmarkThroughputTLS(b *testing.B) {
	upCA := newCA(b)
	leaf, _ := upCA.Leaf("localhost")
	authority := newCA(b)
	up := echoUpstream(b, leaf)
	prox, log := jsonLogProxy(b, Config{Upstream: up, CA: authority, UpstreamTLS: &tls.Config{RootCAs: upCA.Pool()}})
	for _, tc := range []struct {
		name, addr string
		roots      *x509.CertPool
	}{{"direct", up, upCA.Pool()}, {"proxy-json", prox, authority.Pool()}} {
		b.Run(tc.name+"/batch=16", func(b *testing.B) {
			c := benchClient(b, tc.addr, tc.roots)
			defer c.Close()
			b.SetBytes(int64(len(benchMsg)))
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			d := pump(b, c, b.N, 16)
			b.ReportMetric(float64(b.N)/d.Seconds(), "msg/s")
			if tc.name == "proxy-json" {
				log.report(b, b.N, start)
			}
		})
	}
}
