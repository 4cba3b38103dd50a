package wsconn

import (
	"context"
	"net/http"
	"sync"

	"github.com/coder/websocket"

	"github.com/stanzascope/stanzascope/inspect"
)

// Protocol is the WebSocket subprotocol of XMPP (RFC 7395 section 3.1).
const Protocol = "xmpp"

// Handler is the HTTP handler that accepts XMPP clients over WebSocket: it agrees on the
// xmpp subprotocol, refuses origins it was not given, and hands each client as a Conn to
// the serving function, whose sessions Wait waits for.
type Handler struct {
	ctx      context.Context
	origins  []string
	lim      inspect.Limits
	stopping string
	serve    func(c *Conn, r *http.Request)

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// NewHandler returns a Handler that serves each client with serve, in the request's
// goroutine, and then closes its Conn with the close handshake. Once ctx has ended (or Wait
// was called) new clients are refused with 503 and the text stopping. lim bounds each
// client's messages (New). origins are extra origin host patterns allowed to open the
// WebSocket (the page's own origin always is), so that a page elsewhere cannot use a
// browser to reach the server.
func NewHandler(ctx context.Context, lim inspect.Limits, stopping string, serve func(c *Conn, r *http.Request), origins ...string) *Handler {
	return &Handler{ctx: ctx, origins: origins, lim: lim, stopping: stopping, serve: serve}
}

// Wait refuses new clients and waits until the sessions being served have ended.
func (h *Handler) Wait() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.wg.Wait()
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	if h.closed || h.ctx.Err() != nil {
		h.mu.Unlock()
		http.Error(w, h.stopping, http.StatusServiceUnavailable)
		return
	}
	h.wg.Add(1)
	h.mu.Unlock()
	defer h.wg.Done()
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{Protocol}, OriginPatterns: h.origins})
	if err != nil {
		return // Accept answered the request with the error
	}
	if ws.Subprotocol() != Protocol {
		ws.Close(websocket.StatusPolicyViolation, "the xmpp subprotocol is required (RFC 7395 section 3.1)")
		return
	}
	c := New(ws, r, h.lim)
	h.serve(c, r)
	c.Close()
	<-c.Done() // the close handshake is over (or timed out)
}
