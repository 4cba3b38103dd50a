package proxy

import (
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// Stanzas in shapes a naive re-serialiser would change: quoting, entities, CDATA,
// prefixes, odd spacing, multibyte text.
var clientStanzas = []string{
	"<message to=\"bob@localhost\" type='chat' id=\"m1\"><body>it&apos;s &lt;fine&gt; &amp; &#x263A; ☺</body></message>",
	"  \n\t",
	"<presence/>",
	"<iq type='get' id='r1'   ><query xmlns='jabber:iq:roster'/></iq>",
	"<message xmlns:x='urn:example:x' id='m2'><x:data a = 'b' >  <![CDATA[<raw> & stuff]]></x:data></message>",
	" ",
	"<iq type='set' id='big'><query xmlns='urn:example:big'>" + strings.Repeat("0123456789", 3000) + "</query></iq>",
	"<message id='m3'><body>𝄞 ÿ \u00a0</body ></message>",
}

var serverStanzas = []string{
	"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>",
	"\n",
	"<message from='bob@localhost' type=\"chat\"><body>back &amp; forth</body></message>",
	"<iq type='result' id='r1'><query xmlns='jabber:iq:roster'><item jid='x@y' name=\"&quot;X&quot;\"/></query></iq>",
	"<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>",
}

// writeChunked writes s in random small pieces, so stanzas reach the proxy split at
// every kind of boundary.
func writeChunked(c net.Conn, s string, rng *rand.Rand) error {
	for len(s) > 0 {
		n := 1 + rng.IntN(700)
		if n > len(s) {
			n = len(s)
		}
		if _, err := io.WriteString(c, s[:n]); err != nil {
			return err
		}
		s = s[n:]
	}
	return nil
}

// TestByteEquality proves the proxy forwards exactly the bytes it receives, in order,
// with nothing added or lost, in both directions.
func TestByteEquality(t *testing.T) {
	clientSent := clientHeader + strings.Join(clientStanzas, "") + "</stream:stream>"
	serverSent := serverHeader + strings.Join(serverStanzas, "") + "</stream:stream>"
	got := make(chan string, 1)
	up := rawServer(t, func(c net.Conn) {
		first := readUntil(t, c, "version='1.0'>")
		rng := rand.New(rand.NewPCG(2, 3))
		wrote := make(chan struct{})
		go func() { writeChunked(c, serverSent, rng); close(wrote) }()
		defer func() { <-wrote }()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		rest, _ := io.ReadAll(c)
		got <- first + string(rest)
	})
	tp := startProxy(t, Config{Upstream: up}, false)
	c, err := net.Dial("tcp", tp.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := writeChunked(c, clientSent, rand.New(rand.NewPCG(1, 2))); err != nil {
		t.Fatal(err)
	}
	fromServer := readAll(t, c)
	if fromServer != serverSent {
		t.Errorf("client received %d bytes, server sent %d; differ at %d", len(fromServer), len(serverSent), diffAt(fromServer, serverSent))
	}
	if rest := <-got; rest != clientSent {
		t.Errorf("upstream received %d bytes, client sent %d; differ at %d", len(rest), len(clientSent), diffAt(rest, clientSent))
	}
	tp.stop()
	// Every stanza and the milestones are in the log.
	var stanzas [3]int
	for _, r := range tp.sink.all() {
		if r.Kind == inspect.KindStanza {
			stanzas[r.Dir]++
		}
	}
	if stanzas[inspect.ClientToServer] != 6 || stanzas[inspect.ServerToClient] != 4 {
		t.Errorf("stanza records c2s %d s2c %d, want 6 and 4", stanzas[inspect.ClientToServer], stanzas[inspect.ServerToClient])
	}
	if !strings.Contains(tp.sink.notes(), "closed after") {
		t.Errorf("no conn-close record with counts:\n%s", tp.sink.notes())
	}
}

func diffAt(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
