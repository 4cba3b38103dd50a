package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/stanzascope/stanzascope/switch/server"
	"github.com/stanzascope/stanzascope/switch/store"
)

// A switch on a loopback port, and the first steps of the textbook session typed into it.
func Example() {
	srv, err := server.New(server.Config{Domain: "localhost", Store: store.NewMemory()})
	if err != nil {
		fmt.Println(err)
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() {
		cancel()
		fmt.Println("Serve:", <-done)
	}()

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"+
		"<iq id='reg' type='set'><query xmlns='jabber:iq:register'><username>Mr_Praline</username><password>NorwegianBlue</password></query></iq>"+
		"<iq id='auth1' type='set'><query xmlns='jabber:iq:auth'><username>Mr_Praline</username><password>NorwegianBlue</password><resource>telnet</resource></query></iq>"+
		"</stream:stream>")
	out, _ := io.ReadAll(bufio.NewReader(c))
	c.Close()
	// The stream header carries a random id; show what follows it.
	fmt.Println(string(out[strings.Index(string(out), "<iq"):]))
	// Output:
	// <iq id='reg' type='result'/><iq id='auth1' type='result'/></stream:stream>
	// Serve: <nil>
}
