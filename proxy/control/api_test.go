package control

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect/web"
	"github.com/stanzascope/stanzascope/proxy"
)

const (
	clientHeader = "<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
	serverHeader = "<?xml version='1.0'?><stream:stream from='localhost' id='s1' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
	features     = "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>"
	token        = "s3cret-token"
)

// upstream is a server written by hand: it answers the header with features and keeps
// what it receives.
type upstream struct {
	mu  sync.Mutex
	got bytes.Buffer
}

func (u *upstream) received() string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.got.String()
}

func startUpstream(t *testing.T) (*upstream, string) {
	u := &upstream{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				b := make([]byte, 4096)
				sent := false
				for {
					n, err := c.Read(b)
					u.mu.Lock()
					u.got.Write(b[:n])
					all := u.got.String()
					u.mu.Unlock()
					if !sent && strings.Contains(all, "version='1.0'>") {
						sent = true
						io.WriteString(c, serverHeader+features)
					}
					if err != nil || strings.HasSuffix(all, "</stream:stream>") {
						io.WriteString(c, "</stream:stream>")
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return u, ln.Addr().String()
}

// startAPI runs a proxy in front of a hand-written upstream and the web view's handler
// with the control API mounted (control false: not mounted, as without --control).
func startAPI(t *testing.T, control bool) (base string, up *upstream, proxyAddr string) {
	up, upAddr := startUpstream(t)
	p, err := proxy.New(proxy.Config{Upstream: upAddr, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	opt := web.HandlerOptions{Token: token}
	if control {
		opt.Extra = Handlers(p.Control())
	}
	hub := web.NewHub(web.Options{})
	srv := httptest.NewServer(web.NewHandler(hub, opt))
	t.Cleanup(func() { hub.Close(); srv.Close() })
	return srv.URL, up, ln.Addr().String()
}

// routeRequest makes a request for a route pattern, with ids filled in.
func routeRequest(t *testing.T, base, pattern string) *http.Request {
	method, path, _ := strings.Cut(pattern, " ")
	path = strings.NewReplacer("{id}", "1", "{action}", "release").Replace(path)
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(`{}`)
	}
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	return req
}

// TestAPIGuarded: every route needs the token (401 without it or with a wrong one), and
// without --control every route is 404.
func TestAPIGuarded(t *testing.T) {
	routes := Routes()
	if len(routes) != 8 {
		t.Fatalf("routes %v", routes)
	}
	on, _, _ := startAPI(t, true)
	off, _, _ := startAPI(t, false)
	for _, pattern := range routes {
		for _, tc := range []struct {
			name, base, auth string
			want             int
		}{
			{"no token", on, "", http.StatusUnauthorized},
			{"wrong token", on, "Bearer not-the-token", http.StatusUnauthorized},
			{"off, no token", off, "", http.StatusUnauthorized},
			{"off", off, "Bearer " + token, http.StatusNotFound},
		} {
			req := routeRequest(t, tc.base, pattern)
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("%s, %s: %d, want %d", pattern, tc.name, resp.StatusCode, tc.want)
			}
		}
	}
}

func TestAPI(t *testing.T) {
	base, up, proxyAddr := startAPI(t, true)
	cl := &Client{Base: base, Token: token}
	ctx := context.Background()
	var apiErr *Error

	err := cl.Do(ctx, "POST", "/api/breakpoints", BreakpointRequest{Filter: "name message and ("}, nil)
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest || !strings.Contains(apiErr.Msg, "column") {
		t.Fatalf("a broken filter: %v", err)
	}
	var bp proxy.Breakpoint
	if err := cl.Do(ctx, "POST", "/api/breakpoints", BreakpointRequest{Filter: "name message and dir c2s"}, &bp); err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", proxyAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, clientHeader)
	readUntil(t, c, "</stream:features>")
	io.WriteString(c, "<message id='m1'><body>hi</body></message>")
	var held HeldAnswer
	for deadline := time.Now().Add(5 * time.Second); len(held.Held) == 0; {
		if time.Now().After(deadline) {
			t.Fatal("nothing held")
		}
		if err := cl.Do(ctx, "GET", "/api/held", nil, &held); err != nil {
			t.Fatal(err)
		}
	}
	h := held.Held[0]
	if h.Stanza != "<message id='m1'><body>hi</body></message>" || h.Breakpoint != bp.ID {
		t.Fatalf("held %+v", h)
	}
	err = cl.Do(ctx, "POST", "/api/held/1/edit", DecisionRequest{By: "ctl", Stanza: "<message><body>x</message>"}, nil)
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest || !strings.Contains(apiErr.Msg, "not-well-formed") {
		t.Fatalf("a bad edit: %v", err)
	}
	err = cl.Do(ctx, "POST", "/api/held/1/explode", DecisionRequest{}, nil)
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest {
		t.Fatalf("an unknown action: %v", err)
	}
	// A POST without a JSON content type, or from another site, is refused.
	for _, hdr := range []map[string]string{{"Content-Type": "text/plain"}, {"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}} {
		req, _ := http.NewRequest("POST", base+"/api/held/1/release", strings.NewReader("{}"))
		req.Header.Set("Authorization", "Bearer "+token)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnsupportedMediaType && resp.StatusCode != http.StatusForbidden {
			t.Fatalf("%v: %d", hdr, resp.StatusCode)
		}
	}
	err = cl.Do(ctx, "POST", "/api/held/1/edit", DecisionRequest{Stanza: strings.Repeat("x", maxBody)}, nil)
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("an edit over the body limit: %v", err)
	}
	edited := "<message id='m1'><body>edited</body></message>"
	if err := cl.Do(ctx, "POST", "/api/held/1/edit", DecisionRequest{By: "ctl", Stanza: edited}, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(up.received(), edited) })
	err = cl.Do(ctx, "POST", "/api/held/1/release", nil, nil)
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
		t.Fatalf("a decided stanza: %v", err)
	}

	var conns ConnsAnswer
	if err := cl.Do(ctx, "GET", "/api/conns", nil, &conns); err != nil || len(conns.Conns) != 1 {
		t.Fatalf("conns %+v, %v", conns, err)
	}
	id := conns.Conns[0].ID
	if err := cl.Do(ctx, "POST", "/api/conns/1/send", SendRequest{To: "client", Stanza: "<message id='hello'/>"}, nil); err != nil || id != 1 {
		t.Fatalf("send: %v (conn %d)", err, id)
	}
	readUntil(t, c, "<message id='hello'/>")
	for _, tc := range []struct {
		path string
		req  SendRequest
		want int
	}{
		{"/api/conns/9/send", SendRequest{To: "client", Stanza: "<message/>"}, http.StatusNotFound},
		{"/api/conns/1/send", SendRequest{To: "moon", Stanza: "<message/>"}, http.StatusBadRequest},
		{"/api/conns/1/send", SendRequest{To: "server", Stanza: "<message/><message/>"}, http.StatusBadRequest},
		{"/api/conns/x/send", SendRequest{To: "server", Stanza: "<message/>"}, http.StatusBadRequest},
	} {
		err := cl.Do(ctx, "POST", tc.path, tc.req, nil)
		if !errors.As(err, &apiErr) || apiErr.Status != tc.want {
			t.Errorf("%s %+v: %v, want %d", tc.path, tc.req, err, tc.want)
		}
	}
	var bps BreakpointsAnswer
	if err := cl.Do(ctx, "GET", "/api/breakpoints", nil, &bps); err != nil || len(bps.Breakpoints) != 1 || bps.Breakpoints[0].Hits != 1 {
		t.Fatalf("breakpoints %+v, %v", bps, err)
	}
	if err := cl.Do(ctx, "DELETE", "/api/breakpoints/1", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := cl.Do(ctx, "DELETE", "/api/breakpoints/1", nil, nil); !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
		t.Fatalf("removing twice: %v", err)
	}
	if err := cl.Do(ctx, "DELETE", "/api/breakpoints", nil, nil); err != nil {
		t.Fatal(err)
	}
}

func readUntil(t *testing.T, c net.Conn, sub string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	var buf bytes.Buffer
	b := make([]byte, 4096)
	for !strings.Contains(buf.String(), sub) {
		n, err := c.Read(b)
		buf.Write(b[:n])
		if err != nil {
			t.Fatalf("reading until %q: %v; got %q", sub, err, buf.String())
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5 s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}
