package proxy

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// go-sendxmpp's login: "<auth>...</auth>\n" in one write, then, after <success/>,
// "<?xml version='1.0'?>\n<stream:stream ...>". The "\n" belongs to the stream before the
// restart: the proxy forwards it behind the <auth/>, before the answer.
const (
	authNL    = "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAHdvbmRlcmxhbmQ=</auth>\n"
	restartGo = "<?xml version='1.0'?>\n<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
)

// The upstream answers <success/> only once the "\n" has arrived: a proxy that holds it
// until after the answer never gets one.
func TestWhitespaceBehindAuthBeforeAnswer(t *testing.T) {
	got := make(chan string, 1)
	up := rawServer(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		steps := []struct{ until, answer string }{
			{"version='1.0'>", serverHeader + featPlain},
			{"</auth>\n", successx},
			{"version='1.0'>", serverHeader + "<stream:features/>"},
		}
		for i, st := range steps {
			seen, err := readFor(c, st.until)
			if i == 2 {
				got <- seen
			}
			if err != nil {
				got <- fmt.Sprintf("step %d: %v after %q", i, err, seen)
				return
			}
			c.Write([]byte(st.answer))
		}
		readFor(c, "</stream:stream>")
	})
	tp := startProxy(t, Config{Upstream: up}, false)
	c, err := net.Dial("tcp", tp.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte(clientHeader))
	readUntil(t, c, "</stream:features>")
	c.Write([]byte(authNL))
	readUntil(t, c, "<success")
	c.Write([]byte(restartGo))
	readUntil(t, c, "<stream:features/>")
	if s := <-got; !strings.HasPrefix(s, "<?xml") {
		t.Errorf("after <success/> the upstream got %q: whitespace before the XML declaration", s)
	}
	c.Write([]byte("</stream:stream>"))
	readAll(t, c)

	// The records say the same: the "\n" went to the upstream before <success/> came.
	recs := tp.sink.all()
	nl, success := -1, -1
	for i, r := range recs {
		switch {
		case r.Dir == inspect.ClientToServer && string(r.Raw) == "\n":
			nl = i
		case r.Name == "success":
			success = i
		}
	}
	if nl < 0 || success < 0 || nl > success {
		t.Errorf("records: the client's \"\\n\" at %d, <success/> at %d; want it before", nl, success)
	}
}

// The same with Prosody, whose parser refuses whitespace before the restarted stream's
// XML declaration (not-well-formed): through the proxy, the login goes on to the bind
// features.
func TestProsodyWhitespaceBehindAuth(t *testing.T) {
	upAddr, _ := startProsody(t, false)
	tp := startProxy(t, Config{Upstream: upAddr}, false)
	c, err := net.Dial("tcp", tp.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write([]byte(clientHeader))
	readUntil(t, c, "</stream:features>")
	c.Write([]byte(authNL))
	readUntil(t, c, "<success")
	c.Write([]byte(restartGo))
	if s := readUntil(t, c, "</stream:features>"); !strings.Contains(s, "urn:ietf:params:xml:ns:xmpp-bind") {
		t.Fatalf("after the restart Prosody sent %q, want features with bind", s)
	}
}

// readFor reads from c until the bytes read contain sub (for an upstream's goroutine,
// which must not end the test itself).
func readFor(c net.Conn, sub string) (string, error) {
	var buf bytes.Buffer
	b := make([]byte, 4096)
	for !strings.Contains(buf.String(), sub) {
		n, err := c.Read(b)
		buf.Write(b[:n])
		if err != nil {
			return buf.String(), err
		}
	}
	return buf.String(), nil
}
