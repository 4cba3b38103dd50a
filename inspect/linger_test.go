package inspect

import (
	"io"
	"net"
	"testing"
	"time"
)

// loopbackPair returns the two ends of a TCP connection on 127.0.0.1.
func loopbackPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// TestLingerDeliversTheError: a peer that is still sending when the stream error is
// written gets the error and then the end of the stream, not a reset; Linger returns when
// the peer closes, long before its deadline.
func TestLingerDeliversTheError(t *testing.T) {
	srv, cli := loopbackPair(t)
	// The peer's bytes are unread when the error is written: a plain Close would reset.
	if _, err := cli.Write(make([]byte, 32<<10)); err != nil {
		t.Fatal(err)
	}
	const streamErr = "<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>"
	if _, err := srv.Write([]byte(streamErr)); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	start := time.Now()
	go func() {
		Linger(srv, srv, time.Now().Add(LingerTime))
		srv.Close()
		close(done)
	}()
	cli.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(cli)
	if err != nil {
		t.Fatalf("the peer's read ended with %v after %q, want the end of the stream", err, got)
	}
	if string(got) != streamErr {
		t.Fatalf("the peer got %q, want the stream error", got)
	}
	cli.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Linger did not return after the peer closed")
	}
	if d := time.Since(start); d >= LingerTime {
		t.Errorf("Linger took %v: it waited for its deadline instead of the peer's close", d)
	}
}

// TestLingerBounded: a peer that never stops sending holds the connection for at most
// LingerBytes.
func TestLingerBounded(t *testing.T) {
	srv, cli := loopbackPair(t)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		buf := make([]byte, 4096)
		for i := 0; i < 10000; i++ { // bounded: far more than LingerBytes
			select {
			case <-stop:
				return
			default:
			}
			cli.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if _, err := cli.Write(buf); err != nil {
				return
			}
		}
	}()
	done := make(chan struct{})
	go func() {
		Linger(srv, srv, time.Now().Add(time.Minute))
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Linger kept reading past LingerBytes")
	}
}
