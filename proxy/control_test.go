package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// pumpServer is an upstream written by hand that answers the header with features, keeps
// everything it receives, and writes what the test puts on toClient.
type pumpServer struct {
	addr     string
	mu       sync.Mutex
	got      bytes.Buffer
	toClient chan string
}

func newPumpServer(t *testing.T) *pumpServer {
	ps := &pumpServer{toClient: make(chan string, 16)}
	ps.addr = rawServer(t, func(c net.Conn) {
		done := make(chan struct{})
		defer close(done)
		go func() {
			for {
				select {
				case s := <-ps.toClient:
					io.WriteString(c, s)
				case <-done:
					return
				}
			}
		}()
		b := make([]byte, 4096)
		headerDone := false
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		for {
			n, err := c.Read(b)
			ps.mu.Lock()
			ps.got.Write(b[:n])
			all := ps.got.String()
			ps.mu.Unlock()
			if !headerDone && strings.Contains(all, "version='1.0'>") {
				headerDone = true
				io.WriteString(c, serverHeader+plainFeatures)
			}
			if err != nil || strings.HasSuffix(all, "</stream:stream>") {
				return
			}
		}
	})
	return ps
}

func (ps *pumpServer) received() string {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.got.String()
}

// waitGot waits until the server received sub.
func (ps *pumpServer) waitGot(t *testing.T, sub string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(ps.received(), sub) {
		if time.Now().After(deadline) {
			t.Fatalf("upstream did not get %q; got %q", sub, ps.received())
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitHeld waits until n stanzas are held and returns them.
func waitHeld(t *testing.T, c *Control, n int) []Held {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		h := c.Held()
		if len(h) == n {
			return h
		}
		if time.Now().After(deadline) {
			t.Fatalf("want %d held stanzas, have %v", n, h)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestIntercept(t *testing.T) {
	ps := newPumpServer(t)
	tp := startProxy(t, Config{Upstream: ps.addr}, false)
	ctl := tp.p.Control()
	if _, err := ctl.AddBreakpoint("name message and ("); err == nil {
		t.Fatal("a broken filter was accepted as a breakpoint")
	}
	bp, err := ctl.AddBreakpoint("name message and dir c2s")
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, tp.addr)
	io.WriteString(c, clientHeader)
	readUntil(t, c, "</stream:features>")
	io.WriteString(c, "<message id='m1'><body>hi</body></message><iq type='get' id='q1'/>")
	h := waitHeld(t, ctl, 1)[0]
	if h.Stanza != "<message id='m1'><body>hi</body></message>" || h.Dir != "c2s" || h.Breakpoint != bp.ID || h.Conn != 1 {
		t.Fatalf("held %+v", h)
	}
	// The other direction goes on while this one waits.
	ps.toClient <- "<presence id='p1'/>"
	readUntil(t, c, "<presence id='p1'/>")
	if got := ps.received(); strings.Contains(got, "m1") || strings.Contains(got, "q1") {
		t.Fatalf("upstream got held bytes: %q", got)
	}
	// A bad edit is refused with the parser's error and the stanza stays held.
	for _, bad := range []string{"<message><body>unclosed</message>", "<message/><message/>", "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>", " <message/>"} {
		err := ctl.Decide(h.ID, Decision{Action: Edit, By: ByWeb, Stanza: []byte(bad)})
		if !errors.Is(err, ErrInvalid) {
			t.Fatalf("edit %q: %v, want ErrInvalid", bad, err)
		}
	}
	if err := ctl.Decide(h.ID, Decision{Action: Release, By: "someone"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("decision by an unknown surface: %v", err)
	}
	waitHeld(t, ctl, 1)
	edited := "<message id='m1'><body>edited</body></message>"
	if err := ctl.Decide(h.ID, Decision{Action: Edit, By: ByWeb, Stanza: []byte(edited)}); err != nil {
		t.Fatal(err)
	}
	if err := ctl.Decide(h.ID, Decision{Action: Release, By: ByWeb}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second decision: %v, want ErrNotFound", err)
	}
	ps.waitGot(t, edited+"<iq type='get' id='q1'/>")

	// Drop, reject, release.
	io.WriteString(c, "<message id='m2'/>")
	h = waitHeld(t, ctl, 1)[0]
	if err := ctl.Decide(h.ID, Decision{Action: Drop, By: ByCtl}); err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "<message id='m3' from='a@localhost/r' to='b@localhost'/>")
	h = waitHeld(t, ctl, 1)[0]
	if err := ctl.Decide(h.ID, Decision{Action: Reject, By: ByAPI, Condition: "no-such-thing"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("reject with a bad condition: %v", err)
	}
	if err := ctl.Decide(h.ID, Decision{Action: Reject, By: ByAPI, Condition: inspect.CondNotAllowed, Text: "not now"}); err != nil {
		t.Fatal(err)
	}
	readUntil(t, c, "<message id='m3' type='error' from='b@localhost' to='a@localhost/r'><error code='405' type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>not now</text></error></message>")
	io.WriteString(c, "<message id='m4'/>")
	h = waitHeld(t, ctl, 1)[0]
	if err := ctl.Decide(h.ID, Decision{Action: Release, By: ByCtl}); err != nil {
		t.Fatal(err)
	}
	ps.waitGot(t, "<message id='m4'/>")

	// Send, both ways; refused when not one stanza or no such connection.
	if err := ctl.Send(1, inspect.ServerToClient, []byte("<message id='to-client'/>"), ByCtl); err != nil {
		t.Fatal(err)
	}
	readUntil(t, c, "<message id='to-client'/>")
	if err := ctl.Send(1, inspect.ClientToServer, []byte("<presence id='to-server'/>"), ByWeb); err != nil {
		t.Fatal(err)
	}
	ps.waitGot(t, "<presence id='to-server'/>")
	if err := ctl.Send(1, inspect.ClientToServer, []byte("<presence>"), ByWeb); !errors.Is(err, ErrInvalid) {
		t.Fatalf("send of a broken stanza: %v", err)
	}
	if err := ctl.Send(9, inspect.ClientToServer, []byte("<presence/>"), ByWeb); !errors.Is(err, ErrNotFound) {
		t.Fatalf("send to no connection: %v", err)
	}
	if cs := ctl.Conns(); len(cs) != 1 || cs[0].ID != 1 || cs[0].Busy != "" {
		t.Fatalf("conns %+v", cs)
	}
	if bps := ctl.Breakpoints(); len(bps) != 1 || bps[0].Hits != 4 {
		t.Fatalf("breakpoints %+v", bps)
	}
	if err := ctl.RemoveBreakpoint(bp.ID); err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "<message id='m5'/></stream:stream>")
	readAll(t, c)
	tp.stop()
	want := clientHeader + edited + "<iq type='get' id='q1'/><message id='m4'/><presence id='to-server'/><message id='m5'/></stream:stream>"
	if got := ps.received(); got != want {
		t.Fatalf("upstream got\n%s\nwant\n%s", got, want)
	}
	var log []string
	for _, r := range tp.sink.all() {
		switch {
		case r.Kind == inspect.KindStanza && r.Dir == inspect.ClientToServer:
			s := r.Attr("id") + ":" + string(r.Verdict) + ":" + r.Producer().String()
			if r.Original() != nil {
				s += ":was " + string(r.Original())
			}
			log = append(log, s)
		case r.Kind == inspect.KindNote && r.Origin == inspect.OriginProxy:
			log = append(log, "note: "+r.Note())
		}
	}
	got := strings.Join(log, "\n")
	for _, w := range []string{
		"note: held stanza 1 (breakpoint 1: name message and dir c2s): the client's stream waits for a decision (released unchanged after 5m0s)",
		"note: held stanza 1 edited and released by web (the record shows the original and the edit)\nm1::client:was <message id='m1'><body>hi</body></message>\nq1::client",
		"note: held stanza 2 dropped by ctl\nm2:dropped:client",
		"note: held stanza 3 rejected by api with not-allowed\nm3:rejected:client",
		"note: held stanza 4 released by ctl\nm4::client",
		"to-server:injected:proxy\nnote: the stanza above was sent to the server by web",
		"m5::client",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("records lack\n%s\nin\n%s", w, got)
		}
	}
}

// TestInterceptTimeoutAndMaxHeld: a hold nobody decides is released unchanged after the
// hold timeout; what arrives behind a held stanza is read up to --max-held, then the pipe
// stops reading, and everything goes on in order after the decision.
func TestInterceptTimeoutAndMaxHeld(t *testing.T) {
	ps := newPumpServer(t)
	tp := startProxy(t, Config{Upstream: ps.addr, HoldTimeout: 300 * time.Millisecond, MaxHeld: 2048}, false)
	ctl := tp.p.Control()
	if _, err := ctl.AddBreakpoint("name message and xpath '//body[.=\"stop\"]'"); err != nil {
		t.Fatal(err)
	}
	c := dial(t, tp.addr)
	io.WriteString(c, clientHeader)
	readUntil(t, c, "</stream:features>")
	var want strings.Builder
	want.WriteString("<message id='first'><body>stop</body></message>")
	for i := range 200 {
		want.WriteString("<message id='x" + string(rune('a'+i%26)) + "'><body>behind</body></message>")
	}
	go io.WriteString(c, want.String())
	tp.sink.waitNote(t, "(--max-held 2048): the proxy stops reading from the client until the held stanza is decided (TCP backpressure)")
	tp.sink.waitNote(t, "released unchanged: nobody decided within 300ms (hold timeout)")
	ps.waitGot(t, want.String())
	if got := ps.received(); got != clientHeader+want.String() {
		t.Fatalf("upstream got %q", got)
	}
}

// TestSendBusy: nothing is sent into a connection during SASL.
func TestSendBusy(t *testing.T) {
	ps := newPumpServer(t)
	tp := startProxy(t, Config{Upstream: ps.addr}, false)
	ctl := tp.p.Control()
	c := dial(t, tp.addr)
	io.WriteString(c, clientHeader)
	readUntil(t, c, "</stream:features>")
	io.WriteString(c, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>")
	ps.waitGot(t, "</auth>")
	err := ctl.Send(1, inspect.ServerToClient, []byte("<message/>"), ByAPI)
	if !errors.Is(err, ErrBusy) || !strings.Contains(err.Error(), "SASL") {
		t.Fatalf("send during SASL: %v", err)
	}
	if cs := ctl.Conns(); len(cs) != 1 || cs[0].Busy != "SASL negotiation in progress" {
		t.Fatalf("conns %+v", cs)
	}
	ps.toClient <- "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>"
	readUntil(t, c, "</failure>")
	deadline := time.Now().Add(5 * time.Second)
	for ctl.Send(1, inspect.ServerToClient, []byte("<message id='after'/>"), ByAPI) != nil {
		if time.Now().After(deadline) {
			t.Fatal("send still refused after SASL ended")
		}
		time.Sleep(2 * time.Millisecond)
	}
	readUntil(t, c, "<message id='after'/>")
}

// TestInterceptConnectionEnds: a held stanza of a connection that ends is recorded as not
// delivered and leaves the list.
func TestInterceptConnectionEnds(t *testing.T) {
	ps := newPumpServer(t)
	tp := startProxy(t, Config{Upstream: ps.addr}, false)
	ctl := tp.p.Control()
	if _, err := ctl.AddBreakpoint("dir c2s"); err != nil {
		t.Fatal(err)
	}
	c := dial(t, tp.addr)
	io.WriteString(c, clientHeader)
	readUntil(t, c, "</stream:features>")
	io.WriteString(c, "<presence id='p'/>")
	waitHeld(t, ctl, 1)
	tp.stop()
	if h := ctl.Held(); len(h) != 0 {
		t.Fatalf("still held after the end: %+v", h)
	}
	for _, r := range tp.sink.all() {
		if r.Kind == inspect.KindStanza && r.Attr("id") == "p" {
			if r.Verdict != inspect.Dropped {
				t.Fatalf("held presence recorded as %q", r.Verdict)
			}
			return
		}
	}
	t.Fatal("the held presence has no record")
}

// TestInterceptServerSideAndSASL: a stanza from the server is held while the client's direction
// goes on; a held stanza followed by SASL: the pipe reads ahead only up to <auth/>, and
// after the release the SASL success restarts the streams as usual, the reader's helper
// included.
func TestInterceptServerSideAndSASL(t *testing.T) {
	ps := newPumpServer(t)
	tp := startProxy(t, Config{Upstream: ps.addr}, false)
	ctl := tp.p.Control()
	if _, err := ctl.AddBreakpoint("name message"); err != nil {
		t.Fatal(err)
	}
	c := dial(t, tp.addr)
	io.WriteString(c, clientHeader)
	readUntil(t, c, "</stream:features>")
	ps.toClient <- "<message id='from-server'/>"
	h := waitHeld(t, ctl, 1)[0]
	if h.Dir != "s2c" {
		t.Fatalf("held %+v", h)
	}
	io.WriteString(c, "<presence id='goes-on'/>")
	ps.waitGot(t, "<presence id='goes-on'/>")
	if err := ctl.Decide(h.ID, Decision{Action: Release, By: ByAPI}); err != nil {
		t.Fatal(err)
	}
	readUntil(t, c, "<message id='from-server'/>")

	// A message held before SASL, the <auth/> behind it in the same write.
	io.WriteString(c, "<message id='before-auth'/><auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>")
	h = waitHeld(t, ctl, 1)[0]
	if got := ps.received(); strings.Contains(got, "before-auth") || strings.Contains(got, "<auth") {
		t.Fatalf("upstream got held bytes: %q", got)
	}
	if err := ctl.Decide(h.ID, Decision{Action: Release, By: ByAPI}); err != nil {
		t.Fatal(err)
	}
	ps.waitGot(t, "<message id='before-auth'/><auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>")
	ps.toClient <- "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
	readUntil(t, c, "<success")
	io.WriteString(c, clientHeader)
	ps.waitGot(t, "</auth>"+clientHeader)
	ps.toClient <- serverHeader + "<stream:features/>"
	readUntil(t, c, "<stream:features/>")
	io.WriteString(c, "<message id='after-auth'/>")
	h = waitHeld(t, ctl, 1)[0]
	if err := ctl.Decide(h.ID, Decision{Action: Drop, By: ByAPI}); err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "<presence id='last'/>")
	ps.waitGot(t, clientHeader+"<presence id='last'/>")
}

// TestBreakpointOnBoundJID: a breakpoint on the bound JID holds what the client sends
// without a 'from' once the server's bind result has named it, and nothing before.
func TestBreakpointOnBoundJID(t *testing.T) {
	ps := newPumpServer(t)
	tp := startProxy(t, Config{Upstream: ps.addr}, false)
	ctl := tp.p.Control()
	if _, err := ctl.AddBreakpoint("bound alice@localhost and name presence"); err != nil {
		t.Fatal(err)
	}
	c := dial(t, tp.addr)
	io.WriteString(c, clientHeader)
	readUntil(t, c, "</stream:features>")
	io.WriteString(c, "<presence id='unbound'/>")
	ps.waitGot(t, "<presence id='unbound'/>")
	io.WriteString(c, "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
	ps.waitGot(t, "id='b1'")
	ps.toClient <- "<iq type='result' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>alice@localhost/r</jid></bind></iq>"
	readUntil(t, c, "</iq>")
	io.WriteString(c, "<presence id='bound'/>")
	h := waitHeld(t, ctl, 1)[0]
	if !strings.Contains(h.Stanza, "id='bound'") {
		t.Fatalf("held %+v", h)
	}
	if conns := ctl.Conns(); len(conns) != 1 || conns[0].Bound != "alice@localhost/r" {
		t.Fatalf("connections %+v", conns)
	}
	if err := ctl.Decide(h.ID, Decision{Action: Release, By: ByAPI}); err != nil {
		t.Fatal(err)
	}
	ps.waitGot(t, "<presence id='bound'/>")
}
