package proxy

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// answeredConn is an upstream that answered before it read anything and closed: its bytes
// are there to read, and every write fails, as on the in-process link to the embedded
// switch once the switch refused the connection.
type answeredConn struct {
	net.Conn // deadlines and addresses (one end of a pipe)
	answer   *bytes.Reader
}

func (c *answeredConn) Read(p []byte) (int, error)  { return c.answer.Read(p) }
func (c *answeredConn) Write(p []byte) (int, error) { return 0, io.ErrClosedPipe }

// TestUpstreamRefusedBeforeHeader: an upstream that refuses the connection with a stream
// error before it reads the client's header (the embedded switch over
// --max-conns-per-ip) gets its error to the client, not the proxy's
// remote-connection-failed: the failed write of the header does not end the session
// while the upstream's answer waits to be read. (With the embedded switch this was a
// race, TestSwitchLimitsPerClient failing about once in 30 runs.)
func TestUpstreamRefusedBeforeHeader(t *testing.T) {
	const refusal = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' from='localhost' id='r1'>" +
		"<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>too many connections from 127.0.0.1 (limit 1)</text></stream:error></stream:stream>"
	tp := startProxy(t, Config{Dial: func(ctx context.Context) (net.Conn, error) {
		a, b := net.Pipe()
		t.Cleanup(func() { a.Close(); b.Close() })
		return &answeredConn{Conn: a, answer: bytes.NewReader([]byte(refusal))}, nil
	}}, false)
	c, err := net.Dial("tcp", tp.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, _ := io.ReadAll(c)
	if !strings.Contains(string(got), "too many connections from 127.0.0.1 (limit 1)") || strings.Contains(string(got), "remote-connection-failed") {
		t.Fatalf("the client got %q, not the upstream's stream error", got)
	}
}
