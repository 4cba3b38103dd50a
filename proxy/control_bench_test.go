package proxy

import (
	"testing"
	"time"
)

// BenchmarkBreakpoints: the proxy logging JSON, without breakpoints and with three
// breakpoints that match nothing of the traffic, in the same run (issue 16: at most 5
// percent of throughput). The two proxies take turns, a round of 256 messages each (in
// writes of 16), so that a busy machine slows both alike; msg/s is each one's rate over
// its own rounds, and cost-% how much slower the one with breakpoints was.
//
//	go test -run '^$' -bench Breakpoints -benchtime 100000x -count 6 ./proxy    # scripts/bench-go.sh breakpoints
func BenchmarkBreakpoints(b *testing.B) {
	up := echoUpstream(b, nil)
	plain, plainLog := jsonLogTestProxy(b, Config{Upstream: up})
	armed, armedLog := jsonLogTestProxy(b, Config{Upstream: up})
	ctl := armed.p.Control()
	for _, expr := range []string{
		"jid carol@localhost",
		"name iq and type set",
		"name presence and dir s2c",
	} {
		if _, err := ctl.AddBreakpoint(expr); err != nil {
			b.Fatal(err)
		}
	}
	cp := benchClient(b, plain.addr, nil)
	defer cp.Close()
	ca := benchClient(b, armed.addr, nil)
	defer ca.Close()
	const round, batch = 256, 16
	pump(b, cp, round, batch) // warm up both
	pump(b, ca, round, batch)
	b.SetBytes(int64(len(benchMsg)))
	b.ReportAllocs()
	b.ResetTimer()
	var tPlain, tArmed time.Duration
	n := 0
	for i := 0; n < b.N; i++ {
		k := min(round, b.N-n)
		if i%2 == 0 { // alternate who goes first
			tPlain += pump(b, cp, k, batch)
			tArmed += pump(b, ca, k, batch)
		} else {
			tArmed += pump(b, ca, k, batch)
			tPlain += pump(b, cp, k, batch)
		}
		n += k
	}
	b.StopTimer()
	b.ReportMetric(float64(n)/tPlain.Seconds(), "none-msg/s")
	b.ReportMetric(float64(n)/tArmed.Seconds(), "3-nomatch-msg/s")
	b.ReportMetric((tArmed.Seconds()/tPlain.Seconds()-1)*100, "cost-%")
	for _, l := range []*benchLog{plainLog, armedLog} { // both logs complete
		for deadline := time.Now().Add(time.Minute); l.lost() != 0; {
			if time.Now().After(deadline) {
				b.Fatalf("the log is still %d records behind after a minute", l.lost())
			}
			time.Sleep(time.Millisecond)
		}
	}
	if h := ctl.Breakpoints(); h[0].Hits+h[1].Hits+h[2].Hits != 0 {
		b.Fatalf("a breakpoint matched: %+v", h)
	}
}
