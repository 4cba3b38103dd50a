// Package switchtest gives tests in any package an independent XMPP client to drive the
// switch or the proxy with: a mellium.im/xmpp session whose received stanzas are collected
// as text, and a helper to create accounts in a store. It plays the part net/http/httptest
// plays for HTTP.
package switchtest

import (
	"bytes"
	"context"
	"encoding/xml"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"

	"github.com/stanzascope/stanzascope/switch/scram"
	"github.com/stanzascope/stanzascope/switch/store"
)

// wait bounds every step of a test client.
const wait = 5 * time.Second

// Client is a logged-in mellium session. Every stanza it receives is re-encoded by
// encoding/xml (so attributes come in double quotes) and kept for WaitFor.
type Client struct {
	t    testing.TB
	s    *xmpp.Session
	in   chan string
	done chan error
	once sync.Once
}

// Login negotiates a client session for origin (a JID) on conn with the given features
// (typically StartTLS, SASL and BindResource) and starts collecting what arrives. The
// session is closed when the test ends; a failed login fails the test.
func Login(t testing.TB, conn net.Conn, origin string, features ...xmpp.StreamFeature) *Client {
	t.Helper()
	// The bound is a deadline on conn, not a context: see send.
	conn.SetDeadline(time.Now().Add(2 * wait))
	s, err := xmpp.NewClientSession(context.Background(), jid.MustParse(origin), conn, features...)
	if err != nil {
		conn.Close()
		t.Fatalf("mellium login of %s: %v", origin, err)
	}
	conn.SetDeadline(time.Time{})
	return Serve(t, s)
}

// Serve is Login for a session negotiated by the caller (over another transport, such as
// mellium.im/xmpp/websocket's): it starts collecting what arrives, and closes the session
// when the test ends.
func Serve(t testing.TB, s *xmpp.Session) *Client {
	c := &Client{t: t, s: s, in: make(chan string, 256), done: make(chan error, 1)}
	go func() {
		c.done <- s.Serve(xmpp.HandlerFunc(func(r xmlstream.TokenReadEncoder, start *xml.StartElement) error {
			var buf bytes.Buffer
			enc := xml.NewEncoder(&buf)
			enc.EncodeToken(*start)
			xmlstream.Copy(enc, r)
			enc.EncodeToken(start.End())
			enc.Flush()
			select {
			case c.in <- buf.String():
			default:
			}
			return nil
		}))
	}()
	t.Cleanup(c.Close)
	return c
}

// Session returns the underlying mellium session.
func (c *Client) Session() *xmpp.Session { return c.s }

// JID returns the client's bound full JID as text.
func (c *Client) JID() string { return c.s.LocalAddr().String() }

// Close ends the stream, waits for the session to stop and closes the connection. It may
// be called more than once.
func (c *Client) Close() {
	c.once.Do(func() {
		c.s.Close()
		select {
		case <-c.done:
		case <-time.After(wait):
			c.t.Errorf("mellium session of %s did not stop", c.JID())
		}
		c.s.Conn().Close()
	})
}

// SendRaw sends s, one or more stanzas as XML text.
func (c *Client) SendRaw(s string) {
	c.t.Helper()
	if err := c.send(xml.NewDecoder(strings.NewReader(s))); err != nil {
		c.t.Fatalf("send %s: %v", s, err)
	}
}

// Chat sends a chat message with body to the JID to.
func (c *Client) Chat(to, body string) {
	c.t.Helper()
	msg := stanza.Message{To: jid.MustParse(to), Type: stanza.ChatMessage}
	err := c.send(msg.Wrap(xmlstream.Wrap(xmlstream.Token(xml.CharData(body)), xml.StartElement{Name: xml.Name{Local: "body"}})))
	if err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

// send sends the first element of r within wait. The bound is a write deadline on the
// connection, set here, and not a context given to mellium: for a context with a deadline,
// mellium (v0.22.0, setWriteDeadline) starts a goroutine that sets a write deadline in the
// past when the context is done, and ends it when Send returns; when that goroutine first
// runs after both, which a busy scheduler allows, it sees both done and picks one at
// random, so cancelling the context after Send returned cut a later Send short with
// "i/o timeout", and every Send after it (within a few thousand Sends in a loop on a quiet
// machine, TestSendsInARow; seen as a write timeout in switch/cluster's TestCrossNode).
// A context that is never done leaves that goroutine nothing to do. NewClientSession's
// context works the same way (Login).
func (c *Client) send(r xml.TokenReader) error {
	conn := c.s.Conn()
	conn.SetWriteDeadline(time.Now().Add(wait))
	defer conn.SetWriteDeadline(time.Time{})
	return c.s.Send(context.Background(), r)
}

// WaitFor returns the first received stanza containing every one of parts, skipping the
// others; nothing within five seconds fails the test, listing what did arrive.
func (c *Client) WaitFor(parts ...string) string {
	c.t.Helper()
	return c.waitFor("", parts)
}

// WaitForNone is WaitFor that also fails the test if a stanza containing bad arrives
// first: send a marker after what must not arrive, and wait for the marker.
func (c *Client) WaitForNone(bad string, parts ...string) string {
	c.t.Helper()
	return c.waitFor(bad, parts)
}

func (c *Client) waitFor(bad string, parts []string) string {
	c.t.Helper()
	deadline := time.After(wait)
	var skipped []string
	for {
		select {
		case s := <-c.in:
			if bad != "" && strings.Contains(s, bad) {
				c.t.Fatalf("%s: got %q, which must not arrive", c.JID(), s)
			}
			skipped = append(skipped, s)
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(s, p)
			}
			if ok {
				return s
			}
		case <-deadline:
			c.t.Fatalf("%s: nothing containing %q arrived; got:\n%s", c.JID(), parts, strings.Join(skipped, "\n"))
			return ""
		}
	}
}

// AddAccount creates user with password pass in st, with SCRAM keys of the minimum
// iteration count so that tests stay fast.
func AddAccount(t testing.TB, st store.Store, user, pass string) {
	t.Helper()
	creds, err := scram.NewCredentials(pass, scram.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateAccount(context.Background(), store.Account{Username: user, Creds: creds}); err != nil {
		t.Fatal(err)
	}
}
