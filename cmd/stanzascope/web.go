package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/inspect/web"
)

// defaultWebAddr is where the proxy and the switch serve the web view unless told
// otherwise: loopback only, so it needs no token. Tests change it.
var defaultWebAddr = "127.0.0.1:8080"

// minWebToken is the shortest --web-token accepted: it guards the traffic of a class.
const minWebToken = 8

// webMiddleware wraps the web view's handler; tests set it to see every response.
var webMiddleware func(http.Handler) http.Handler

// webFlags are --web and --web-token, shared by proxy, switch and inspect.
type webFlags struct {
	addr, token string
	fs          *pflag.FlagSet
	// extra are more routes for the web view's server, behind its guard (the control API
	// with --control); set before start.
	extra map[string]http.Handler
	xmpp  *xmppWeb // the proxy's XMPP over WebSocket, discovery and console (xmppweb.go); nil: none
}

// addWebFlags registers --web (default def; "off" disables) and --web-token on fs.
func addWebFlags(fs *pflag.FlagSet, def string) *webFlags {
	w := &webFlags{fs: fs}
	fs.StringVar(&w.addr, "web", def, "serve the live web view (a sequence diagram of every stanza) on `ADDR`; off: no web view")
	fs.StringVar(&w.token, "web-token", "", "require `TOKEN` to open the web view (needed for any address but loopback; the printed URL carries it)")
	return w
}

func (w *webFlags) off() bool { return w.addr == "off" || w.addr == "" }

// validate checks the flags; its errors are usage errors.
func (w *webFlags) validate() error {
	if w.off() {
		if w.token != "" {
			return usagef("--web-token needs the web view (--web ADDR)")
		}
		return nil
	}
	host, port, err := net.SplitHostPort(w.addr)
	if err != nil {
		return usagef("--web %q: give HOST:PORT (for example 127.0.0.1:8080), or off", w.addr)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return usagef("--web %q: bad port", w.addr)
	}
	if w.token == "" && !loopbackName(host) {
		return usagef("--web %s is reachable from other machines: give --web-token TOKEN too (anyone with the URL sees the traffic)", w.addr)
	}
	if w.token != "" && len(w.token) < minWebToken {
		return usagef("--web-token must be at least %d characters", minWebToken)
	}
	return nil
}

// loopbackName reports whether host (of --web) is this machine's loopback only.
func loopbackName(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// start serves the web view and adds its hub to out's outputs (after the redactor, like
// every output). When the default address is taken (another stanzascope, another web
// server), it says so and serves on a free loopback port instead: a teacher wants the
// view, and the URL printed is the one to open. An address given with --web that cannot
// be used is an error. stop ends the browsers' streams and the server; call it after the
// output is closed.
func (w *webFlags) start(out *outputFlags, opt web.Options, logf func(string, ...any)) (stop func(), err error) {
	if w.off() {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", w.addr)
	if err != nil {
		if w.fs.Changed("web") || !errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("web view: %w (choose another address with --web ADDR, or --web off)", err)
		}
		fallback, ferr := net.Listen("tcp", "127.0.0.1:0")
		if ferr != nil {
			return nil, fmt.Errorf("web view: %w; and no free loopback port: %w", err, ferr)
		}
		logf("stanzascope: web view: %s is in use, so the web view is on %s instead (choose with --web ADDR)", w.addr, fallback.Addr())
		ln = fallback
	}
	hub := web.NewHub(opt)
	hopt := web.HandlerOptions{Token: w.token, Extra: map[string]http.Handler{}, Filter: webFilter}
	if out.metrics != nil {
		// The same metrics as on --metrics, behind the web view's token (or loopback Host).
		hopt.Extra["GET /metrics"] = out.metrics.Handler()
	}
	for pattern, h := range w.extra {
		hopt.Extra[pattern] = h
	}
	var h http.Handler = web.NewHandler(hub, hopt)
	if w.xmpp != nil {
		w.xmpp.loopbackOnly = w.token == ""
		h = w.xmpp.wrap(h)
	}
	if webMiddleware != nil {
		h = webMiddleware(h)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	for _, u := range w.urls(ln.Addr().(*net.TCPAddr)) {
		logf("stanzascope: web view on %s", u)
	}
	if w.xmpp != nil {
		w.xmpp.announce(ln.Addr().(*net.TCPAddr), logf)
	}
	// Lossless, like the log: the hub's Write keeps the record in its ring and never waits
	// for a browser (each browser's stream reads the ring at its own pace and is told what
	// it was not sent), so the view is complete. It is inline: written in the producer's
	// goroutine, without a queue of its own; a queue cost the traffic more than the hub
	// itself.
	// After Close (the web view stopping before the traffic does) records are not kept.
	out.more = append(out.more, inspect.Output{Sink: hubSink{hub}, Inline: true})
	return func() {
		hub.Close() // ends the event streams, so Shutdown does not wait for them
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			logf("stanzascope: web view: %v", err)
		}
	}, nil
}

// urls returns the addresses to print: the one to open on this machine, and for a
// server on every interface the one for the others, each with the token.
func (w *webFlags) urls(a *net.TCPAddr) []string {
	q := ""
	if w.token != "" {
		q = "?token=" + url.QueryEscape(w.token)
	}
	port := fmt.Sprint(a.Port)
	if !a.IP.IsUnspecified() {
		return []string{"http://" + net.JoinHostPort(a.IP.String(), port) + "/" + q}
	}
	local := "http://" + net.JoinHostPort("127.0.0.1", port) + "/" + q
	name, err := os.Hostname()
	if err != nil || name == "" {
		return []string{local}
	}
	return []string{"http://" + net.JoinHostPort(name, port) + "/" + q + " (for the other machines)", local + " (on this one)"}
}

// serverLane labels the server's lane in the proxy's web view.
func serverLane(f proxyFlags) string {
	if f.upstream != "" {
		return f.upstream
	}
	return f.domain + " (embedded switch)"
}

// keepServing returns err at once, or when the web view is on and the input was read
// without error, waits for Ctrl-C (ctx) so the session stays on view: inspect FILE --web.
func (w *webFlags) keepServing(ctx context.Context, err error, stderr io.Writer) error {
	if err != nil || w.off() || ctx.Err() != nil {
		return err
	}
	fmt.Fprintln(stderr, "inspect: the web view keeps showing the session; Ctrl-C ends it")
	<-ctx.Done()
	return nil
}

// hubSink is the web view's hub as an output of the sink chain, batches included (the
// hub takes its locks once per batch): after the hub's Close (the web view stopping
// before the traffic does) records are not kept, and that is no error.
type hubSink struct{ hub *web.Hub }

func (s hubSink) Write(r *inspect.Record) error { return hubErr(s.hub.Write(r)) }

func (s hubSink) WriteBatch(rs []*inspect.Record) error { return hubErr(s.hub.WriteBatch(rs)) }

func hubErr(err error) error {
	if errors.Is(err, inspect.ErrClosed) {
		return nil
	}
	return err
}
