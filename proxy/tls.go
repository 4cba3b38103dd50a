package proxy

import (
	"crypto/tls"
	"fmt"

	"github.com/stanzascope/stanzascope/inspect"
)

// clientStartTLS handles <starttls/> from the client according to what was offered.
func (s *session) clientStartTLS(ev inspect.Event) error {
	const dir = inspect.ClientToServer
	s.mu.Lock()
	mode := s.tlsMode
	s.mu.Unlock()
	switch mode {
	case tlsForward:
		s.setAwait(awaitTLS)
		if err := s.passthrough(ev, dir); err != nil {
			return err
		}
		return s.waitResume()
	case tlsLocal:
		s.intercepted(ev, dir)
		s.allowPlainUpstream("the client asked for STARTTLS, answered by the proxy")
		tc, err := s.handshakeClient(proceedTLS, s.ownRec(inspect.ServerToClient, inspect.KindStanza, proceedTLS))
		if err != nil {
			s.fail("client TLS handshake failed (does the client trust the stanzascope CA? see 'stanzascope ca'): %v", err)
			return errHandled
		}
		s.milestone(tlsMilestone("client", s.client.tls, false), "TLS with client: %s", tlsSummary(s.client.tls))
		s.cr.Reset(s.source(tc, true))
		s.replayPending = true
		return nil
	default:
		s.intercepted(ev, dir)
		return s.refuseStartTLS()
	}
}

// refuseStartTLS answers a <starttls/> the proxy cannot honour: <failure/> (RFC 6120
// section 5.4.2.2) and a policy-violation stream error that says why, which closes the
// stream. Nothing more of the client's reaches the upstream.
func (s *session) refuseStartTLS() error {
	s.mu.Lock()
	why := s.tlsWhy
	s.mu.Unlock()
	if why == "" {
		why = "STARTTLS was not offered"
	}
	s.client.write(failureTLS, s.ownRec(inspect.ServerToClient, inspect.KindStanza, failureTLS))
	if why == whyPlainUpstream {
		return s.refusePlainUpstream("the client asked for STARTTLS")
	}
	s.fail("the client asked for STARTTLS: refused (%s); <failure/> and policy-violation sent", why)
	s.streamErrorTo(s.client, inspect.CondPolicyViolation, "stanzascope: "+why)
	return errHandled
}

// interceptTLS runs on the upstream's <proceed/>: TLS with the upstream as a client, then
// <proceed/> to the client and TLS with it as a server, then both readers start over.
func (s *session) interceptTLS(ev inspect.Event) error {
	utc, err := s.handshakeUpstream()
	if err != nil {
		s.intercepted(ev, inspect.ServerToClient)
		return s.upstreamTLSFailed(err)
	}
	s.ur.Reset(s.source(utc, false))
	tc, err := s.handshakeClient(ev.Raw, s.recOf(ev, inspect.ServerToClient))
	if err != nil {
		s.fail("client TLS handshake failed (does the client trust the stanzascope CA? see 'stanzascope ca'): %v", err)
		return errHandled
	}
	s.milestone(tlsMilestone("client", s.client.tls, false), "TLS with client: %s", tlsSummary(s.client.tls))
	s.resumeC2S(func() error { s.cr.Reset(s.source(tc, true)); return nil })
	return nil
}

// upgradeUpstream negotiates STARTTLS with the upstream on the proxy's own initiative,
// for a client that came with Direct TLS, then sends the client's stream header again.
func (s *session) upgradeUpstream() error {
	s.upTLSTried = true
	s.note("client uses Direct TLS: the proxy negotiates STARTTLS with the upstream itself")
	if err := s.up.write(startTLS, s.ownRec(inspect.ClientToServer, inspect.KindStanza, startTLS)); err != nil {
		return &writeError{"upstream", err}
	}
	var ev inspect.Event
	for {
		e, err := s.ur.Next()
		if err != nil {
			return err
		}
		if e.Kind != inspect.KindWhitespace {
			ev = e
			break
		}
	}
	s.intercepted(ev, inspect.ServerToClient)
	if inspect.After(ev.Name, ev.NS) != inspect.NextTLS {
		return s.upstreamTLSFailed(fmt.Errorf("upstream answered <%s/> to <starttls/>", ev.Name))
	}
	utc, err := s.handshakeUpstream()
	if err != nil {
		return s.upstreamTLSFailed(err)
	}
	s.ur.Reset(s.source(utc, false))
	s.mu.Lock()
	hdr := append([]byte(nil), s.clientHdr...)
	s.mu.Unlock()
	if err := s.up.writeOpen(hdr, s.ownRec(inspect.ClientToServer, inspect.KindStreamOpen, hdr)); err != nil {
		return &writeError{"upstream", err}
	}
	s.settleUpstream()
	return nil
}

// upstreamTLSFailed tells the client the upstream cannot be reached securely.
func (s *session) upstreamTLSFailed(err error) error {
	s.fail("TLS with the upstream failed (remote-connection-failed sent to the client): %v", err)
	s.streamErrorTo(s.client, inspect.CondRemoteConnectionFailed, "stanzascope could not secure the connection to the upstream server")
	s.up.restarted()
	return errHandled
}

// handshakeUpstream makes the upstream leg TLS, as a client, verifying the server unless
// configured not to, with the stream's domain as SNI.
func (s *session) handshakeUpstream() (*tls.Conn, error) {
	var cfg *tls.Config
	if s.p.cfg.UpstreamTLS != nil {
		cfg = s.p.cfg.UpstreamTLS.Clone()
	} else {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg.ServerName = s.domain
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	if cfg.KeyLogWriter == nil {
		cfg.KeyLogWriter = s.p.cfg.KeyLogWriter
	}
	s.up.mu.Lock()
	defer s.up.mu.Unlock()
	tc := tls.Client(s.up.raw, cfg)
	if err := s.up.handshakeLocked(tc); err != nil {
		return nil, err
	}
	s.milestone(tlsMilestone("upstream", s.up.tls, false), "TLS with upstream: %s", tlsSummary(s.up.tls))
	return tc, nil
}

// handshakeClient writes proceed to the client and makes the client leg TLS, as a server
// with a certificate from the CA for the name the client asks for.
func (s *session) handshakeClient(proceed []byte, r *inspect.Record) (*tls.Conn, error) {
	s.client.mu.Lock()
	defer s.client.mu.Unlock()
	if err := s.client.writeLocked(proceed, r); err != nil {
		return nil, err
	}
	cfg := s.p.tlsIn.Clone()
	domain := s.domain
	cfg.GetCertificate = func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		name := h.ServerName
		if name == "" {
			name = domain // clients that send no SNI still expect the stream's domain
		}
		return s.p.cfg.CA.Leaf(name)
	}
	tc := tls.Server(s.client.raw, cfg)
	if err := s.client.handshakeLocked(tc); err != nil {
		return nil, err
	}
	s.p.cfg.Stats.startedTLS()
	return tc, nil
}
