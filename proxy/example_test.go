package proxy_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"strings"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/proxy"
	"github.com/stanzascope/stanzascope/rules"
)

// A proxy in front of an upstream, with a hook that drops messages whose body says
// "spam" and a sink that counts what it sees. The upstream here is a few lines that
// record what reaches them; in real use it is an XMPP server (Config.Upstream).
func Example() {
	upLn, _ := net.Listen("tcp", "127.0.0.1:0")
	received := make(chan string, 1)
	go func() {
		c, err := upLn.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.WriteString(c, "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' from='localhost' id='1'>")
		b, _ := io.ReadAll(c)
		received <- string(b)
		io.WriteString(c, "</stream:stream>")
	}()

	dropSpam := proxy.HookFunc(func(in rules.Input) rules.Outcome {
		if in.Record.Name == "message" && bytes.Contains(in.Record.Raw, []byte("spam")) {
			return rules.Outcome{Verdict: rules.Drop}
		}
		return rules.Outcome{}
	})
	var stanzas int
	count := inspect.SinkFunc(func(r *inspect.Record) error {
		if r.Kind == inspect.KindStanza {
			stanzas++ // one client, one pipe writing at a time here; real sinks must lock
		}
		return nil
	})
	p, err := proxy.New(proxy.Config{Upstream: upLn.Addr().String(), Hook: dropSpam, Sink: count})
	if err != nil {
		log.Fatal(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Serve(ctx, ln) }()

	c, _ := net.Dial("tcp", ln.Addr().String())
	io.WriteString(c, "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0' to='localhost'>"+
		"<message to='bob@localhost'><body>hi</body></message>"+
		"<message to='bob@localhost'><body>buy spam</body></message></stream:stream>")
	got := <-received
	io.ReadAll(c)
	c.Close()
	cancel()
	<-done
	fmt.Println(strings.Contains(got, "hi"), strings.Contains(got, "spam"), stanzas)
	// Output: true false 2
}
