package loadgen

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// readLimits bound what a server can make a client hold.
var readLimits = inspect.Limits{MaxStanza: 256 << 10}

// client is one simulated XMPP client: its connection, its reader and, during the message
// run, the flow of messages it sends (out) and the flow it receives (in, the peer's out).
type client struct {
	idx  int
	acct Account
	cfg  *Config

	nc  net.Conn
	r   *inspect.Reader
	wmu sync.Mutex // serialises writes: the sender and the reader's iq answers
	jid string     // the full JID bound

	// Set for the message run.
	peer    *client
	out, in *Flow
	hist    *Histogram
	wake    chan struct{} // the sender waits here for its window to open
	waiting atomic.Bool
	skipped atomic.Int64          // rate mode: due messages not sent because the window was full
	dropErr atomic.Pointer[error] // why the connection ended early, set by the reader
}

// dialer opens a TCP connection to the target; tests and the probe use the same one.
func dial(ctx context.Context, target string, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout, KeepAlive: -1}
	return d.DialContext(ctx, "tcp", target)
}

// write sends b whole.
func (c *client) write(b []byte) error {
	c.wmu.Lock()
	_, err := c.nc.Write(b)
	c.wmu.Unlock()
	if err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// openStream sends a stream header and reads the server's header and features.
func (c *client) openStream() (*inspect.Element, error) {
	hdr := "<?xml version='1.0'?><stream:stream to='" + inspect.EscapeAttr(c.cfg.Domain) +
		"' version='1.0' xml:lang='en' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
	if err := c.write([]byte(hdr)); err != nil {
		return nil, err
	}
	for {
		ev, err := c.r.Next()
		if err != nil {
			return nil, c.readError(err)
		}
		if ev.Kind == inspect.KindStreamOpen {
			break
		}
		if ev.Kind == inspect.KindStanza {
			return nil, c.unexpected(ev)
		}
	}
	el, err := c.nextElement()
	if err != nil {
		return nil, err
	}
	if el.Space != inspect.NSStreams || el.Local != "features" {
		return nil, fmt.Errorf("expected stream features, got <%s xmlns='%s'>", el.Local, el.Space)
	}
	return el, nil
}

// nextElement returns the next stanza as a tree; a stream error or the end of the stream
// is an error.
func (c *client) nextElement() (*inspect.Element, error) {
	for {
		ev, err := c.r.Next()
		if err != nil {
			return nil, c.readError(err)
		}
		switch ev.Kind {
		case inspect.KindStanza:
			if ev.Name == "error" && ev.NS == inspect.NSStreams {
				return nil, c.unexpected(ev)
			}
			el, err := inspect.ParseElement(ev.Raw, c.r.Header())
			if err != nil {
				return nil, fmt.Errorf("parse <%s>: %w", ev.Name, err)
			}
			return el, nil
		case inspect.KindStreamClose:
			return nil, errors.New("the server closed the stream")
		case inspect.KindStreamOpen:
			return nil, errors.New("unexpected stream header")
		}
	}
}

// unexpected describes a stanza that should not have come, stream errors with their
// condition.
func (c *client) unexpected(ev inspect.Event) error {
	if ev.Name == "error" && ev.NS == inspect.NSStreams {
		if el, err := inspect.ParseElement(ev.Raw, c.r.Header()); err == nil {
			cond := "undefined-condition"
			if f := el.FirstElement(); f != nil {
				cond = f.Local
			}
			if t := el.Child(inspect.NSStreamErrors, "text"); t != nil {
				cond += ": " + t.Text()
			}
			return fmt.Errorf("stream error from the server: %s", cond)
		}
	}
	return fmt.Errorf("unexpected <%s> from the server", ev.Name)
}

func (c *client) readError(err error) error {
	if errors.Is(err, io.EOF) {
		return errors.New("the server closed the connection")
	}
	return fmt.Errorf("read: %w", err)
}

// connect dials, opens the stream and negotiates STARTTLS when configured. It returns the
// features of the (secured) stream.
func (c *client) connect(ctx context.Context) (*inspect.Element, error) {
	nc, err := dial(ctx, c.cfg.Target, c.cfg.LoginTimeout)
	if err != nil {
		return nil, err
	}
	c.nc = nc
	c.r = inspect.NewReader(nc, readLimits)
	_ = nc.SetDeadline(time.Now().Add(c.cfg.LoginTimeout))
	feats, err := c.openStream()
	if err != nil || !c.cfg.TLS {
		return feats, err
	}
	if feats.Child(inspect.NSTLS, "starttls") == nil {
		return nil, errors.New("--tls: the server does not offer STARTTLS")
	}
	if err := c.write([]byte("<starttls xmlns='" + inspect.NSTLS + "'/>")); err != nil {
		return nil, err
	}
	el, err := c.nextElement()
	if err != nil {
		return nil, err
	}
	if el.Space != inspect.NSTLS || el.Local != "proceed" {
		return nil, fmt.Errorf("STARTTLS refused: <%s/>", el.Local)
	}
	tc := tls.Client(nc, tlsConfig(c.cfg))
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	c.nc = tc
	c.r.Reset(tc)
	return c.openStream()
}

// tlsConfig is the client TLS configuration: certificates are not verified on loopback
// (every test server there has a self-signed one) or with --insecure.
func tlsConfig(cfg *Config) *tls.Config {
	host, _, _ := net.SplitHostPort(cfg.Target)
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

func (c *client) close() {
	if c.nc != nil {
		c.nc.Close()
	}
}

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
		return fmt.Errorf("registration of %s refused: %s", c.acct.Username, stanzaErrorCondition(el))
	}
	_ = c.write([]byte("</stream:stream>"))
	return nil
}

// awaitIQ skips stanzas until the iq answering id.
func (c *client) awaitIQ(id string) (*inspect.Element, error) {
	for {
		el, err := c.nextElement()
		if err != nil {
			return nil, err
		}
		if el.Local == "iq" && el.Attr("id") == id && (el.Attr("type") == "result" || el.Attr("type") == "error") {
			return el, nil
		}
	}
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

// stanzaErrorCondition describes the error of an error stanza: condition (text).
func stanzaErrorCondition(el *inspect.Element) string {
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
	feats, err := c.connect(ctx)
	if err != nil {
		return "", err
	}
	mech, err := chooseMechanism(feats, c.cfg.Mechanism)
	if err != nil {
		return "", err
	}
	if err := c.authenticate(mech); err != nil {
		return mech, err
	}
	c.r.Restart()
	if feats, err = c.openStream(); err != nil {
		return mech, err
	}
	if feats.Child(inspect.NSBind, "bind") == nil {
		return mech, errors.New("the server offers no resource binding after login")
	}
	bind := "<iq type='set' id='bind'><bind xmlns='" + inspect.NSBind + "'><resource>" + DefaultResource +
		strconv.Itoa(c.idx) + "</resource></bind></iq>"
	if err := c.write([]byte(bind)); err != nil {
		return mech, err
	}
	el, err := c.awaitIQ("bind")
	if err != nil {
		return mech, fmt.Errorf("bind: %w", err)
	}
	if el.Attr("type") == "error" {
		return mech, fmt.Errorf("bind refused: %s", stanzaErrorCondition(el))
	}
	if b := el.Child(inspect.NSBind, "bind"); b != nil {
		if j := b.Child(inspect.NSBind, "jid"); j != nil {
			c.jid = j.Text()
		}
	}
	if _, err := inspect.ParseJID(c.jid); err != nil {
		return mech, fmt.Errorf("bind: the server gave no usable JID: %w", err)
	}
	// Legacy session establishment, only where the server still requires it.
	if s := feats.Child(inspect.NSSession, "session"); s != nil && s.Child(inspect.NSSession, "optional") == nil {
		if err := c.write([]byte("<iq type='set' id='sess'><session xmlns='" + inspect.NSSession + "'/></iq>")); err != nil {
			return mech, err
		}
		if el, err := c.awaitIQ("sess"); err != nil || el.Attr("type") == "error" {
			return mech, fmt.Errorf("session establishment failed: %v", err)
		}
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
