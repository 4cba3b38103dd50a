package proxy

import (
	"crypto/tls"

	"github.com/stanzascope/stanzascope/inspect"
)

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
	tc := tlsLegClient(s.up.raw, cfg)
	if err := s.up.handshakeLocked(tc); err != nil {
		return nil, err
	}
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
	tc := tlsLegServer(s.client.raw, cfg)
	if err := s.client.handshakeLocked(tc); err != nil {
		return nil, err
	}
	s.p.cfg.Stats.startedTLS()
	return tc, nil
}
