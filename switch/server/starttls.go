package server

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/switch/local"
)

// inProcess reports whether STARTTLS on this connection secures it without TLS: the
// server is configured so (Config.InProcessLink) and the connection is a switch/local one,
// which only a part of this process can open. Its address says so (local.Addr), also
// through a listener that wraps its connections.
func (c *conn) inProcess() bool {
	if !c.srv.cfg.InProcessLink {
		return false
	}
	_, ok := c.raw.LocalAddr().(local.Addr)
	return ok
}

// onStartTLS upgrades the connection (RFC 6120 section 5): <proceed/>, the TLS handshake,
// then a fresh stream on the TLS connection.
func (c *conn) onStartTLS(ev inspect.Event) error {
	if ev.Name != "starttls" || c.srv.cfg.TLS == nil || c.tls || c.authed || c.legacy || c.ws != nil {
		// RFC 6120 section 5.4.2.2: <failure/>, then the stream is closed.
		c.send([]byte("<failure xmlns='"+inspect.NSTLS+"'/>"), "failure", inspect.NSTLS)
		return io.EOF
	}
	if err := c.send([]byte("<proceed xmlns='"+inspect.NSTLS+"'/>"), "proceed", inspect.NSTLS); err != nil {
		return err
	}
	if c.inProcess() {
		// Secured without TLS: the link never leaves this process (Config.InProcessLink).
		// The stream starts over on the same connection; what the reader held after
		// <starttls/> is dropped, as it would be with TLS.
		c.tls, c.plainLink = true, true
		c.srv.cfg.Stats.startedTLS()
		c.observe((&inspect.Record{Kind: inspect.KindNote}).WithNote("switch: STARTTLS on the in-process link: secured without encryption (nothing leaves this process)"))
		c.rd.Reset(timedSource{c})
		return nil
	}
	// The handshake writes to the socket itself: the writer first writes <proceed/> and
	// what came before it, then keeps off the socket until the handshake is over.
	if err := c.pauseWriter(); err != nil {
		return err
	}
	tc := tls.Server(&c.guard, c.srv.cfg.TLS)
	deadline := c.loginDeadline
	if d := time.Now().Add(30 * time.Second); d.Before(deadline) {
		deadline = d
	}
	c.raw.SetDeadline(deadline)
	err := tc.Handshake()
	c.raw.SetDeadline(time.Time{})
	var next net.Conn
	if err == nil {
		next = tc
	}
	if rerr := c.resumeWriter(next); err == nil {
		err = rerr // kicked during the handshake
	}
	if err != nil {
		c.abort()
		return fmt.Errorf("server: TLS handshake: %w", err)
	}
	c.rc = tc
	c.tls = true
	c.srv.cfg.Stats.startedTLS()
	c.observe((&inspect.Record{Kind: inspect.KindNote}).WithNote("switch: TLS established (" + tls.VersionName(tc.ConnectionState().Version) + ")"))
	c.rd.Reset(timedSource{c})
	return nil
}
