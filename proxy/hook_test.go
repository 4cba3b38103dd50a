package proxy

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/rules"
)

// TestHook drives every Outcome through the proxy with a small hook keyed on the id.
func TestHook(t *testing.T) {
	hook := HookFunc(func(in rules.Input) rules.Outcome {
		if in.Dir != inspect.ClientToServer {
			return rules.Outcome{}
		}
		switch in.Record.Attr("id") {
		case "drop":
			return rules.Outcome{Verdict: rules.Drop, Matched: []string{"dropper"}}
		case "reject":
			return rules.Outcome{Verdict: rules.Reject, Inject: []rules.Injection{{Dir: inspect.ServerToClient, Raw: []byte("<message type='error' id='reject'/>")}}}
		case "replace":
			return rules.Outcome{Replaced: []byte("<message id='replaced'/>"), Tags: []inspect.Tag{{Label: "changed"}}}
		case "inject":
			return rules.Outcome{Inject: []rules.Injection{
				{Dir: inspect.ClientToServer, Raw: []byte("<presence id='before'/>"), Before: true},
				{Dir: inspect.ClientToServer, Raw: []byte("<presence id='after'/>")},
			}}
		case "delay":
			return rules.Outcome{Delay: 50 * time.Millisecond}
		case "hide":
			return rules.Outcome{Hide: true}
		}
		return rules.Outcome{}
	})
	got := make(chan string, 1)
	tp := startProxy(t, Config{Upstream: politeServer(t, got), Hook: hook}, false)
	c := dial(t, tp.addr)
	io.WriteString(c, clientHeader)
	readUntil(t, c, "</stream:features>")
	io.WriteString(c, "<message id='delay'/><message id='drop'/><message id='reject'/><message id='replace'/><message id='inject'/><message id='hide'/><message id='plain'/>")
	readUntil(t, c, "<message type='error' id='reject'/>")
	io.WriteString(c, "</stream:stream>")
	readAll(t, c)
	want := clientHeader + "<message id='delay'/><message id='replaced'/><presence id='before'/><message id='inject'/><presence id='after'/><message id='hide'/><message id='plain'/></stream:stream>"
	if s := <-got; s != want {
		t.Fatalf("upstream got\n%s\nwant\n%s", s, want)
	}
	tp.stop()
	var log []string
	for _, r := range tp.sink.all() {
		if r.Kind == inspect.KindStanza && r.Dir == inspect.ClientToServer {
			log = append(log, r.Attr("id")+":"+string(r.Verdict))
			if r.Attr("id") == "replaced" && !bytes.Equal(r.Original(), []byte("<message id='replace'/>")) {
				t.Errorf("replaced record has Original %q", r.Original())
			}
		}
	}
	if got, want := strings.Join(log, " "), "delay:delayed drop:dropped reject:rejected replaced: before:injected inject: after:injected plain:"; got != want {
		t.Fatalf("log\n%s\nwant\n%s", got, want)
	}
}

// TestFeaturesEdited: compression and -PLUS mechanisms are removed and logged; what is
// left is forwarded, and the record keeps the original.
func TestFeaturesEdited(t *testing.T) {
	features := "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>" +
		"<compression xmlns='http://jabber.org/features/compress'><method>zlib</method></compression>" +
		"<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1-PLUS</mechanism><mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms></stream:features>"
	up := rawServer(t, func(c net.Conn) {
		readUntil(t, c, "version='1.0'>")
		io.WriteString(c, serverHeader+features+"</stream:stream>")
		readAll(t, c)
	})
	tp := startProxy(t, Config{Upstream: up, CA: newCA(t)}, false)
	c := dial(t, tp.addr)
	io.WriteString(c, clientHeader)
	out := readAll(t, c)
	if strings.Contains(out, "compress") || strings.Contains(out, "PLUS") || !strings.Contains(out, "<mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism>") || !strings.Contains(out, "<required/>") {
		t.Fatalf("client got %q", out)
	}
	el, err := inspect.ParseElement([]byte(strings.TrimSuffix(strings.TrimPrefix(out, serverHeader), "</stream:stream>")), nil)
	if err != nil || el.Local != "features" || el.Space != inspect.NSStreams {
		t.Fatalf("forwarded features do not parse: %v %v", el, err)
	}
	tp.sink.waitNote(t, "removed stream compression")
	tp.sink.waitNote(t, "removed SASL channel-binding mechanisms SCRAM-SHA-1-PLUS")
	for _, r := range tp.sink.all() {
		if r.Name == "features" && string(r.Original()) != features {
			t.Fatalf("features record Original %q", r.Original())
		}
	}
}

// TestLocalTLS: the upstream has no TLS and AllowPlaintextUpstream is set; the proxy
// offers STARTTLS, answers it itself, and replays the upstream's header and features on
// the client's new stream, while the upstream's stream goes on in plaintext.
func TestLocalTLS(t *testing.T) {
	got := make(chan string, 1)
	tp := startProxy(t, Config{Upstream: politeServer(t, got), CA: newCA(t), AllowPlaintextUpstream: true}, false)
	authority := tp.p.cfg.CA
	c := dial(t, tp.addr)
	io.WriteString(c, clientHeader)
	first := readUntil(t, c, "</stream:features>")
	if !strings.Contains(first, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'") {
		t.Fatalf("no STARTTLS offered: %q", first)
	}
	io.WriteString(c, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	readUntil(t, c, "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	tc := tlsClient(t, c, authority.Pool())
	io.WriteString(tc, clientHeader)
	second := readUntilConn(t, tc, "</stream:features>")
	if strings.Contains(second, "starttls") || !strings.Contains(second, "<mechanism>PLAIN</mechanism>") {
		t.Fatalf("after TLS the client got %q", second)
	}
	io.WriteString(tc, "<presence/></stream:stream>")
	if s := <-got; s != clientHeader+"<presence/></stream:stream>" {
		t.Fatalf("upstream got %q: one stream, plaintext", s)
	}
	tp.sink.waitNote(t, "STARTTLS, answered by the proxy")
}

// TestNoLocalTLS: without AllowPlaintextUpstream the proxy offers a plaintext client no
// STARTTLS when the upstream has none: the features pass as the server sent them.
func TestNoLocalTLS(t *testing.T) {
	got := make(chan string, 1)
	tp := startProxy(t, Config{Upstream: politeServer(t, got), CA: newCA(t)}, false)
	c := dial(t, tp.addr)
	io.WriteString(c, clientHeader)
	if first := readUntil(t, c, "</stream:features>"); first != serverHeader+plainFeatures {
		t.Fatalf("client got %q, want the upstream's features unchanged", first)
	}
	io.WriteString(c, "<presence/></stream:stream>")
	if s := <-got; s != clientHeader+"<presence/></stream:stream>" {
		t.Fatalf("upstream got %q", s)
	}
	tp.sink.waitNote(t, "the upstream offers no STARTTLS: both legs stay plaintext")
}
