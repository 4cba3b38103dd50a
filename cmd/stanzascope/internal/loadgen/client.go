package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// readLimits bound what a server can make a client hold.
var readLimits = inspect.Limits{MaxStanza: 256 << 10}

// client is one simulated XMPP client: its stream and, during the message run, the flow
// of messages it sends (out) and the flow it receives (in, the peer's out).
type client struct {
	Stream
	idx  int
	acct Account
	cfg  *Config

	jid string // the full JID bound

	// Set for the message run.
	peer     *client
	out, in  *Flow
	hist     *Histogram
	wake     chan struct{} // the sender waits here for its window to open
	waiting  atomic.Bool
	answered atomic.Bool           // the peer answered a probe (settle.go)
	skipped  atomic.Int64          // rate mode: due messages not sent because the window was full
	dropErr  atomic.Pointer[error] // why the connection ended early, set by the reader
}

// dialer opens a TCP connection to the target; tests and the probe use the same one.
func dial(ctx context.Context, target string, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout, KeepAlive: -1}
	return d.DialContext(ctx, "tcp", target)
}

// connect dials, opens the stream and negotiates STARTTLS when configured. It returns the
// features of the (secured) stream.
func (c *client) connect(ctx context.Context) (*inspect.Element, error) {
	target := c.cfg.targetOf(c.idx)
	nc, err := dial(ctx, target, c.cfg.LoginTimeout)
	if err != nil {
		return nil, err
	}
	c.init(nc, c.cfg.Domain)
	_ = nc.SetDeadline(time.Now().Add(c.cfg.LoginTimeout))
	feats, err := c.openStream()
	if err != nil || !c.cfg.TLS {
		return feats, err
	}
	if feats.Child(inspect.NSTLS, "starttls") == nil {
		return nil, errors.New("--tls: the server does not offer STARTTLS")
	}
	return c.StartTLS(ctx, tlsConfig(c.cfg, target))
}

// tlsConfig is the client TLS configuration: certificates are not verified on loopback
// (every test server there has a self-signed one) or with --insecure.
func tlsConfig(cfg *Config, target string) *tls.Config {
	host, _, _ := net.SplitHostPort(target)
	return &tls.Config{
		ServerName:         cfg.Domain,
		InsecureSkipVerify: cfg.Insecure || isLoopback(host),
		MinVersion:         tls.VersionTLS12,
	}
}

// isLoopback reports whether host is a loopback address or "localhost".
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (c *client) close() { _ = c.Close() }

// register creates the account with XEP-0077 on a fresh stream and closes it. An account
// that exists already is fine: the login that follows checks its password.
func (c *client) register(ctx context.Context) error {
	defer c.close()
	if _, err := c.connect(ctx); err != nil {
		return err
	}
	q := "<iq type='set' id='reg'><query xmlns='" + inspect.NSRegister + "'><username>" +
		inspect.EscapeText(c.acct.Username) + "</username><password>" +
		inspect.EscapeText(c.acct.Password) + "</password></query></iq>"
	if err := c.write([]byte(q)); err != nil {
		return err
	}
	el, err := c.awaitIQ("reg")
	if err != nil {
		return fmt.Errorf("register %s: %w", c.acct.Username, err)
	}
	if el.Attr("type") == "error" && errorCondition(el) != "conflict" {
		return fmt.Errorf("registration of %s refused: %s", c.acct.Username, StanzaErrorCondition(el))
	}
	_ = c.write([]byte("</stream:stream>"))
	return nil
}

// errorCondition returns the defined condition of an error stanza, or "".
func errorCondition(el *inspect.Element) string {
	if e := el.Child("", "error"); e != nil {
		for _, ch := range e.Elements() {
			if ch.Space == inspect.NSStanzas && ch.Local != "text" {
				return ch.Local
			}
		}
	}
	return ""
}

// StanzaErrorCondition describes the error of an error stanza: condition (text).
func StanzaErrorCondition(el *inspect.Element) string {
	e := el.Child("", "error")
	if e == nil {
		return "error without a condition"
	}
	cond := "undefined-condition"
	for _, ch := range e.Elements() {
		if ch.Space == inspect.NSStanzas && ch.Local != "text" {
			cond = ch.Local
		}
	}
	if t := e.Child(inspect.NSStanzas, "text"); t != nil {
		cond += " (" + t.Text() + ")"
	}
	return cond
}

// login connects, authenticates, binds a resource, sends initial presence and waits for
// the server to have handled it (a ping round trip). It returns the mechanism used. The
// connection stays open with no deadline.
func (c *client) login(ctx context.Context) (string, error) {
	mech, err := c.bindSession(ctx)
	if err != nil {
		return mech, err
	}
	sync := "<presence/><iq type='get' id='sync' to='" + inspect.EscapeAttr(c.cfg.Domain) +
		"'><ping xmlns='" + inspect.NSPing + "'/></iq>"
	if err := c.write([]byte(sync)); err != nil {
		return mech, err
	}
	if _, err := c.awaitIQ("sync"); err != nil {
		return mech, fmt.Errorf("after presence: %w", err)
	}
	_ = c.nc.SetDeadline(time.Time{})
	return mech, nil
}

// bindSession connects, authenticates and binds a resource. It returns the mechanism used.
func (c *client) bindSession(ctx context.Context) (string, error) {
	feats, err := c.connect(ctx)
	if err != nil {
		return "", err
	}
	mech, err := ChooseMechanism(feats, c.cfg.Mechanism)
	if err != nil {
		return "", err
	}
	if feats, err = c.Authenticate(mech, c.acct); err != nil {
		return mech, err
	}
	full, err := c.Bind(feats, DefaultResource+strconv.Itoa(c.idx))
	if err != nil {
		return mech, err
	}
	c.jid = full.String()
	return mech, nil
}
