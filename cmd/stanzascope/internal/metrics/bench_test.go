package metrics

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/proxy"
	"github.com/stanzascope/stanzascope/rules"
	"github.com/stanzascope/stanzascope/switch/server"
	"github.com/stanzascope/stanzascope/switch/store"
	"github.com/stanzascope/stanzascope/switch/switchtest"
)

// BenchmarkRouting measures what --metrics costs: chat messages routed by the switch alone
// (route) and through the proxy in front of it (proxy), each with and without metrics, in
// the same run. Both run the sink chain the command builds for them, with the terminal the
// load benchmarks use (raw output behind a filter that shows nothing); metrics=on adds the
// metrics output to the chain and the Stats counters to the switch and the proxy. One
// client writes b.N messages to the other's full JID (its bare JID, with no available
// resource, would store them offline), which reads them all. Compare with
//
//	go test -run '^$' -bench Routing -benchtime 100000x -count 10 ./cmd/stanzascope/internal/metrics > m.txt
//	go run golang.org/x/perf/cmd/benchstat@latest -col /metrics m.txt
func BenchmarkRouting(b *testing.B) {
	for _, path := range []string{"route", "proxy"} {
		for _, on := range []bool{false, true} {
			b.Run(fmt.Sprintf("path=%s/metrics=%s", path, map[bool]string{false: "off", true: "on"}[on]), func(b *testing.B) {
				benchRouting(b, path == "proxy", on)
			})
		}
	}
}

func benchRouting(b *testing.B, proxied, withMetrics bool) {
	r := startRig(b, proxied, withMetrics)
	jane := legacyLogin(b, r.addr, "jane", "Home")
	defer jane.Close()
	dana := legacyLogin(b, r.addr, "dana", "Home")
	defer dana.Close()
	msg := []byte("<message to='dana@localhost/Home' type='chat'><body>I wish to complain about this parrot what I purchased not half an hour ago from this very boutique.</body></message>")

	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	b.ResetTimer()
	start := time.Now()
	errc := make(chan error, 1)
	// At most window messages in flight: a sender faster than its reader fills the
	// reader's outbox, and the switch drops a reader that far behind (policy-violation).
	// 256 messages are about 50 KB, well under the default outbox.
	const window = 256
	inFlight := make(chan struct{}, window)
	go func() {
		w := bufio.NewWriterSize(jane, 32<<10)
		jane.SetWriteDeadline(time.Now().Add(5 * time.Minute))
		for i := 0; i < b.N; i++ {
			select {
			case inFlight <- struct{}{}:
			default:
				if err := w.Flush(); err != nil { // what is buffered, before waiting for dana
					errc <- err
					return
				}
				inFlight <- struct{}{}
			}
			if _, err := w.Write(msg); err != nil {
				errc <- err
				return
			}
		}
		errc <- w.Flush()
	}()
	dana.SetReadDeadline(time.Now().Add(5 * time.Minute))
	buf := make([]byte, 64<<10)
	var got int
	var tail []byte
	end := []byte("</message>")
	for got < b.N {
		n, err := dana.Read(buf)
		chunk := append(tail, buf[:n]...)
		n = bytes.Count(chunk, end)
		got += n
		for range n {
			<-inFlight
		}
		tail = append(tail[:0], chunk[max(0, len(chunk)-len(end)+1):]...) // a tag cut by the read boundary
		if err != nil {
			b.Fatalf("dana got %d of %d messages: %v", got, b.N, err)
		}
	}
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msg/s")
	if r.m != nil {
		// The metrics see every message jane sent. Through the proxy a record is emitted
		// once its bytes are written upstream, which may be after dana read them: wait
		// for the count with a deadline.
		var n float64
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			var c dto.Metric
			if err := r.m.records.stanzas[inspect.ClientToServer][elemMessage].Write(&c); err != nil {
				b.Fatal(err)
			}
			if n = c.GetCounter().GetValue(); int(n) == b.N || time.Now().After(deadline) {
				break
			}
		}
		if int(n) != b.N {
			b.Fatalf("the metrics counted %v messages from the client, want %d", n, b.N)
		}
	}
}

// rig is a switch, alone or behind the proxy, with the chain the command builds.
type rig struct {
	addr string
	m    *Metrics // nil without metrics
}

func startRig(b *testing.B, proxied, withMetrics bool) *rig {
	b.Helper()
	st := store.NewMemory()
	switchtest.AddAccount(b, st, "jane", "pw")
	switchtest.AddAccount(b, st, "dana", "pw")
	r := &rig{}
	shows, err := rules.ParseFilter("name bench-shows-nothing")
	if err != nil {
		b.Fatal(err)
	}
	outs := []inspect.Output{{Sink: rules.NewFilterSink(inspect.NewRaw(io.Discard), shows), Lossy: true}}
	var swStats *server.Stats
	var pxStats *proxy.Stats
	if withMetrics {
		r.m = New()
		outs = append(outs, r.m.Output())
		swStats, pxStats = new(server.Stats), new(proxy.Stats)
		r.m.WatchSwitch(swStats, !proxied)
		if proxied {
			r.m.WatchProxy(pxStats)
		}
	}
	chain := inspect.NewChain(inspect.ChainOptions{IQTimeout: 30 * time.Second, Queue: 8192}, outs...)
	if r.m != nil {
		r.m.WatchSkipped(chain.Skipped)
	}
	cfg := server.Config{Domain: "localhost", Store: st, Stats: swStats}
	if !proxied {
		cfg.Observe = chain
	}
	srv, err := server.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var done []chan error
	serve := func(f func(net.Listener) error) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		d := make(chan error, 1)
		done = append(done, d)
		go func() { d <- f(ln) }()
		return ln.Addr().String()
	}
	r.addr = serve(func(ln net.Listener) error { return srv.Serve(ctx, ln) })
	if proxied {
		p, err := proxy.New(proxy.Config{Upstream: r.addr, Sink: chain, Stats: pxStats, Logf: func(string, ...any) {}})
		if err != nil {
			b.Fatal(err)
		}
		r.addr = serve(func(ln net.Listener) error { return p.Serve(ctx, ln) })
	}
	b.Cleanup(func() {
		cancel()
		for i := len(done) - 1; i >= 0; i-- {
			if err := <-done[i]; err != nil {
				b.Error(err)
			}
		}
		if err := chain.Close(); err != nil {
			b.Error(err)
		}
	})
	return r
}

// legacyLogin logs user in with jabber:iq:auth on a pre-1.0 stream (no TLS, as the
// textbook session does) and returns the connection, ready for stanzas.
func legacyLogin(b *testing.B, addr, user, res string) net.Conn {
	b.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	io.WriteString(c, "<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")
	io.WriteString(c, "<iq id='auth1' type='set'><query xmlns='jabber:iq:auth'><username>"+user+"</username><password>pw</password><resource>"+res+"</resource></query></iq>")
	var got []byte
	buf := make([]byte, 4096)
	for !bytes.Contains(got, []byte("id='auth1'")) || !bytes.Contains(got, []byte("/>")) {
		n, err := c.Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			b.Fatalf("login of %s: %v; got %q", user, err, got)
		}
	}
	if !bytes.Contains(got, []byte("type='result'")) {
		b.Fatalf("login of %s: %q", user, got)
	}
	c.SetDeadline(time.Time{})
	return c
}

// BenchmarkRecordMetrics is the cost of the metrics output per record, as the chain
// calls it: a chat message, its iq-free path (the common case), and an iq answer with a
// round trip (one histogram observation more).
func BenchmarkRecordMetrics(b *testing.B) {
	m := New()
	out := m.Output().Sink
	conn := &inspect.ConnInfo{ID: 1}
	for _, tc := range []struct {
		name string
		r    *inspect.Record
	}{
		{"message", &inspect.Record{Kind: inspect.KindStanza, Dir: inspect.ClientToServer, Conn: conn, Name: "message", NS: inspect.NSClient,
			Raw: []byte("<message to='dana@localhost' type='chat'><body>I wish to complain about this parrot.</body></message>")}},
		{"iq-answer", withRTT(&inspect.Record{Kind: inspect.KindStanza, Dir: inspect.ServerToClient, Conn: conn, Name: "iq", NS: inspect.NSClient,
			Raw: []byte("<iq type='result' id='ping1' to='jane@localhost/Home'/>")}, 250*time.Microsecond)},
		{"whitespace", &inspect.Record{Kind: inspect.KindWhitespace, Dir: inspect.ClientToServer, Conn: conn, Raw: []byte(" ")}},
		// As the proxy makes it: framed by a Reader, which noted the type.
		{"message-framed", framed(b, conn, "<message to='dana@localhost' type='chat'><body>I wish to complain about this parrot, which I purchased not half an hour ago.</body></message>")},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				out.Write(tc.r)
			}
		})
	}
}

// framed returns the record of one stanza of a client's stream, as a Reader frames it.
func framed(b *testing.B, conn *inspect.ConnInfo, stanza string) *inspect.Record {
	rd := inspect.NewReader(bytes.NewReader([]byte(c2sHeader+stanza)), inspect.Limits{})
	for {
		ev, err := rd.Next()
		if err != nil {
			b.Fatal(err)
		}
		if ev.Kind == inspect.KindStanza {
			r := ev.Record()
			r.Conn, r.Dir = conn, inspect.ClientToServer
			return r
		}
	}
}

// withRTT returns r with the RTT an iq tracker would have set.
func withRTT(r *inspect.Record, d time.Duration) *inspect.Record {
	r.SetRTT(d)
	return r
}
