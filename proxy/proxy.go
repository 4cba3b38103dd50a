package proxy

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// Proxy accepts XMPP client connections and relays each to the upstream, showing and
// filtering what passes. Create it with New; it is safe for concurrent use, and Serve and
// ServeTLS may run at the same time on different listeners.
type Proxy struct {
	cfg   Config
	logf  func(string, ...any)
	count atomic.Uint64 // connection numbers
	tlsIn *tls.Config   // toward clients
	// setupLog sums up the log lines of setup timeouts, which a slowloris run makes by
	// the thousand.
	setupLog *logSummary
	ctl      *Control
}

// New checks cfg and returns a Proxy.
func New(cfg Config) (*Proxy, error) {
	if cfg.Upstream == "" && cfg.Dial == nil {
		return nil, errors.New("proxy: no upstream: set Upstream or Dial")
	}
	if cfg.Dial == nil {
		if _, _, _, err := splitUpstream(cfg.Upstream); err != nil {
			return nil, fmt.Errorf("proxy: %w", err)
		}
	}
	if cfg.WriteTimeout < 0 || cfg.IdleTimeout < 0 || cfg.SetupTimeout < 0 {
		return nil, errors.New("proxy: negative timeout")
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.SetupTimeout == 0 {
		cfg.SetupTimeout = DefaultSetupTimeout
	}
	if cfg.Stats == nil {
		cfg.Stats = new(Stats)
	}
	if cfg.HoldTimeout < 0 || cfg.MaxHeld < 0 {
		return nil, errors.New("proxy: negative hold timeout or max held")
	}
	if cfg.HoldTimeout == 0 {
		cfg.HoldTimeout = DefaultHoldTimeout
	}
	if cfg.MaxHeld == 0 {
		cfg.MaxHeld = DefaultMaxHeld
	}
	p := &Proxy{cfg: cfg, logf: cfg.Logf, ctl: cfg.Control}
	if p.ctl == nil {
		p.ctl = NewControl()
	}
	if err := p.ctl.attach(p); err != nil {
		return nil, err
	}
	if p.logf == nil {
		p.logf = log.Printf
	}
	p.setupLog = newLogSummary(p.logf, summaryInterval, "connections closed for setup timeout (no stream header in time)")
	if cfg.CA != nil {
		p.tlsIn = &tls.Config{
			MinVersion: tls.VersionTLS12,
			GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
				return cfg.CA.Leaf(h.ServerName)
			},
			KeyLogWriter: cfg.KeyLogWriter,
		}
	}
	return p, nil
}

// Serve accepts plaintext connections on ln (STARTTLS is intercepted when the client asks
// for it) until ctx is cancelled or ln fails. Before returning it closes ln, closes every
// open stream of its connections with a closing tag toward both sides, and waits for all
// their goroutines. It returns nil after cancellation.
func (p *Proxy) Serve(ctx context.Context, ln net.Listener) error {
	return p.serve(ctx, ln, false)
}

// ServeTLS is Serve for Direct TLS (XEP-0368): clients speak TLS from the first byte and
// get a certificate for the name they send as SNI. It needs Config.CA.
func (p *Proxy) ServeTLS(ctx context.Context, ln net.Listener) error {
	if p.tlsIn == nil {
		ln.Close()
		return errors.New("proxy: ServeTLS needs a CA")
	}
	return p.serve(ctx, ln, true)
}

func (p *Proxy) serve(ctx context.Context, ln net.Listener, direct bool) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
		p.setupLog.flush()
	}()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTooManyFiles) {
				// Like net/http: back off on transient errors (EMFILE) instead of failing.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				p.logf("proxy: accept: %v; retrying in %v", err, delay)
				select {
				case <-time.After(delay):
				case <-ctx.Done():
					return nil
				}
				continue
			}
			ln.Close()
			return fmt.Errorf("proxy: accept: %w", err)
		}
		delay = 0
		s := p.newSession(c, direct)
		p.cfg.Stats.opened(direct)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { p.cfg.Stats.closed(direct, s.client.isTLS()) }()
			s.run(ctx)
		}()
	}
}

// emit hands a record to the sink.
func (p *Proxy) emit(r *inspect.Record) {
	if p.cfg.Sink != nil {
		p.cfg.Sink.Write(r)
	}
}
