package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/spf13/pflag"

	"github.com/stanzascope/stanzascope/cmd/stanzascope/internal/metrics"
)

// metricsFlags are --metrics and --pprof, shared by proxy (the default command) and switch.
type metricsFlags struct {
	addr  string
	pprof bool
}

// addMetricsFlags registers --metrics and --pprof on fs.
func addMetricsFlags(fs *pflag.FlagSet) *metricsFlags {
	m := &metricsFlags{}
	fs.StringVar(&m.addr, "metrics", "", "serve Prometheus metrics at http://`ADDR`/metrics (no JIDs, no secrets; also at /metrics of the web view when it runs)")
	fs.BoolVar(&m.pprof, "pprof", false, "also serve Go's profiles (net/http/pprof) at /debug/pprof/ on the --metrics address, which must then be loopback")
	return m
}

func (m *metricsFlags) on() bool { return m.addr != "" }

// validate checks the flags; its errors are usage errors. Profiles show the program's
// insides and cost CPU to make, so --pprof is for this machine only.
func (m *metricsFlags) validate() error {
	if m.pprof && !m.on() {
		return usagef("--pprof needs --metrics ADDR (a loopback address)")
	}
	if !m.on() {
		return nil
	}
	host, port, err := net.SplitHostPort(m.addr)
	if err != nil {
		return usagef("--metrics %q: give HOST:PORT (for example 127.0.0.1:9222)", m.addr)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return usagef("--metrics %q: bad port", m.addr)
	}
	if m.pprof && !loopbackName(host) {
		return usagef("--pprof serves profiles on loopback only: --metrics %s is reachable from other machines (use 127.0.0.1:PORT)", m.addr)
	}
	return nil
}

// registry returns a new registry when --metrics is given, else nil.
func (m *metricsFlags) registry() *metrics.Metrics {
	if !m.on() {
		return nil
	}
	return metrics.New()
}

// serve listens on --metrics and serves reg there until stop is called. On a loopback
// address it answers only requests addressed to a loopback name, so that a web page
// elsewhere cannot read it through DNS rebinding.
func (m *metricsFlags) serve(reg *metrics.Metrics, logf func(string, ...any)) (stop func(), err error) {
	if !m.on() {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", m.addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w (choose another address with --metrics ADDR)", err)
	}
	var h http.Handler = reg.ServeMux(m.pprof)
	if host, _, _ := net.SplitHostPort(m.addr); loopbackName(host) {
		h = loopbackOnly(h)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	logf("stanzascope: metrics on http://%s/metrics", ln.Addr())
	if m.pprof {
		logf("stanzascope: profiles on http://%s/debug/pprof/", ln.Addr())
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			logf("stanzascope: metrics: %v", err)
		}
	}, nil
}

// loopbackOnly answers 403 to requests whose Host is not a loopback name.
func loopbackOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
			host = host[1 : len(host)-1]
		}
		if !loopbackName(host) {
			http.Error(w, "stanzascope: the metrics answer only to localhost, 127.0.0.1 or [::1]", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}
