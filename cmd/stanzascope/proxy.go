package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"regexp"
	"sync"
	"time"

	"github.com/stanzascope/stanzascope/cmd/stanzascope/internal/console"
	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/inspect/web"
	"github.com/stanzascope/stanzascope/proxy"
	"github.com/stanzascope/stanzascope/proxy/ca"
	"github.com/stanzascope/stanzascope/proxy/control"
	"github.com/stanzascope/stanzascope/rules"
	"github.com/stanzascope/stanzascope/switch/local"
	"github.com/stanzascope/stanzascope/switch/server"
)

func init() {
	register(&command{
		name:    "proxy",
		summary: "TLS-intercepting XMPP proxy that shows every stanza (the default command)",
		run:     runProxy,
	})
}

const proxyUsage = `proxy [--listen ADDR] [--listen-tls ADDR] [--upstream HOST[:PORT]] [--rules FILE]... [flags]

Accepts XMPP clients and relays each connection to the upstream server, showing every
stanza of both directions. STARTTLS is intercepted: the proxy talks TLS to the upstream as
a client and to the client as a server with a certificate from its local CA (see
'stanzascope ca'). Without --upstream the embedded switch (--domain, --db) is the upstream.
HOST alone is resolved with the _xmpp-client._tcp SRV record, falling back to port 5222.`

type proxyFlags struct {
	listen, listenTLS, upstream, upstreamCA, caDir, domain, db string
	keylog, node                                               string
	insecure, allowPlain, strict, fresh, control               bool
	holdTimeout                                                time.Duration
	maxHeld                                                    int
	rules                                                      []string
	idle, writeTimeout, setupTimeout                           time.Duration
	maxStanza                                                  int
	web                                                        *webFlags
	metrics                                                    *metricsFlags
	limits                                                     *limitFlags
	proxyProtocol                                              bool
}

// nodeNameRE is what a --node name may be: it shows in connection names (NAME/N) and
// NATS subjects.
var nodeNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func runProxy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fset := newFlagSet("proxy", proxyUsage, stderr)
	var f proxyFlags
	fset.StringVar(&f.listen, "listen", ":5222", "accept plaintext/STARTTLS clients on `ADDR`")
	fset.StringVar(&f.listenTLS, "listen-tls", "", "also accept Direct TLS (XEP-0368) clients on `ADDR`")
	fset.StringVar(&f.upstream, "upstream", "", "upstream server `HOST[:PORT]` (default: the embedded switch)")
	fset.StringVar(&f.upstreamCA, "upstream-ca", "", "verify the upstream's certificate with the roots in `FILE` (PEM) instead of the system's")
	fset.BoolVar(&f.insecure, "upstream-insecure", false, "do not verify the upstream's certificate (anyone on the path can read the traffic)")
	fset.BoolVar(&f.allowPlain, "allow-plaintext-upstream", false, "let clients with TLS through to an upstream that offers no STARTTLS, its leg in plaintext (records tagged plaintext-upstream)")
	fset.StringVar(&f.caDir, "ca-dir", "", "`DIR` of the local CA (default $XDG_CONFIG_HOME/stanzascope or ~/.config/stanzascope)")
	fset.StringArrayVar(&f.rules, "rules", nil, "apply the rules in `FILE` (repeatable; reloaded when changed)")
	fset.StringVar(&f.domain, "domain", "localhost", "embedded switch: the `domain` served")
	fset.StringVar(&f.db, "db", "", "embedded switch: database `FILE`, a postgres:// URL, or :memory: (default $XDG_DATA_HOME/stanzascope/switch.db)")
	fset.BoolVar(&f.fresh, "fresh", false, "embedded switch: start with an empty database kept in memory (--db :memory:), for a clean start each class")
	fset.DurationVar(&f.idle, "idle-timeout", 0, "close client connections silent for this `duration` (0: never)")
	fset.DurationVar(&f.setupTimeout, "setup-timeout", proxy.DefaultSetupTimeout, "close client connections that have not sent their stream header (Direct TLS: handshake included) within this `duration` of connecting")
	fset.DurationVar(&f.writeTimeout, "write-timeout", proxy.DefaultWriteTimeout, "close a connection when either side has not taken a write for this `duration` (it stopped reading)")
	fset.IntVar(&f.maxStanza, "max-stanza", inspect.DefaultLimits.MaxStanza, "largest stanza accepted from either side, in `bytes`")
	fset.BoolVar(&f.strict, "strict", false, "end a connection at the first RFC 6120 violation, as a server would (default: forward what can be framed and show each violation)")
	fset.StringVar(&f.keylog, "keylog", "", keylogHelp)
	fset.BoolVar(&f.control, "control", false, "serve the control API on the web view's server (breakpoints, held stanzas, send; see docs/API.md and 'stanzascope ctl'): watching is the default, touching is opt-in")
	fset.DurationVar(&f.holdTimeout, "hold-timeout", proxy.DefaultHoldTimeout, "release a stanza held at a breakpoint unchanged when nobody decided within this `duration`")
	fset.IntVar(&f.maxHeld, "max-held", proxy.DefaultMaxHeld, "while a stanza is held, read at most this many `bytes` behind it per connection and direction, then stop reading (TCP backpressure)")
	fset.StringVar(&f.node, "node", "", "name this proxy among several (letters, digits, - and _): its log's connections are then NAME/N, and the logs of the proxies merge with 'stanzascope inspect a.jsonl b.jsonl'")
	fset.BoolVar(&f.proxyProtocol, "proxy-protocol", false, "begin each upstream connection with a PROXY protocol v2 header giving the client's address, for an upstream that limits per client address ('stanzascope switch --trust-proxy'; the embedded switch always gets one)")
	f.limits = addLimitFlags(fset, "embedded switch: ")
	out := addOutputFlags(fset, true)
	f.web = addWebFlags(fset, defaultWebAddr)
	f.metrics = addMetricsFlags(fset)
	if err := parseFlags(fset, args); err != nil {
		return err
	}
	if fset.NArg() > 0 {
		return usagef("proxy takes no arguments")
	}
	if f.node != "" && !nodeNameRE.MatchString(f.node) {
		return usagef("--node %q: use 1 to 64 letters, digits, '-' or '_'", f.node)
	}
	if f.upstream != "" && (fset.Changed("domain") || fset.Changed("db") || f.fresh || f.limits.changed(fset)) {
		return usagef("--domain, --db, --fresh and the switch's limits are for the embedded switch; they cannot go with --upstream")
	}
	if f.upstream == "" && f.proxyProtocol {
		return usagef("--proxy-protocol is for --upstream (the embedded switch always gets the header)")
	}
	if err := f.limits.validate(); err != nil {
		return err
	}
	if f.fresh {
		if fset.Changed("db") && f.db != memoryDB {
			return usagef("--fresh is --db %s; it cannot go with --db %s", memoryDB, f.db)
		}
		f.db = memoryDB
	}
	if f.upstream == "" && (f.upstreamCA != "" || f.insecure || f.allowPlain) {
		return usagef("--upstream-ca, --upstream-insecure and --allow-plaintext-upstream need --upstream")
	}
	if f.upstreamCA != "" && f.insecure {
		return usagef("give --upstream-ca or --upstream-insecure, not both")
	}
	if f.maxStanza < 1024 {
		return usagef("--max-stanza must be at least 1024")
	}
	if f.idle < 0 {
		return usagef("--idle-timeout must not be negative")
	}
	if f.writeTimeout <= 0 || f.setupTimeout <= 0 {
		return usagef("--write-timeout and --setup-timeout must be positive")
	}
	if f.holdTimeout <= 0 {
		return usagef("--hold-timeout must be positive")
	}
	if f.maxHeld < 1024 {
		return usagef("--max-held must be at least 1024")
	}
	if f.control && f.web.off() {
		return usagef("--control serves the control API on the web view's server: it needs --web ADDR")
	}
	if err := out.validate(); err != nil {
		return err
	}
	if err := f.web.validate(); err != nil {
		return err
	}
	if err := f.metrics.validate(); err != nil {
		return err
	}
	return serveProxy(ctx, f, out, stdout, stderr)
}

func serveProxy(ctx context.Context, f proxyFlags, out *outputFlags, stdout, stderr io.Writer) error {
	// Start and fatal messages go to stderr; what the proxy, the switch and the rules
	// report while running goes through rep, into the display once it runs.
	startf := func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }
	rep := newReporter(stderr)
	logf := rep.logf
	authority, err := ca.LoadOrCreate(f.caDir)
	if err != nil {
		return err
	}
	cfg := proxy.Config{Node: f.node, CA: authority, Logf: logf, IdleTimeout: f.idle, Limits: inspect.Limits{MaxStanza: f.maxStanza, Annotate: !f.strict},
		AllowPlaintextUpstream: f.allowPlain, WriteTimeout: f.writeTimeout, SetupTimeout: f.setupTimeout,
		HoldTimeout: f.holdTimeout, MaxHeld: f.maxHeld, ShowSecrets: out.showSecrets}
	if f.control {
		cfg.Control = proxy.NewControl()
		f.web.extra = control.Handlers(cfg.Control)
	}
	var swStats *server.Stats // the embedded switch's, with --metrics
	if f.metrics != nil {
		out.metrics = f.metrics.registry()
	}
	if out.metrics != nil {
		cfg.Stats, swStats = new(proxy.Stats), new(server.Stats)
		out.metrics.WatchProxy(cfg.Stats)
		if f.upstream == "" {
			out.metrics.WatchSwitch(swStats, false) // its connections are the proxy's upstream legs
		}
	}
	if f.keylog != "" {
		kl, err := openKeylog(f.keylog)
		if err != nil {
			return err
		}
		defer kl.Close()
		cfg.KeyLogWriter = kl
		startf("stanzascope proxy: WARNING: %s", keylogWarning(f.keylog))
	}
	if len(f.rules) > 0 {
		eng, err := rules.Load(f.rules...)
		if err != nil {
			return err
		}
		for _, w := range eng.Warnings() {
			logf("stanzascope proxy: %s", w)
		}
		cfg.Hook = eng
		wctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := rules.Watch(wctx, eng, logf); err != nil {
				logf("stanzascope proxy: %v (rules will not be reloaded)", err)
			}
		}()
		// Rule match counts go to the log on SIGUSR1 (where there is one) and at exit.
		usr1 := make(chan os.Signal, 1)
		notifyCounts(usr1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-usr1:
					rules.WriteCounts(stderr, eng.Counts())
				case <-wctx.Done():
					return
				}
			}
		}()
		defer func() {
			signal.Stop(usr1)
			cancel()
			wg.Wait()
			rules.WriteCounts(stderr, eng.Counts())
		}()
	}
	upstreamName := f.upstream
	if f.upstream == "" {
		// The switch outlives the proxy so the proxy's closing tags reach it.
		swCtx, swCancel := context.WithCancel(context.WithoutCancel(ctx))
		// The switch is reached in this process: a loopback TCP leg would cost every
		// message four system calls and the kernel's TCP work on its way to the switch
		// and back.
		swln := local.Listen("embedded-switch", 0)
		_, wait, err := embeddedSwitchStats(swCtx, f.domain, f.db, swStats, func(c *server.Config) {
			c.TrustProxy = true // the Dial below sends the header
			// STARTTLS on the link secures it without encrypting memory to memory; the
			// proxy's leg takes it so too (UpstreamInProcess below). The client's leg
			// is TLS as always.
			c.InProcessLink = true
			f.limits.apply(c)
			c.Observe = embeddedObserve
		}, logf, swln, rep.switchListener)
		if err != nil {
			swCancel()
			return err
		}
		defer func() {
			swCancel()
			if err := wait(); err != nil {
				logf("stanzascope proxy: embedded switch: %v", err)
			}
		}()
		cfg.Dial = func(ctx context.Context) (net.Conn, error) {
			c, err := swln.Dial(ctx)
			if err != nil {
				return nil, err
			}
			if id, ok := proxy.ConnID(ctx); ok {
				rep.dialedFor(id, c, proxy.ConnTransport(ctx)) // the switch's lines about c are about connection id
			}
			if err := sendProxyHeader(ctx, c); err != nil {
				c.Close()
				return nil, fmt.Errorf("embedded switch: %w", err)
			}
			return c, nil
		}
		// Our own switch in this process: its STARTTLS secures the link without TLS
		// (c.InProcessLink above), so no handshake and no certificate to verify.
		cfg.UpstreamInProcess = true
		upstreamName = "the embedded switch (" + f.domain + ", in this process)"
		if f.db == memoryDB {
			upstreamName += " with a fresh in-memory database (nothing is kept after exit)"
		}
	} else {
		cfg.Upstream = f.upstream
		if f.proxyProtocol {
			cfg.AfterDial = sendProxyHeader
		}
		if cfg.UpstreamTLS, err = upstreamTLS(f); err != nil {
			return err
		}
	}
	out.live, out.stderr = true, stderr
	if f.metrics != nil {
		stopMetrics, err := f.metrics.serve(out.metrics, startf)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	f.web.xmpp = &xmppWeb{console: console.Handler()}
	stopWeb, err := f.web.start(out, web.Options{Title: "stanzascope proxy", Server: serverLane(f), Proxy: true}, logf)
	if err != nil {
		return err
	}
	defer stopWeb()
	if f.control {
		logf("stanzascope proxy: control API on (--control): whoever opens the web view can hold, change and send stanzas (docs/API.md, 'stanzascope ctl')")
	}
	sink, closeOut, err := out.open(stdout)
	if err != nil {
		return err
	}
	defer func() {
		if err := closeOut(); err != nil {
			logf("stanzascope proxy: closing the output: %v", err)
		}
	}()
	if out.format != "raw" {
		// Raw output is the bytes only: there the reports stay on stderr.
		rep.attach(sink)
		defer rep.detach() // before the output closes
	}
	cfg.Sink = sink
	p, err := proxy.New(cfg)
	if err != nil {
		return err
	}
	// The WebSocket sessions end with the listeners, and their records go out before the
	// outputs close.
	wctx, wcancel := context.WithCancel(ctx)
	wsh := p.WebSocketHandler(wctx)
	f.web.xmpp.setWebSocket(wsh)
	err = listenAndServe(ctx, p, f, authority, upstreamName, startf)
	wcancel()
	wsh.Wait()
	return err
}

// embeddedObserve, when a test sets it, gets the embedded switch's records of what it read
// and wrote (server.Config.Observe): the bytes the switch received, for the test that the
// proxy's records of its upstream leg are the truth.
var embeddedObserve inspect.Sink

// upstreamTLS builds the TLS client configuration toward a real upstream.
func upstreamTLS(f proxyFlags) (*tls.Config, error) {
	switch {
	case f.insecure:
		return &tls.Config{InsecureSkipVerify: true}, nil
	case f.upstreamCA != "":
		pem, err := os.ReadFile(f.upstreamCA)
		if err != nil {
			return nil, fmt.Errorf("--upstream-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--upstream-ca: no PEM certificate in %s", f.upstreamCA)
		}
		return &tls.Config{RootCAs: pool}, nil
	}
	return nil, nil
}

// listenAndServe runs the plaintext and the Direct TLS listeners until ctx is cancelled
// or one fails.
func listenAndServe(ctx context.Context, p *proxy.Proxy, f proxyFlags, authority *ca.CA, upstreamName string, logf func(string, ...any)) error {
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	var lnTLS net.Listener
	if f.listenTLS != "" {
		if lnTLS, err = net.Listen("tcp", f.listenTLS); err != nil {
			ln.Close()
			return fmt.Errorf("listen-tls: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make(chan error, 2)
	n := 1
	go func() { errs <- p.Serve(ctx, ln) }()
	where := fmt.Sprintf("%s (plaintext/STARTTLS)", ln.Addr())
	if lnTLS != nil {
		n++
		go func() { errs <- p.ServeTLS(ctx, lnTLS) }()
		where += fmt.Sprintf(" and %s (Direct TLS)", lnTLS.Addr())
	}
	for _, w := range securityWarnings(f) {
		logf("stanzascope proxy: WARNING: %s", w)
	}
	logf("stanzascope proxy: listening on %s, upstream %s", where, upstreamName)
	logf("stanzascope proxy: clients must trust the CA %s (SHA-256 %s; see 'stanzascope ca')", authority.CertPath(), authority.Fingerprint())
	var all []error
	for range n {
		if err := <-errs; err != nil {
			all = append(all, err)
			cancel() // one listener failed: stop the other too
		}
	}
	logf("stanzascope proxy: stopped")
	return errors.Join(all...)
}

// securityWarnings says which flags weaken the upstream leg, for the start of the log.
func securityWarnings(f proxyFlags) []string {
	var w []string
	if f.insecure {
		w = append(w, "--upstream-insecure: the upstream's certificate is not verified; anyone on the path to "+
			f.upstream+" can read and change the traffic, credentials included")
	}
	if f.allowPlain {
		w = append(w, "--allow-plaintext-upstream: a client with TLS may be carried over a plaintext upstream leg "+
			"when the upstream offers no STARTTLS (or someone on the path removed it); such connections are tagged "+
			proxy.PlaintextUpstreamLabel+" in every record")
	}
	return w
}

// sendProxyHeader begins the upstream connection c with a PROXY protocol v2 header that
// gives the address of the client it is for: an upstream that trusts it (the embedded
// switch, 'stanzascope switch --trust-proxy') applies its limits per client address to
// the client, not to the proxy. The header is below XMPP: no record carries it.
func sendProxyHeader(ctx context.Context, c net.Conn) error {
	client, _ := proxy.ClientAddr(ctx) // none: a LOCAL header (the proxy's own connection)
	deadline := time.Now().Add(10 * time.Second)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.SetWriteDeadline(deadline)
	defer c.SetWriteDeadline(time.Time{})
	if _, err := c.Write(server.AppendProxyHeader(nil, client, addrPortOf(c.RemoteAddr()))); err != nil {
		return fmt.Errorf("PROXY header: %w", err)
	}
	return nil
}

// addrPortOf is a's address and port, or the zero AddrPort if it has none.
func addrPortOf(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.AddrPort()
	}
	return netip.AddrPort{}
}
