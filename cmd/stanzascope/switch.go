package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/stanzascope/stanzascope/cmd/stanzascope/internal/console"
	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/inspect/web"
	"github.com/stanzascope/stanzascope/switch/cluster"
	"github.com/stanzascope/stanzascope/switch/server"
	"github.com/stanzascope/stanzascope/switch/store"
	"github.com/stanzascope/stanzascope/switch/store/pgstore"
)

func init() {
	register(&command{
		name:    "switch",
		summary: "run the embedded XMPP server alone (no proxy), showing its traffic",
		run:     runSwitch,
	})
}

const switchUsage = `switch [--listen ADDR] [--domain NAME] [--db PATH|postgres://...|:memory:] [--fresh] [--cert F --key F] [flags]

Serves XMPP clients itself: pre-1.0 (telnet, the textbook session) and XMPP 1.0 streams
with STARTTLS, SASL (SCRAM-SHA-256, SCRAM-SHA-1, PLAIN), rosters, presence, chat, offline
messages and in-band registration. Every stanza in and out is shown like the proxy does.
Without --cert/--key a self-signed certificate is made on first start and kept.
--db postgres://USER@HOST/DB keeps the data in PostgreSQL (the schema is created at
start), so that several switches can share it. --fresh (or --db :memory:) starts with
no accounts and keeps nothing after exit: a clean start for each class.
--cluster nats://HOST:PORT --node NAME makes the switch one node of a cluster: the nodes
share one PostgreSQL database (--db postgres://...) and route stanzas to each other's
users over NATS (with JetStream, nats-server -js). See docs/CLUSTER.md.
--websocket ADDR serves browsers too: XMPP over WebSocket (RFC 7395) at /xmpp-websocket,
its discovery (/.well-known/host-meta) and the /console page, on http:// or, with
--websocket-tls, https:// with the switch's certificate. See docs/WEBSOCKET.md.`

func runSwitch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("switch", switchUsage, stderr)
	listen := fs.String("listen", ":5222", "listen on `ADDR` (host:port)")
	domain := fs.String("domain", "localhost", "the XMPP `domain` served")
	dbPath := fs.String("db", "", "database `FILE`, a postgres:// URL, or :memory: (default $XDG_DATA_HOME/stanzascope/switch.db)")
	fresh := fs.Bool("fresh", false, "start with an empty database kept in memory (--db :memory:): nothing survives the process")
	certFile := fs.String("cert", "", "TLS certificate `FILE` (PEM; default a self-signed one kept next to the data)")
	keyFile := fs.String("key", "", "TLS private key `FILE` (PEM)")
	requireTLS := fs.Bool("require-tls", false, "refuse login and registration before STARTTLS (pre-1.0 streams cannot log in)")
	noRegister := fs.Bool("no-register", false, "turn off in-band account creation (XEP-0077)")
	loginTimeout := fs.Duration("login-timeout", server.DefaultLoginTimeout, "close connections not logged in within this `duration`")
	maxStanza := fs.Int("max-stanza", inspect.DefaultLimits.MaxStanza, "largest stanza accepted, in `bytes` (policy-violation beyond)")
	maxOutbox := fs.Int("max-outbox", server.DefaultMaxOutbox, "most `bytes` waiting for one client to read; a client with more is dropped (policy-violation)")
	lim := addLimitFlags(fs, "")
	maxOffline := fs.Int("max-offline", store.MaxOffline, "most messages stored for one account while it is offline (then resource-constraint to the sender)")
	maxRoster := fs.Int("max-roster", store.MaxRosterItems, "most contacts in one roster, pending requests included (then resource-constraint)")
	idleTimeout := fs.Duration("idle-timeout", server.DefaultIdleTimeout, "ping a logged-in stream silent for this `duration`, and close it (connection-timeout) when silent for as long again")
	trustProxy := fs.Bool("trust-proxy", false, "every connection begins with a PROXY protocol v2 header (HAProxy's; 'stanzascope proxy --proxy-protocol' sends one) whose source address is the client's, for the limits per address; only for a listener that nobody but the proxy can reach")
	clusterURL := fs.String("cluster", "", "join the cluster of switches on the NATS server(s) at `URL` (nats://HOST:PORT; needs --db postgres://... and --node)")
	nodeName := fs.String("node", "", "this node's `NAME` in the cluster, unique among the nodes (letters, digits, - and _)")
	clusterTTL := fs.Duration("cluster-ttl", cluster.DefaultTTL, "how long the other nodes keep this node's sessions after it stopped refreshing them (it died)")
	clusterReplicas := fs.Int("cluster-replicas", 1, "how many servers of the NATS cluster keep the session directory (1 to 5; every node gives the same; more than 1 needs a NATS cluster with JetStream)")
	wsAddr := fs.String("websocket", "", "also serve XMPP over WebSocket (RFC 7395) at /xmpp-websocket, its discovery and the /console page on `ADDR` (host:port; off by default)")
	wsTLS := fs.Bool("websocket-tls", false, "serve --websocket over https (wss://) with the switch's certificate (--cert/--key or the self-signed one)")
	keylog := addKeylogFlag(fs)
	out := addOutputFlags(fs, true)
	webf := addWebFlags(fs, defaultWebAddr)
	metf := addMetricsFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("switch takes no arguments")
	}
	if *fresh {
		if fs.Changed("db") && *dbPath != memoryDB {
			return usagef("--fresh is --db %s; it cannot go with --db %s", memoryDB, *dbPath)
		}
		*dbPath = memoryDB
	}
	if (*certFile == "") != (*keyFile == "") {
		return usagef("give both --cert and --key, or neither")
	}
	if *loginTimeout <= 0 {
		return usagef("--login-timeout must be positive")
	}
	if *maxStanza < 1024 {
		return usagef("--max-stanza must be at least 1024")
	}
	if *maxOutbox < 4096 {
		return usagef("--max-outbox must be at least 4096")
	}
	if err := lim.validate(); err != nil {
		return err
	}
	if *maxOffline < 1 || *maxRoster < 1 {
		return usagef("--max-offline and --max-roster must be at least 1")
	}
	if *idleTimeout < time.Second {
		return usagef("--idle-timeout must be at least 1s")
	}
	if *clusterURL != "" && *nodeName == "" {
		return usagef("--cluster needs --node NAME, a name unique among the nodes")
	}
	if *nodeName != "" && *clusterURL == "" {
		return usagef("--node names a node of a cluster: give --cluster too")
	}
	if *clusterURL != "" && !pgstore.IsURL(*dbPath) {
		return usagef("the nodes of a cluster share their accounts: --cluster needs --db postgres://...")
	}
	if *clusterTTL < time.Second {
		return usagef("--cluster-ttl must be at least 1s")
	}
	if *clusterReplicas < 1 || *clusterReplicas > cluster.MaxReplicas {
		return usagef("--cluster-replicas must be between 1 and %d", cluster.MaxReplicas)
	}
	if *wsTLS && *wsAddr == "" {
		return usagef("--websocket-tls is for --websocket ADDR: give it too")
	}
	if *wsAddr != "" {
		if _, _, err := net.SplitHostPort(*wsAddr); err != nil {
			return usagef("--websocket must be host:port: %v", err)
		}
	}
	if d, err := inspect.ParseJID(*domain); err != nil || d.Local != "" || d.Resource != "" {
		return usagef("--domain must be a bare domain name, not %q", *domain)
	}
	err := out.validate()
	if err != nil {
		return err
	}
	if err := webf.validate(); err != nil {
		return err
	}
	if err := metf.validate(); err != nil {
		return err
	}
	if *dbPath == "" {
		p, err := store.DefaultPath()
		if err != nil {
			return err
		}
		*dbPath = p
	}
	if *certFile == "" {
		if *certFile, *keyFile, err = switchCertPaths(*dbPath); err != nil {
			return err
		}
	}
	cert, err := server.LoadOrCreateCert(*certFile, *keyFile, *domain)
	if err != nil {
		return err
	}
	db, err := openDB(ctx, *dbPath, store.WithLimits(store.Limits{Offline: *maxOffline, RosterItems: *maxRoster}))
	if err != nil {
		return err
	}
	defer db.Close()

	out.live, out.stderr = true, stderr
	out.metrics = metf.registry()
	var stats *server.Stats
	if out.metrics != nil {
		stats = new(server.Stats)
		out.metrics.WatchSwitch(stats, true)
	}
	stopMetrics, err := metf.serve(out.metrics, func(f string, a ...any) { fmt.Fprintf(stderr, f+"\n", a...) })
	if err != nil {
		return err
	}
	defer stopMetrics()
	rep := newReporter(stderr)
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if *keylog != "" {
		kl, err := openKeylog(*keylog)
		if err != nil {
			return err
		}
		defer kl.Close()
		tlsCfg.KeyLogWriter = kl
		fmt.Fprintf(stderr, "stanzascope switch: WARNING: %s\n", keylogWarning(*keylog))
	}
	stopWeb, err := webf.start(out, web.Options{Title: "stanzascope switch", Server: *domain + " (switch)"},
		func(f string, a ...any) { fmt.Fprintf(stderr, f+"\n", a...) })
	if err != nil {
		return err
	}
	defer stopWeb()
	sink, closeOut, err := out.open(stdout)
	if err != nil {
		return err
	}
	defer func() {
		if err := closeOut(); err != nil {
			fmt.Fprintf(stderr, "stanzascope switch: closing the output: %v\n", err)
		}
	}()
	if out.format != "raw" {
		// What the switch reports becomes records of the display (raw output is bytes only).
		rep.attach(sink)
		defer rep.detach() // before the output closes
	}
	var dir server.Directory
	if *clusterURL != "" {
		var cst *cluster.Stats
		if out.metrics != nil {
			cst = new(cluster.Stats)
			out.metrics.WatchCluster(cst)
		}
		node, err := cluster.Open(ctx, cluster.Config{URL: *clusterURL, Node: *nodeName, Store: db, TTL: *clusterTTL, Replicas: *clusterReplicas,
			Logf: rep.logf, Stats: cst, SwitchStats: stats})
		if err != nil {
			return err
		}
		defer node.Close() // after Serve returned: the node's sessions are gone
		dir = node
		fmt.Fprintf(stderr, "stanzascope switch: node %s of the cluster on %s\n", *nodeName, redactNATS(*clusterURL))
	}
	scfg := server.Config{
		Directory:    dir,
		Domain:       *domain,
		Store:        db,
		TLS:          tlsCfg,
		RequireTLS:   *requireTLS,
		NoRegister:   *noRegister,
		LoginTimeout: *loginTimeout,
		Limits:       inspect.Limits{MaxStanza: *maxStanza},
		MaxOutbox:    *maxOutbox,
		Observe:      sink,
		Logf:         rep.logf,
		Version:      versionString(),
		Stats:        stats,
		TrustProxy:   *trustProxy,
		IdleTimeout:  *idleTimeout,
	}
	lim.apply(&scfg)
	srv, err := server.New(scfg)
	if err != nil {
		return err
	}
	if node, ok := dir.(*cluster.Node); ok {
		// A message whose session on another node ended as it crossed goes to the
		// account's other resources, as on one switch.
		node.SetReroute(srv.Reroute)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	fmt.Fprintf(stderr, "stanzascope switch: serving %s on %s (database %s)\n", *domain, ln.Addr(), dbName(*dbPath))
	var wsTLSCfg *tls.Config
	if *wsTLS {
		wsTLSCfg = tlsCfg
	}
	stopWS, err := serveSwitchWebSocket(ctx, srv, *wsAddr, wsTLSCfg, func(f string, a ...any) { fmt.Fprintf(stderr, f+"\n", a...) })
	if err != nil {
		ln.Close()
		return err
	}
	err = srv.Serve(ctx, ln)
	stopWS() // after Serve, which ended the WebSocket sessions too
	fmt.Fprintln(stderr, "stanzascope switch: stopped")
	return err
}

// serveSwitchWebSocket serves, on addr (none when ""), XMPP over WebSocket as a native
// transport of srv at /xmpp-websocket, its XEP-0156 discovery and the /console page: the
// paths the proxy's web server carries for browsers (xmppweb.go), with the same guard (on
// a loopback address, a Host that is not a loopback name is refused: DNS rebinding).
// With tlsCfg it serves https and wss. The WebSocket sessions are the switch's own, under
// its limits. stop refuses new clients and waits for the sessions (Serve ended them) and
// the server; call it after Serve returned.
func serveSwitchWebSocket(ctx context.Context, srv *server.Server, addr string, tlsCfg *tls.Config, logf func(string, ...any)) (stop func(), err error) {
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--websocket: %w", err)
	}
	a := ln.Addr().(*net.TCPAddr)
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	wctx, cancel := context.WithCancel(ctx)
	wsh := srv.WebSocketHandler(wctx)
	x := &xmppWeb{console: console.Handler(), loopbackOnly: a.IP.IsLoopback(), secure: tlsCfg != nil, who: "stanzascope switch"}
	x.setWebSocket(wsh)
	hs := &http.Server{
		Handler:           x.wrap(http.NotFoundHandler()),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          log.New(io.Discard, "", 0), // a failed TLS handshake is the client's business
	}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	x.announce(a, logf)
	return func() {
		cancel()
		wsh.Wait()
		hs.Close()
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			logf("stanzascope switch: --websocket: %v", err)
		}
	}, nil
}

// redactNATS is a NATS URL list without passwords.
func redactNATS(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil {
			parts[i] = u.Redacted()
		}
	}
	return strings.Join(parts, ",")
}

// memoryDB is the --db value of an in-memory store (--fresh): every start is a clean start.
const memoryDB = ":memory:"

// openDB opens the switch's database: in memory for :memory:, PostgreSQL for a postgres://
// URL, else a bbolt file.
// For a damaged file it says how to go on with this command (the store's error already
// names the file and says to restore a backup).
func openDB(ctx context.Context, path string, opts ...store.Option) (store.Store, error) {
	if path == memoryDB {
		return store.NewMemory(opts...), nil
	}
	if pgstore.IsURL(path) {
		db, err := pgstore.Open(ctx, path, opts...)
		if err != nil {
			return nil, fmt.Errorf("database %s: %w", pgstore.Redact(path), err)
		}
		return db, nil
	}
	db, err := store.OpenBolt(path, opts...)
	if errors.Is(err, store.ErrDamaged) {
		return nil, fmt.Errorf("%w\n(to run now without it: --db OTHER-FILE; the damaged file was not changed)", err)
	}
	return db, err
}

// versionString is the version answered to XEP-0092 queries.
func versionString() string {
	if version != "" {
		return version
	}
	return "devel"
}

// switchCertPaths returns where the switch keeps its self-signed certificate and key:
// next to its database.
func switchCertPaths(dbPath string) (certFile, keyFile string, err error) {
	if pgstore.IsURL(dbPath) || dbPath == memoryDB {
		// The database is elsewhere: the certificate stays where a database file would be.
		if dbPath, err = store.DefaultPath(); err != nil {
			return "", "", err
		}
	}
	dir := filepath.Dir(dbPath)
	return filepath.Join(dir, "switch-cert.pem"), filepath.Join(dir, "switch-key.pem"), nil
}

// dbName is how the database is named in messages: a URL without its password.
func dbName(dbPath string) string {
	switch {
	case pgstore.IsURL(dbPath):
		return pgstore.Redact(dbPath)
	case dbPath == memoryDB:
		return "in memory, kept until the process ends"
	}
	return dbPath
}

// embeddedSwitch starts the switch for the default proxy mode: STARTTLS with a self-signed
// certificate kept next to the database, on 127.0.0.1 with a free port. It returns the
// address; wait blocks until the switch has stopped after ctx is cancelled and the database
// is closed. wrap, if given, wraps the switch's listener (the reporter learns the switch's
// connection numbers there).
func embeddedSwitch(ctx context.Context, domain, dbPath string, logf func(string, ...any), wrap ...func(net.Listener) net.Listener) (addr string, wait func() error, err error) {
	return embeddedSwitchStats(ctx, domain, dbPath, nil, nil, logf, nil, wrap...)
}

// embeddedSwitchStats is embeddedSwitch counting into stats (--metrics), unless nil, with
// its configuration changed by mod, unless nil (the proxy's: the limits, and TrustProxy,
// its Dial sending a PROXY protocol header, so that the switch's limits per client address
// count the proxy's clients, not the proxy's own address for all of them), serving on ln
// instead of a loopback TCP port if ln is not nil (the proxy's: an in-process listener,
// switch/local).
func embeddedSwitchStats(ctx context.Context, domain, dbPath string, stats *server.Stats, mod func(*server.Config), logf func(string, ...any), ln net.Listener, wrap ...func(net.Listener) net.Listener) (addr string, wait func() error, err error) {
	if dbPath == "" {
		if dbPath, err = store.DefaultPath(); err != nil {
			return "", nil, err
		}
	}
	certFile, keyFile, err := switchCertPaths(dbPath)
	if err != nil {
		return "", nil, err
	}
	cert, err := server.LoadOrCreateCert(certFile, keyFile, domain)
	if err != nil {
		return "", nil, err
	}
	db, err := openDB(ctx, dbPath)
	if err != nil {
		return "", nil, err
	}
	cfg := server.Config{
		Domain:      domain,
		Store:       db,
		TLS:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		BehindProxy: true, // the proxy's clients may be anywhere: no PLAIN without TLS
		Logf:        logf,
		Version:     versionString(),
		Stats:       stats,
	}
	if mod != nil {
		mod(&cfg)
	}
	srv, err := server.New(cfg)
	if err != nil {
		db.Close()
		return "", nil, err
	}
	if ln == nil {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			db.Close()
			return "", nil, fmt.Errorf("embedded switch: listen: %w", err)
		}
	}
	for _, w := range wrap {
		ln = w(ln)
	}
	done := make(chan error, 1)
	go func() {
		err := srv.Serve(ctx, ln)
		if err != nil {
			// The proxy keeps running without its server: say so at once, not at exit.
			logf("stanzascope: the embedded switch stopped serving (clients now get remote-connection-failed): %v", err)
		}
		done <- errors.Join(err, db.Close())
	}()
	var once sync.Once
	var result error
	wait = func() error {
		once.Do(func() { result = <-done })
		return result
	}
	return ln.Addr().String(), wait, nil
}
