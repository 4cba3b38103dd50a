// Package metrics turns what stanzascope sees into Prometheus metrics (--metrics): the
// record stream, through one more output of the sink chain, and the counters the proxy and
// the switch keep for what records do not carry (proxy.Stats, server.Stats). It is the only
// package that imports the Prometheus client: the proxy, the switch and inspect know
// nothing of it. See docs/SWITCH.md and docs/PROXY.md, Metrics, for every metric.
package metrics

import (
	"net/http"
	"net/http/pprof"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/proxy"
	"github.com/stanzascope/stanzascope/switch/server"
)

// Metrics is the registry of one stanzascope process: the Go runtime and process
// metrics, the metrics of the records, and whatever Watch* adds.
type Metrics struct {
	reg     *prometheus.Registry
	records *recordMetrics
	logged  prometheus.Counter

	mu      sync.Mutex
	skipped []func() uint64 // how many records each display skipped
}

// New returns a registry with the Go runtime and process collectors and the metrics of
// the records (see Output).
func New() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &Metrics{reg: reg, records: newRecordMetrics(reg)}
	m.logged = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "stanzascope_log_records_written_total",
		Help: "Records written to the JSON log (--log).",
	})
	reg.MustRegister(m.logged, prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "stanzascope_display_records_skipped_total",
		Help: "Records the terminal skipped because it could not keep up (a note in its output says where; the log has them).",
	}, m.skippedTotal))
	return m
}

// Output is the sink chain's output that feeds the metrics of the records. It is inline
// (no queue: its Write only adds to counters) and must be in one chain only.
func (m *Metrics) Output() inspect.Output {
	return inspect.Output{Sink: m.records, Inline: true}
}

// CountLog wraps the JSON log's sink so that every record it writes is counted. The
// wrapper keeps next's Flush method, which the chain's queue calls when it runs empty.
func (m *Metrics) CountLog(next inspect.Sink) inspect.Sink {
	return countingSink{next: next, n: m.logged}
}

// WatchSkipped adds f, which tells how many records a display skipped in all (for
// example inspect.Chain.Skipped), to stanzascope_display_records_skipped_total.
func (m *Metrics) WatchSkipped(f func() uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.skipped = append(m.skipped, f)
}

func (m *Metrics) skippedTotal() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n uint64
	for _, f := range m.skipped {
		n += f()
	}
	return float64(n)
}

// WatchProxy exports the proxy's connection counters.
func (m *Metrics) WatchProxy(st *proxy.Stats) {
	m.reg.MustRegister(proxyCollector{st})
}

// WatchSwitch exports the switch's counters. conns says whether its connections are the
// clients' (the switch alone); behind the proxy they are the proxy's upstream legs, which
// WatchProxy already counts from the client's side, so they are left out.
func (m *Metrics) WatchSwitch(st *server.Stats, conns bool) {
	m.reg.MustRegister(switchCollector{st: st, conns: conns})
}

// Handler serves the registry in Prometheus's text format (or OpenMetrics, when the
// scraper asks for it).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// countingSink counts the records next wrote without error.
type countingSink struct {
	next inspect.Sink
	n    prometheus.Counter
}

func (c countingSink) Write(r *inspect.Record) error {
	err := c.next.Write(r)
	if err == nil {
		c.n.Inc()
	}
	return err
}

// Flush flushes next, if it buffers.
func (c countingSink) Flush() error {
	if f, ok := c.next.(interface{ Flush() error }); ok {
		return f.Flush()
	}
	return nil
}

// ServeMux returns the handler of the --metrics listener: /metrics, and with withPprof
// the net/http/pprof pages under /debug/pprof/ (the caller makes sure the listener is on
// loopback only: profiles show the program's insides and cost CPU to make).
func (m *Metrics) ServeMux(withPprof bool) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index) // the named profiles too: heap, goroutine, ...
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}
