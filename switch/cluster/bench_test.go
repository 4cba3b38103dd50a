package cluster_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stanzascope/stanzascope/switch/cluster"
	"github.com/stanzascope/stanzascope/switch/server"
	"github.com/stanzascope/stanzascope/switch/store/pgstore"
)

// BenchmarkRoute measures chat messages between two clients (pre-1.0 streams on loopback,
// no TLS: what is measured is the routing) on a switch with the local directory, on one
// node of a cluster (both clients on that node), and across two nodes of the cluster (the
// sender on one, the receiver on the other). Routing does not touch the store
// (PostgreSQL for all three). Throughput: b.N messages with at most 500 in flight;
// latency: b.N round trips, a message each way, one at a time.
//
//	go test -run '^$' -bench Route -benchtime 20000x ./switch/cluster/
func BenchmarkRoute(b *testing.B) {
	e := newEnv(b)
	na, nb := e.startNode("a"), e.startNode("b")
	local := e.startLocal()
	cases := []struct {
		name     string
		from, to string
		seen     func(jid string) bool // the sender's node knows the receiver
	}{
		{"local-directory", local, local, func(string) bool { return true }},
		{"one-node", na.addr, na.addr, func(j string) bool { return na.node.Lookup(mustJID(b, j)) != nil }},
		{"two-nodes", na.addr, nb.addr, func(j string) bool { return na.node.Lookup(mustJID(b, j)) != nil }},
	}
	// The floor: a bare nats.go round trip through the same nats-server on loopback, two
	// connections (as two nodes), a message each way, one at a time: two hops through the
	// server process, as a round trip across two nodes has.
	b.Run("nats-floor/latency", func(b *testing.B) { benchNATSFloor(b, e.nats.URL()) })
	for i, c := range cases {
		s, r := "s"+string(rune('a'+i)), "r"+string(rune('a'+i))
		addAccount(b, na.db, s)
		addAccount(b, na.db, r)
		sender := rawLogin(b, c.from, s, "r")
		receiver := rawLogin(b, c.to, r, "r")
		waitUntil(b, 10*time.Second, "the sender's node sees the receiver", func() bool { return c.seen(r + "@localhost/r") })
		toR := []byte("<message to='" + r + "@localhost/r' type='chat'><body>benchmark</body></message>")
		toS := []byte("<message to='" + s + "@localhost/r' type='chat'><body>back</body></message>")
		b.Run(c.name+"/throughput", func(b *testing.B) {
			benchThroughput(b, sender, receiver, toR)
		})
		b.Run(c.name+"/latency", func(b *testing.B) {
			benchLatency(b, sender, receiver, toR, toS)
		})
	}
}

// BenchmarkCrossing tells where the time of a message goes at a low, steady rate, the
// rate of scripts/bench.sh's latency runs: one message at a time, one way, paced 500 µs
// apart (2000/s), so that every process and goroutine on the way has gone idle in between.
// Each sub-benchmark reports the one-way latency (p50, p99): both clients on node a
// (within), the sender on node a and the receiver on node b (across), and a bare nats.go
// message between two connections through the same nats-server (nats-floor). Across also
// reports the p50 and p99 of each stage of the crossing (NAME-µs, NAME-p99-µs):
//
//	route-µs    the client's write until node a routed the stanza (its reader, the parse,
//	            the lookup): what a message within a node also pays
//	publish-µs  the NATS client taking it (PublishRequest)
//	nats-µs     node a's NATS client writing it, nats-server, node b's NATS client reading
//	            it and handing it to node b's inbox goroutine
//	handoff-µs  node b putting it into the session's outbox
//	write-µs    the session's writer until the client read it: what a message within a
//	            node also pays
//
//	go test -run '^$' -bench Crossing -benchtime 2000x -count 3 ./switch/cluster/
func BenchmarkCrossing(b *testing.B) {
	const gap = 500 * time.Microsecond
	e := newEnv(b)
	na, nb := e.startNode("a"), e.startNode("b")
	for _, c := range []struct {
		name string
		to   *node
	}{{"within", na}, {"across", nb}} {
		s, r := "cs-"+c.name, "cr-"+c.name
		addAccount(b, na.db, s)
		addAccount(b, na.db, r)
		sender := rawLogin(b, na.addr, s, "r")
		receiver := rawLogin(b, c.to.addr, r, "r")
		waitUntil(b, 10*time.Second, "node a sees the receiver", func() bool { return na.node.Lookup(mustJID(b, r+"@localhost/r")) != nil })
		msg := []byte("<message to='" + r + "@localhost/r' type='chat'><body>benchmark</body></message>")
		b.Run(c.name, func(b *testing.B) {
			var at [cluster.Stages]atomic.Int64
			stop := cluster.WatchCrossings(func(stage int) { at[stage].Store(time.Now().UnixNano()) })
			defer stop()
			var stages [cluster.Stages + 1][]time.Duration
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				for i := range at {
					at[i].Store(0)
				}
				t0 := time.Now()
				if _, err := sender.conn.Write(msg); err != nil {
					b.Fatal(err)
				}
				if err := countMarker(receiver.conn, "</message>", 1, nil); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				lat = append(lat, t1.Sub(t0))
				if c.to != na {
					prev := t0.UnixNano()
					for i := range at {
						v := at[i].Load()
						stages[i] = append(stages[i], time.Duration(v-prev))
						prev = v
					}
					stages[cluster.Stages] = append(stages[cluster.Stages], time.Duration(t1.UnixNano()-prev))
				}
				time.Sleep(gap)
			}
			b.StopTimer()
			reportPercentiles(b, lat, "")
			if c.to != na {
				for i, name := range []string{"route", "publish", "nats", "handoff", "write"} {
					slices.Sort(stages[i])
					b.ReportMetric(float64(stages[i][len(stages[i])/2].Microseconds()), name+"-µs")
					b.ReportMetric(float64(stages[i][len(stages[i])*99/100].Microseconds()), name+"-p99-µs")
				}
			}
		})
	}
	b.Run("nats-floor", func(b *testing.B) {
		ca, err := nats.Connect(e.nats.URL())
		if err != nil {
			b.Fatal(err)
		}
		defer ca.Close()
		cb, err := nats.Connect(e.nats.URL())
		if err != nil {
			b.Fatal(err)
		}
		defer cb.Close()
		got := make(chan *nats.Msg, 1)
		if _, err := cb.ChanSubscribe("floor.oneway", got); err != nil {
			b.Fatal(err)
		}
		if err := cb.Flush(); err != nil {
			b.Fatal(err)
		}
		msg := []byte("<message to='r@localhost/r' type='chat'><body>benchmark</body></message>")
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for range b.N {
			t0 := time.Now()
			if err := ca.Publish("floor.oneway", msg); err != nil {
				b.Fatal(err)
			}
			select {
			case <-got:
			case <-time.After(30 * time.Second):
				b.Fatal("nothing within 30 s")
			}
			lat = append(lat, time.Since(t0))
			time.Sleep(gap)
		}
		b.StopTimer()
		reportPercentiles(b, lat, "")
	})
}

func benchThroughput(b *testing.B, sender, receiver *raw, msg []byte) {
	const window, batch = 500, 50
	b.ReportAllocs()
	progress := make(chan int, 1024)
	errc := make(chan error, 1)
	go func() {
		errc <- countMarker(receiver.conn, "</message>", b.N, func(n int) {
			if n%batch == 0 || n == b.N {
				progress <- n
			}
		})
	}()
	buf := bytes.Repeat(msg, batch)
	start := time.Now()
	b.ResetTimer()
	sent, got := 0, 0
	for sent < b.N {
		for sent-got >= window {
			select {
			case got = <-progress:
			case err := <-errc:
				b.Fatalf("receiver: %v (after %d of %d)", err, got, b.N)
			}
		}
		k := min(batch, b.N-sent)
		if _, err := sender.conn.Write(buf[:k*len(msg)]); err != nil {
			b.Fatal(err)
		}
		sent += k
	}
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

func benchLatency(b *testing.B, sender, receiver *raw, toR, toS []byte) {
	rtts := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if _, err := sender.conn.Write(toR); err != nil {
			b.Fatal(err)
		}
		if err := countMarker(receiver.conn, "</message>", 1, nil); err != nil {
			b.Fatal(err)
		}
		if _, err := receiver.conn.Write(toS); err != nil {
			b.Fatal(err)
		}
		if err := countMarker(sender.conn, "</message>", 1, nil); err != nil {
			b.Fatal(err)
		}
		rtts = append(rtts, time.Since(t0))
	}
	b.StopTimer()
	reportRTT(b, rtts)
}

func benchNATSFloor(b *testing.B, url string) {
	ca, err := nats.Connect(url)
	if err != nil {
		b.Fatal(err)
	}
	defer ca.Close()
	cb, err := nats.Connect(url)
	if err != nil {
		b.Fatal(err)
	}
	defer cb.Close()
	if _, err := cb.Subscribe("floor.ping", func(m *nats.Msg) { cb.Publish("floor.pong", m.Data) }); err != nil {
		b.Fatal(err)
	}
	pong := make(chan *nats.Msg, 1)
	if _, err := ca.ChanSubscribe("floor.pong", pong); err != nil {
		b.Fatal(err)
	}
	if err := cb.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := ca.Flush(); err != nil {
		b.Fatal(err)
	}
	msg := []byte("<message to='r@localhost/r' type='chat'><body>benchmark</body></message>")
	rtts := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if err := ca.Publish("floor.ping", msg); err != nil {
			b.Fatal(err)
		}
		select {
		case <-pong:
		case <-time.After(30 * time.Second):
			b.Fatal("no pong within 30 s")
		}
		rtts = append(rtts, time.Since(t0))
	}
	b.StopTimer()
	reportRTT(b, rtts)
}

func reportRTT(b *testing.B, rtts []time.Duration) { reportPercentiles(b, rtts, "rtt-") }

// reportPercentiles reports the p50 and p99 of d (sorted in place) as PREFIXp50-µs and
// PREFIXp99-µs.
func reportPercentiles(b *testing.B, d []time.Duration, prefix string) {
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Microseconds()), prefix+"p50-µs")
	b.ReportMetric(float64(d[len(d)*99/100].Microseconds()), prefix+"p99-µs")
}

// countMarker reads c until marker was seen n times, calling each (if set) with the count
// so far; 30 s without a byte is an error. Markers split across reads are counted.
func countMarker(c net.Conn, marker string, n int, each func(int)) error {
	buf := make([]byte, 64<<10)
	var carry []byte
	seen := 0
	for seen < n {
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		k, err := c.Read(buf[len(carry):])
		if k > 0 {
			data := buf[:len(carry)+k]
			for {
				i := bytes.Index(data, []byte(marker))
				if i < 0 {
					break
				}
				seen++
				if each != nil {
					each(seen)
				}
				data = data[i+len(marker):]
			}
			keep := min(len(data), len(marker)-1)
			carry = append(carry[:0], data[len(data)-keep:]...)
			copy(buf, carry)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// startLocal starts a switch with the local directory (no cluster) on the database, and
// returns its address.
func (e *env) startLocal() string {
	t := e.t
	t.Helper()
	db, err := pgstore.Open(context.Background(), e.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Store: db, TLS: &tls.Config{Certificates: []tls.Certificate{e.cert}}})
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
		db.Close()
	})
	return ln.Addr().String()
}
