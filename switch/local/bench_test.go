package local

import (
	"context"
	"io"
	"net"
	"testing"
	"time"
)

// The embedded switch's leg: a message of about a chat stanza's size crosses to the other
// end and a reply comes back (what every routed message costs the proxy twice), and a
// stream of such messages one way. Each on this package and on loopback TCP, in the same
// run (-bench 'Local|TCP').

const msgSize = 300

func localPair(b *testing.B) (net.Conn, net.Conn) {
	l := Listen("switch", 0)
	b.Cleanup(func() { l.Close() })
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		acc <- c
	}()
	c, err := l.Dial(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	s := <-acc
	b.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

func tcpPair(b *testing.B) (net.Conn, net.Conn) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		acc <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	s := <-acc
	if s == nil {
		b.Fatal("accept failed")
	}
	b.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

func benchPingPong(b *testing.B, c, s net.Conn) {
	go func() { io.Copy(s, s) }() // the echo
	msg := make([]byte, msgSize)
	buf := make([]byte, msgSize)
	b.ReportAllocs()
	b.SetBytes(2 * msgSize)
	for b.Loop() {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
}

func benchStream(b *testing.B, c, s net.Conn) {
	done := make(chan struct{})
	go func() {
		io.Copy(io.Discard, s)
		close(done)
	}()
	msg := make([]byte, msgSize)
	b.ReportAllocs()
	b.SetBytes(msgSize)
	for b.Loop() {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
	}
	c.Close()
	<-done
}

func BenchmarkPingPongLocal(b *testing.B) { c, s := localPair(b); benchPingPong(b, c, s) }
func BenchmarkPingPongTCP(b *testing.B)   { c, s := tcpPair(b); benchPingPong(b, c, s) }
func BenchmarkStreamLocal(b *testing.B)   { c, s := localPair(b); benchStream(b, c, s) }
func BenchmarkStreamTCP(b *testing.B)     { c, s := tcpPair(b); benchStream(b, c, s) }

// BenchmarkStreamDeadlineLocal is BenchmarkStreamLocal with a write deadline set before
// every write and a read deadline before every read, as the proxy and the switch do.
func BenchmarkStreamDeadlineLocal(b *testing.B) {
	c, s := localPair(b)
	done := make(chan struct{})
	go func() {
		buf := make([]byte, 4096)
		for {
			s.SetReadDeadline(time.Now().Add(time.Minute))
			if _, err := s.Read(buf); err != nil {
				break
			}
		}
		close(done)
	}()
	msg := make([]byte, msgSize)
	b.ReportAllocs()
	b.SetBytes(msgSize)
	for b.Loop() {
		c.SetWriteDeadline(time.Now().Add(time.Minute))
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
	}
	c.Close()
	<-done
}
