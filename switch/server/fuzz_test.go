package server

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/switch/scram"
	"github.com/stanzascope/stanzascope/switch/store"
)

// FuzzRestamp checks the start-tag rewriter on arbitrary bytes: no panic, and on a
// well-formed stanza the result is well-formed, carries the new from and keeps the content.
// It also checks the router's stamp (stampFrom): the same bytes as restamp with the from
// alone, written into a buffer or made on its own, and the same errors.
func FuzzRestamp(f *testing.F) {
	f.Add([]byte("<message to='dana@localhost' type='chat'><body>hi</body></message>"))
	f.Add([]byte("<presence/>"))
	f.Add([]byte(`<presence from="x" to = 'y' ><show>away</show></presence>`))
	f.Add([]byte("<cl:message xmlns:cl='jabber:client' a='&apos;>'/>"))
	f.Add([]byte("<message a='1'b='2'/>"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkStampFrom(t, raw)
		out, err := restamp(raw, []kv{{"from", "a@b/c"}}, []kv{{"to", "d@e"}}, []byte("<x/>"))
		if err != nil {
			return
		}
		if _, perr := inspect.ParseElement(raw, nil); perr != nil {
			return // only well-formed input has promises attached
		}
		el, err := inspect.ParseElement(out, nil)
		if err != nil {
			t.Fatalf("restamp(%q) = %q: not well-formed: %v", raw, out, err)
		}
		if el.Attr("from") != "a@b/c" || el.Attr("to") != "d@e" {
			t.Fatalf("restamp(%q) = %q: addressing lost", raw, out)
		}
	})
}

// checkStampFrom fails t unless stampFrom stamps raw as restamp does with from alone.
func checkStampFrom(t *testing.T, raw []byte) {
	t.Helper()
	const jid = "a@b/c'&"
	want, werr := restamp(raw, nil, []kv{{"from", jid}}, nil)
	st, err := stampFrom(raw, string(appendAttr(nil, "from", jid)))
	if err == errTwoFroms {
		if werr == nil && bytes.Count(want, []byte(" from=")) != 1 {
			t.Fatalf("restamp(%q) = %q: a from left", raw, want)
		}
		return
	}
	if (err == nil) != (werr == nil) {
		t.Fatalf("stampFrom(%q): error %v, restamp's %v", raw, err, werr)
	}
	if err != nil {
		return
	}
	into := st.appendTo([]byte("queued"))
	if got := into[len("queued"):]; !bytes.Equal(got, want) || st.size != len(want) {
		t.Fatalf("stampFrom(%q) = %q (size %d), restamp = %q", raw, got, st.size, want)
	}
	if got := st.bytes(); !bytes.Equal(got, want) || len(got) != cap(got) {
		t.Fatalf("stampFrom(%q).bytes() = %q (cap %d), restamp = %q", raw, got, cap(got), want)
	}
}

// FuzzClientStream sends arbitrary bytes to a live switch as a client would (after a
// header, and for some seeds after logging in) and checks that the switch never panics or
// hangs: it answers and closes the stream once the client has closed its side.
func FuzzClientStream(f *testing.F) {
	login := "<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'><iq id='a' type='set'><query xmlns='jabber:iq:auth'><username>fuzz</username><password>pw</password><resource>r</resource></query></iq>"
	f.Add([]byte(legacyHeader + "<iq id='x' type='get'><query xmlns='jabber:iq:register'/></iq>"))
	f.Add([]byte(header10 + "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>biwsbj1mdXp6LHI9YWJj</auth>"))
	f.Add([]byte(header10 + "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGZ1enoAcHc=</auth>" + header10 + "<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"))
	f.Add([]byte(login + "<presence/><message to='fuzz@localhost'><body>&lt;me&gt;</body></message>"))
	f.Add([]byte(login + "<iq id='r' type='set'><query xmlns='jabber:iq:roster'><item jid='fuzz@localhost'><group>g</group></item></query></iq><presence to='fuzz@localhost' type='subscribe'/>"))
	f.Add([]byte(login + "<presence to='fuzz@localhost/r' type='subscribed'/><iq type='get' id='d' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"))
	f.Add([]byte(login + "<iq id='c' type='set'><query xmlns='jabber:iq:register'><remove/></query></iq>"))

	st := store.NewMemory()
	creds, err := scram.NewCredentials("pw", scram.MinIterations)
	if err != nil {
		f.Fatal(err)
	}
	srv, err := New(Config{Store: st, LoginTimeout: 2 * time.Second, NoRegister: true})
	if err != nil {
		f.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	f.Cleanup(func() {
		cancel()
		<-done
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		// A fresh account each time, so a cancellation in one input does not change the next.
		st.DeleteAccount(context.Background(), "fuzz")
		st.CreateAccount(context.Background(), store.Account{Username: "fuzz", Creds: creds})
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write(data)
		c.(*net.TCPConn).CloseWrite()
		out, err := io.ReadAll(c)
		if err != nil {
			t.Fatalf("the switch did not close the stream: %v (sent %q, got %q)", err, data, out)
		}
		if bytes.Contains(out, []byte("internal-server-error")) {
			t.Fatalf("internal error for %q: %q", data, out)
		}
	})
}
