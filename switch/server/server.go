// Package server is the embedded switch: a small, standards-following XMPP server for
// client connections (RFC 6120/6121), that also serves the pre-1.0 "textbook" session a
// person types by hand over telnet. It reads streams with inspect.Reader, keeps accounts,
// rosters and offline messages in a store.Store and finds live sessions through a Directory.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/switch/store"
)

// Config configures a Server.
type Config struct {
	Domain     string      // the domain served (default "localhost")
	Store      store.Store // accounts, rosters, offline messages (required)
	TLS        *tls.Config // nil: STARTTLS is not offered
	RequireTLS bool        // refuse authentication and registration before STARTTLS
	NoRegister bool        // turn off in-band account creation (XEP-0077)
	// BehindProxy says connections come through a proxy on loopback: a loopback peer then
	// says nothing about where the client is, so SASL PLAIN is offered only over TLS.
	BehindProxy bool
	// TrustProxy says every connection begins with a PROXY protocol version 2 header
	// (proxyproto.go) from a trusted proxy: its source address is the client's, for the
	// limits per address and in the records. A connection without a valid header is
	// closed. Set it only where no one but the proxy can connect. It implies BehindProxy
	// for what is offered in clear.
	TrustProxy bool
	// InProcessLink: a connection accepted from a switch/local listener (the proxy of the
	// main job, in this process) that sends <starttls/> gets <proceed/> and its stream is
	// then taken as secured without a TLS handshake: the features, mechanisms and rules
	// are those after TLS, and nothing is encrypted memory to memory. Its peer must do the
	// same (proxy.Config.UpstreamInProcess). A connection from any other listener does
	// real TLS. With TLS nil nothing changes: STARTTLS is not offered.
	InProcessLink bool
	LoginTimeout  time.Duration
	// IdleTimeout is how long an authenticated stream may stay silent before the server
	// pings it (XEP-0199); a stream silent for another IdleTimeout after the ping is closed
	// with connection-timeout. Default 5 minutes.
	IdleTimeout time.Duration
	// WriteTimeout bounds one write to a client; a client that does not take a write for
	// that long is disconnected (after a grace period to take the rest of the stanza it
	// stalled on). Default 10 s.
	WriteTimeout time.Duration
	// MaxOutbox bounds, in bytes, what may wait in a session's outbox for its client to
	// read (outbox.go). A delivery beyond it ends that session with <policy-violation/>;
	// its senders are never blocked. Default DefaultMaxOutbox; a stanza on its own is
	// always taken, whatever its size.
	MaxOutbox int
	Limits    inspect.Limits
	// Limits per client address (limits.go): connections open at once, login attempts
	// (SASL and iq:auth) and in-band registrations per minute, and failed authentications
	// per minute before each further one is answered after AuthFailureDelay. Zero is the
	// default (DefaultMaxConnsPerIP and the like), a negative value turns a limit off.
	MaxConnsPerIP          int
	LoginsPerMinute        int
	RegistrationsPerMinute int
	AuthFailuresPerMinute  int
	// AuthFailureDelay is how long a failed authentication past AuthFailuresPerMinute
	// waits before it is answered (default DefaultAuthFailureDelay).
	AuthFailureDelay time.Duration
	// MaxSessionsPerAccount bounds the resources bound at once for one account (default
	// DefaultMaxSessionsPerAccount; negative: no limit); beyond it, binding gets
	// resource-constraint.
	MaxSessionsPerAccount int
	// Directory finds bound sessions (default NewLocalDirectory(): this process's
	// sessions only). A multi-node switch gives one shared by its nodes.
	Directory  Directory
	Iterations int // PBKDF2 iterations for new passwords (default and minimum 4096)
	// Observe, if set, receives every stream event in both directions as Records with
	// Conn, Dir and Time set. It must be safe for concurrent use and should not block.
	Observe inspect.Sink
	Logf    func(format string, args ...any)
	Version string // software version answered to XEP-0092 queries (default "dev")
	// Clock tells the time the server writes into what it keeps and shows: delay stamps
	// of offline messages and of presences, account creation. Deadlines and timeouts use
	// the real clock whatever it says. Default time.Now.
	Clock func() time.Time
	// Stats, if set, is where the server counts connections, registrations, offline
	// messages and outbox closes for an operator (see Stats); nil keeps them private.
	Stats *Stats
}

// Defaults.
const (
	DefaultLoginTimeout = 60 * time.Second
	DefaultIdleTimeout  = 5 * time.Minute
	DefaultWriteTimeout = 10 * time.Second
	MinIterations       = 4096
)

// Server is an XMPP server for client streams. Create it with New and run it with Serve.
type Server struct {
	cfg    Config
	domain inspect.JID // the server's JID (domain only)
	dir    Directory
	store  store.Store

	pairs pairLocks // order the deliveries of roster and subscription changes (pairtx.go)
	lim   *limits   // what each client address did (limits.go)

	connMu  sync.Mutex
	conns   map[*conn]struct{}
	closing bool
	connSeq atomic.Uint64
	wg      sync.WaitGroup
}

// New validates cfg and returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil {
		return nil, errors.New("server: Config.Store is required")
	}
	if cfg.Domain == "" {
		cfg.Domain = "localhost"
	}
	d, err := inspect.ParseJID(cfg.Domain)
	if err != nil || d.Local != "" || d.Resource != "" {
		return nil, fmt.Errorf("server: bad domain %q: %v", cfg.Domain, err)
	}
	if cfg.RequireTLS && cfg.TLS == nil {
		return nil, errors.New("server: RequireTLS needs a TLS configuration")
	}
	if cfg.LoginTimeout <= 0 {
		cfg.LoginTimeout = DefaultLoginTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.MaxOutbox <= 0 {
		cfg.MaxOutbox = DefaultMaxOutbox
	}
	if cfg.Iterations == 0 {
		cfg.Iterations = MinIterations
	}
	if cfg.Iterations < MinIterations {
		return nil, fmt.Errorf("server: %d PBKDF2 iterations is below the minimum %d", cfg.Iterations, MinIterations)
	}
	if cfg.Limits.MaxStanza <= 0 {
		cfg.Limits.MaxStanza = inspect.DefaultLimits.MaxStanza
	}
	if cfg.Limits.MaxDepth <= 0 {
		cfg.Limits.MaxDepth = inspect.DefaultLimits.MaxDepth
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	cfg.MaxConnsPerIP = limitOrDefault(cfg.MaxConnsPerIP, DefaultMaxConnsPerIP)
	cfg.LoginsPerMinute = limitOrDefault(cfg.LoginsPerMinute, DefaultLoginsPerMinute)
	cfg.RegistrationsPerMinute = limitOrDefault(cfg.RegistrationsPerMinute, DefaultRegistrationsPerMinute)
	cfg.AuthFailuresPerMinute = limitOrDefault(cfg.AuthFailuresPerMinute, DefaultAuthFailuresPerMinute)
	cfg.MaxSessionsPerAccount = limitOrDefault(cfg.MaxSessionsPerAccount, DefaultMaxSessionsPerAccount)
	if cfg.AuthFailureDelay <= 0 {
		cfg.AuthFailureDelay = DefaultAuthFailureDelay
	}
	if cfg.TrustProxy {
		cfg.BehindProxy = true
	}
	if cfg.Directory == nil {
		cfg.Directory = newLocalDirectory()
	}
	if cfg.Stats == nil {
		cfg.Stats = new(Stats)
	}
	return &Server{
		lim:    newLimits(&cfg),
		cfg:    cfg,
		domain: d,
		dir:    cfg.Directory,
		store:  cfg.Store,
		conns:  make(map[*conn]struct{}),
	}, nil
}

// Sessions returns the number of bound sessions (authenticated streams with a resource).
func (s *Server) Sessions() int { return s.dir.Len() }

// Serve accepts client connections on ln until ctx is cancelled. Then it closes ln, sends
// <system-shutdown/> to every stream, closes them, waits for all its goroutines and
// returns nil. A temporary accept error (out of file descriptors, EMFILE or ENFILE, and
// the like) is logged at most once per 10 s and retried with back-off, so the server
// recovers when descriptors are free again; any other accept error ends Serve with that
// error (after the same cleanup). Serve closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	stop := make(chan struct{})
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		select {
		case <-ctx.Done():
		case <-stop:
		}
		ln.Close()
	}()
	// Idle sessions wait for their next byte without a goroutine each (park.go).
	idle, err := newIdlePoller(s)
	if err != nil {
		s.logf("switch: idle sessions keep a goroutine each: %v", err)
		idle = nil
	}
	var acceptErr error
	retry := acceptRetry{logf: s.logf}
	for {
		nc, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if temporaryAccept(err) {
				// Out of descriptors (EMFILE) and the like: the connection waits in the
				// listen queue; retrying later serves it once descriptors are free.
				if retry.failed(ctx, err) {
					continue
				}
				break
			}
			acceptErr = fmt.Errorf("server: accept: %w", err)
			break
		}
		retry.ok()
		c := s.newConn(nc)
		if !s.track(c) {
			nc.Close()
			break
		}
		c.idle = idle
		s.wg.Add(1) // until c.done
		go c.serve(ctx)
	}
	close(stop)
	<-watchDone
	s.shutdown()
	s.wg.Wait()
	if idle != nil {
		idle.close()
	}
	return acceptErr
}

func (s *Server) track(c *conn) bool {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.closing {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c *conn) {
	s.connMu.Lock()
	delete(s.conns, c)
	s.connMu.Unlock()
}

// shutdown ends every stream with system-shutdown. The connections' goroutines notice the
// closed sockets and finish on their own.
func (s *Server) shutdown() {
	s.connMu.Lock()
	s.closing = true
	cs := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		cs = append(cs, c)
	}
	s.connMu.Unlock()
	for _, c := range cs {
		c.Kick("system-shutdown", "")
	}
}

func (s *Server) logf(format string, args ...any) { s.cfg.Logf(format, args...) }

// limitOrDefault maps a limit of Config: zero is the default, negative no limit (0).
func limitOrDefault(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// now is the time by Config.Clock.
func (s *Server) now() time.Time { return s.cfg.Clock() }
