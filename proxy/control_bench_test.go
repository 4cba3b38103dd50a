package proxy

import (
	"math/rand/v2"
	"net"
	"testing"
	"time"
)

// BenchmarkBreakpoints: the proxy logging JSON without breakpoints and with breakpoints
// on each kind of condition (element, type, direction, JID, and those four together), none
// of which matches the traffic, in the same run (issue 16: at most 5 percent of
// throughput). A second proxy without breakpoints (none-again) shows the spread between
// two proxies that do the same. The proxies take turns, a round of 256 messages each (in
// writes of 16), in a random order each round, each after the one before has its log
// written, so that a busy machine slows them alike; msg/s is each one's rate over its own
// rounds, and cost-% how much slower one was than the one without breakpoints;
// cpu-µs/msg and cpu-cost-% are the same by the CPU time the whole process (client, proxy,
// echo upstream, log) used during each proxy's turns and until its log caught up, which
// other processes on a busy machine disturb less than the time on the clock. Every
// stanza is chat (a message, then its echo): the element breakpoints skip it by its name,
// the others look at it.
//
//	go test -run '^$' -bench 'Breakpoints$' -benchtime 50000x -count 8 ./proxy | tee bp.txt; benchstat bp.txt
func BenchmarkBreakpoints(b *testing.B) {
	up := echoUpstream(b, nil)
	sets := []struct {
		name  string
		exprs []string
	}{
		{"none", nil},
		{"none-again", nil},
		{"element", []string{"name iq", "name presence"}},
		{"type", []string{"type groupchat"}},
		{"direction", []string{"dir s2c and not name message"}},
		{"jid", []string{"jid carol@localhost"}},
		{"all-4", []string{"name iq and type set", "name presence and dir s2c", "name message and type groupchat", "jid carol@localhost"}},
	}
	type arm struct {
		c   net.Conn
		log *benchLog
		p   *testProxy
		d   time.Duration
		cpu time.Duration // the process's CPU time during its turns and their logs
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
	rnd := rand.New(rand.NewPCG(16, 16))
	for n < b.N {
		k := min(round, b.N-n)
		for _, j := range rnd.Perm(len(arms)) {
			a := arms[j]
			cpu := processCPU()
			a.d += pump(b, a.c, k, batch)
			// The next proxy starts once this one's log has caught up (not timed: the
			// log is the same with and without breakpoints), so that no proxy's turn
			// pays for the one before.
			b.StopTimer()
			waitLog(b, a.log)
			a.cpu += processCPU() - cpu
			b.StartTimer()
		}
		n += k
	}
	b.StopTimer()
	for i, a := range arms {
		b.ReportMetric(float64(n)/a.d.Seconds(), sets[i].name+"-msg/s")
		b.ReportMetric(float64(a.cpu.Microseconds())/float64(n), sets[i].name+"-cpu-µs/msg")
		if i > 0 {
			b.ReportMetric((a.d.Seconds()/arms[0].d.Seconds()-1)*100, sets[i].name+"-cost-%")
			b.ReportMetric((a.cpu.Seconds()/arms[0].cpu.Seconds()-1)*100, sets[i].name+"-cpu-cost-%")
		}
		waitLog(b, a.log) // every log complete
		for _, bp := range a.p.p.Control().Breakpoints() {
			if bp.Hits != 0 {
				b.Fatalf("breakpoint %q matched", bp.Expr)
			}
		}
	}
}

// waitLog waits until the log has every record the proxy emitted.
func waitLog(b *testing.B, l *benchLog) {
	for deadline := time.Now().Add(time.Minute); l.lost() != 0; {
		if time.Now().After(deadline) {
			b.Fatalf("the log is still %d records behind after a minute", l.lost())
		}
		time.Sleep(100 * time.Microsecond)
	}
}
