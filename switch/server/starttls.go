package server

import (
	"crypto/tls"
	"fmt"
	"io"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// onStartTLS upgrades the connection (RFC 6120 section 5): <proceed/>, the TLS handshake,
// then a fresh stream on the TLS connection.
func (c *conn) onStartTLS(ev inspect.Event) error {
	if ev.Name != "starttls" || c.srv.cfg.TLS == nil || c.tls || c.authed || c.legacy {
		// RFC 6120 section 5.4.2.2: <failure/>, then the stream is closed.
		c.send([]byte("<failure xmlns='"+inspect.NSTLS+"'/>"), "failure", inspect.NSTLS)
		return io.EOF
	}
	c.wmu.Lock()
	if err := c.writeLocked([]byte("<proceed xmlns='"+inspect.NSTLS+"'/>"), inspect.KindStanza, "proceed", inspect.NSTLS); err != nil {
		c.wmu.Unlock()
		return err
	}
	c.tlsBusy = true
	c.wmu.Unlock()

	tc := tls.Server(&c.guard, c.srv.cfg.TLS)
	deadline := c.loginDeadline
	if d := time.Now().Add(30 * time.Second); d.Before(deadline) {
		deadline = d
	}
	c.raw.SetDeadline(deadline)
	err := tc.Handshake()
	c.raw.SetDeadline(time.Time{})

	c.wmu.Lock()
	c.tlsBusy = false
	if err == nil && c.wclosed {
		err = errClosed // kicked during the handshake
	}
	if err == nil {
		c.nc = tc
		c.headerSent = false
	}
	c.wmu.Unlock()
	if err != nil {
		c.closeSocket()
		return fmt.Errorf("server: TLS handshake: %w", err)
	}
	c.tls = true
	c.srv.cfg.Stats.startedTLS()
	c.observe(&inspect.Record{Kind: inspect.KindNote, Note: "switch: TLS established (" + tls.VersionName(tc.ConnectionState().Version) + ")"})
	c.rd.Reset(timedSource{c})
	return nil
}
