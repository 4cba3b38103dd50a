package switchtest

import (
	"context"
	"io"
	"net"
	"testing"

	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stream"
)

// TestSendsInARow: many sends in a row on one client all succeed. Each used to give mellium
// a context cancelled as soon as Send returned, which could set a write deadline in the
// past in the middle of a later Send (see Client.send): one Send in a few hundred failed
// with "i/o timeout", and every one after it.
func TestSendsInARow(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	read := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			read <- 0
			return
		}
		defer c.Close()
		n, _ := io.Copy(io.Discard, c)
		read <- n
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	// A session with nothing to negotiate: the peer only reads, which is all a send needs.
	ready := func(context.Context, *stream.Info, *stream.Info, *xmpp.Session, any) (xmpp.SessionState, io.ReadWriter, any, error) {
		return xmpp.Ready, nil, nil, nil
	}
	s, err := xmpp.NewSession(context.Background(), jid.MustParse("localhost"), jid.MustParse("a@localhost"), conn, 0, ready)
	if err != nil {
		t.Fatal(err)
	}
	c := &Client{t: t, s: s}
	const n = 10000
	msg := "<message to='b@localhost'><body>x</body></message>"
	for range n {
		c.SendRaw(msg) // fails the test on the first failed send
	}
	conn.Close()
	// mellium re-encodes each message (attributes in double quotes: as long as sent).
	if got := <-read; got < int64(n*len(msg)) {
		t.Errorf("the peer read %d bytes, want at least %d", got, n*len(msg))
	}
}
