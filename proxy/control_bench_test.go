package proxy

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"
)

// breakpointSets are the arms of BenchmarkBreakpoints: none of them matches its traffic
// (chat messages between alice and bob, echoed). The element breakpoints skip a message by
// its name, the others look at every stanza.
var breakpointSets = []struct {
	name  string
	exprs []string
}{
	{"none", nil},
	{"none-again", nil}, // the A/A arm: the spread between two turns that do the same
	{"element", []string{"name iq", "name presence"}},
	{"type", []string{"type groupchat"}},
	{"direction", []string{"dir s2c and not name message"}},
	{"jid", []string{"jid carol@localhost"}},
	{"all-4", []string{"name iq and type set", "name presence and dir s2c", "name message and type groupchat", "jid carol@localhost"}},
}

// BenchmarkBreakpoints: the proxy logging JSON without breakpoints and with breakpoints
// on each kind of condition (element, type, direction, JID, and those four together), none
// of which matches the traffic, in the same run (issue 16: at most 5 percent of
// throughput). One proxy and one client connection serve every arm, so that nothing but
// the breakpoints differs between them: the arms take turns on it, in a random order each
// round, each turn with its own breakpoints set (before the turn, not measured), 256
// messages in writes of 16, after a garbage collection, and until its log has caught up.
// The none-again arm is a second turn without breakpoints: the spread between two arms
// that do the same (A/A).
//
// Per turn, the CPU time the whole process used (client, proxy, echo upstream, log: less
// disturbed by other processes than the clock) and the time on the clock. Each arm's cost
// is paired with each turn without breakpoints of the same round (none-again with none):
// cpu-cost-% is the median over these pairs of (arm's CPU time / that CPU time - 1),
// cost-% the same by the clock; their spread over the pairs is in -cpu-cost-p25-% and
// -cpu-cost-p75-%. msg/s and cpu-µs/msg are each arm's totals. Run it with -cpu 1: one P
// does all the work, so the CPU time is the work (with more, idle Ps spin looking for
// work, which more than doubles the CPU time per message and the spread between rounds),
// and the proxy's throughput is the inverse of it. The garbage collection before each
// turn keeps one arm's garbage from being collected in another's turn; the collection a
// turn's own messages need is then mostly not in it, for every arm alike (matching
// allocates nothing), which makes the cost per cent a little larger, not smaller.
//
//	go test -run '^$' -bench 'Breakpoints$' -benchtime 50000x -count 8 -cpu 1 ./proxy
func BenchmarkBreakpoints(b *testing.B) {
	up := echoUpstream(b, nil)
	tp, l := jsonLogTestProxy(b, Config{Upstream: up})
	ctl := tp.p.Control()
	c := benchClient(b, tp.addr, nil)
	defer c.Close()
	arm := func(i int) {
		ctl.ClearBreakpoints()
		for _, expr := range breakpointSets[i].exprs {
			if _, err := ctl.AddBreakpoint(expr); err != nil {
				b.Fatal(err)
			}
		}
	}
	noHits := func(i int) {
		for _, bp := range ctl.Breakpoints() {
			if bp.Hits != 0 {
				b.Fatalf("breakpoint %q of %s matched", bp.Expr, breakpointSets[i].name)
			}
		}
	}
	const round, batch = 256, 16
	for i := range breakpointSets { // warm up
		arm(i)
		pump(b, c, round, batch)
		waitLog(b, l)
		noHits(i)
	}
	type turn struct{ d, cpu time.Duration }
	rounds := make([][]turn, len(breakpointSets)) // per arm, per round
	b.SetBytes(int64(len(benchMsg)))
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 16)) // another order each run
	for n < b.N {
		k := min(round, b.N-n)
		for _, j := range rnd.Perm(len(breakpointSets)) {
			b.StopTimer()
			arm(j)
			runtime.GC()
			b.StartTimer()
			cpu := processCPU()
			start := time.Now()
			pump(b, c, k, batch)
			waitLog(b, l) // the turn is done when its log is written
			t := turn{time.Since(start), processCPU() - cpu}
			b.StopTimer()
			noHits(j)
			b.StartTimer()
			rounds[j] = append(rounds[j], t)
		}
		n += k
	}
	b.StopTimer()
	ctl.ClearBreakpoints()
	for i, set := range breakpointSets {
		var d, cpu time.Duration
		for _, t := range rounds[i] {
			d += t.d
			cpu += t.cpu
		}
		b.ReportMetric(float64(n)/d.Seconds(), set.name+"-msg/s")
		b.ReportMetric(float64(cpu.Microseconds())/float64(n), set.name+"-cpu-µs/msg")
		if i == 0 {
			continue
		}
		var clock, cpus []float64
		for r, t := range rounds[i] {
			// Against each turn without breakpoints of the round (none-again: against
			// none), one ratio each, so that every arm's ratios are spread as the A/A arm's.
			for _, base := range []turn{rounds[0][r], rounds[1][r]}[:min(i, 2)] {
				clock = append(clock, (t.d.Seconds()/base.d.Seconds()-1)*100)
				cpus = append(cpus, (t.cpu.Seconds()/base.cpu.Seconds()-1)*100)
			}
		}
		slices.Sort(clock)
		slices.Sort(cpus)
		b.ReportMetric(quantile(clock, 0.5), set.name+"-cost-%")
		b.ReportMetric(quantile(cpus, 0.5), set.name+"-cpu-cost-%")
		b.ReportMetric(quantile(cpus, 0.25), set.name+"-cpu-cost-p25-%")
		b.ReportMetric(quantile(cpus, 0.75), set.name+"-cpu-cost-p75-%")
	}
}

// quantile returns the q-quantile of the sorted xs (the nearest rank).
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	return xs[min(len(xs)-1, int(q*float64(len(xs))))]
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
