package proxy

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkBreakpoints: the proxy logging JSON, without breakpoints and with breakpoints
// that match nothing of the traffic, in the same run (issue 16: at most 5 percent of
// throughput). Each round runs both, alternately, so that a noisy machine hurts both.
//
//	go test -run '^$' -bench Breakpoints -benchtime 20000x -count 5 ./proxy
func BenchmarkBreakpoints(b *testing.B) {
	up := echoUpstream(b, nil)
	plain, plainLog := jsonLogProxy(b, Config{Upstream: up})
	armed, armedLog := jsonLogTestProxy(b, Config{Upstream: up})
	armedAddr := armed.addr
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
	for _, batch := range []int{1, 16} {
		for _, tc := range []struct {
			name string
			addr string
			log  *benchLog
		}{{"none", plain, plainLog}, {"3-nomatch", armedAddr, armedLog}} {
			b.Run(fmt.Sprintf("%s/batch=%d", tc.name, batch), func(b *testing.B) {
				c := benchClient(b, tc.addr, nil)
				defer c.Close()
				b.SetBytes(int64(len(benchMsg)))
				b.ReportAllocs()
				b.ResetTimer()
				start := time.Now()
				d := pump(b, c, b.N, batch)
				b.ReportMetric(float64(b.N)/d.Seconds(), "msg/s")
				tc.log.report(b, b.N, start)
			})
		}
	}
	if h := ctl.Breakpoints(); h[0].Hits+h[1].Hits+h[2].Hits != 0 {
		b.Fatalf("a breakpoint matched: %+v", h)
	}
}
