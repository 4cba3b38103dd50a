package proxy

import (
	"net"
	"testing"
	"time"
)

// BenchmarkBreakpoints: the proxy logging JSON without breakpoints, with three breakpoints
// on element, type and direction, and with those plus one on a JID, none of which matches
// the traffic, in the same run (issue 16: at most 5 percent of throughput). The proxies
// take turns, a round of 256 messages each (in writes of 16), in an order that rotates, so
// that a busy machine slows them alike; msg/s is each one's rate over its own rounds, and
// cost-% how much slower one with breakpoints was than the one without.
//
//	go test -run '^$' -bench 'Breakpoints$|BreakpointMatch' -benchtime 100000x -count 6 ./proxy    # scripts/bench-go.sh breakpoints
func BenchmarkBreakpoints(b *testing.B) {
	up := echoUpstream(b, nil)
	sets := []struct {
		name  string
		exprs []string
	}{
		{"none", nil},
		{"3-names", []string{"name iq and type set", "name presence and dir s2c", "name message and type groupchat"}},
		{"4-with-jid", []string{"name iq and type set", "name presence and dir s2c", "name message and type groupchat", "jid carol@localhost"}},
	}
	type arm struct {
		c   net.Conn
		log *benchLog
		p   *testProxy
		d   time.Duration
	}
	arms := make([]*arm, len(sets))
	for i, set := range sets {
		tp, l := jsonLogTestProxy(b, Config{Upstream: up})
		for _, expr := range set.exprs {
			if _, err := tp.p.Control().AddBreakpoint(expr); err != nil {
				b.Fatal(err)
			}
		}
		c := benchClient(b, tp.addr, nil)
		defer c.Close()
		arms[i] = &arm{c: c, log: l, p: tp}
	}
	const round, batch = 256, 16
	for _, a := range arms {
		pump(b, a.c, round, batch) // warm up
	}
	b.SetBytes(int64(len(benchMsg)))
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; n < b.N; i++ {
		k := min(round, b.N-n)
		for j := range arms {
			a := arms[(i+j)%len(arms)]
			a.d += pump(b, a.c, k, batch)
		}
		n += k
	}
	b.StopTimer()
	for i, a := range arms {
		b.ReportMetric(float64(n)/a.d.Seconds(), sets[i].name+"-msg/s")
		if i > 0 {
			b.ReportMetric((a.d.Seconds()/arms[0].d.Seconds()-1)*100, sets[i].name+"-cost-%")
		}
		for deadline := time.Now().Add(time.Minute); a.log.lost() != 0; { // every log complete
			if time.Now().After(deadline) {
				b.Fatalf("the log is still %d records behind after a minute", a.log.lost())
			}
			time.Sleep(time.Millisecond)
		}
		for _, bp := range a.p.p.Control().Breakpoints() {
			if bp.Hits != 0 {
				b.Fatalf("breakpoint %q matched", bp.Expr)
			}
		}
	}
}
