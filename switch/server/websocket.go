package server

import (
	"bytes"
	"context"
	"net/http"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/inspect/wsconn"
)

// XMPP over WebSocket (RFC 7395) as a transport of the switch's own. A WebSocket client's
// session is the TCP one: the same reader, negotiation, limits, outbox and routing. Only the
// framing differs, and it is translated at the transport with inspect's RFC 7395 code, the
// one the proxy uses: each frame the client sends is checked to be one element and turned
// into the TCP form the session reads (inspect.FrameParser.StreamOfFrame: <open/> into a
// stream header, <close/> into the closing tag), and each item the session's writer writes
// (one item per write on a WebSocket: no coalescing) becomes one frame
// (inspect.FrameOfStream: our header into <open/>, our closing tag into <close/>, an
// element with the namespaces it took from our header declared on it). STARTTLS is not
// offered (a browser cannot do it): the session is TLS when the page came over https.

// WebSocketProtocol is the WebSocket subprotocol of XMPP (RFC 7395 section 3.1).
const WebSocketProtocol = wsconn.Protocol

// WebSocketHandler serves XMPP clients over WebSocket as sessions of the server (see
// Server.WebSocketHandler). Its Wait refuses new clients and waits until the sessions have
// ended: call it after Serve returned (which ended them), before closing the store.
type WebSocketHandler = wsconn.Handler

// WebSocketHandler returns the HTTP handler that accepts XMPP clients over WebSocket (RFC
// 7395) and serves each as a session of s, under s's limits (per address, stanza size,
// login and idle timeouts, outbox). Mount it at /xmpp-websocket of an HTTP server; a
// request over https is a TLS session. ctx is the sessions' context: when it ends, new
// clients are refused (Serve's shutdown ends the running sessions with system-shutdown,
// as the TCP ones). origins are extra origin host patterns allowed to open the WebSocket
// (the page's own origin always is), so that a page elsewhere cannot use a browser to
// reach the server. Wait waits for the sessions.
func (s *Server) WebSocketHandler(ctx context.Context, origins ...string) *WebSocketHandler {
	return wsconn.NewHandler(ctx, inspect.Limits{MaxStanza: s.cfg.Limits.MaxStanza}, "the switch is stopping", func(wc *wsconn.Conn, r *http.Request) {
		nc := &wsConn{Conn: wc}
		c := s.newConn(nc)
		// A write that times out gets the grace a TCP one gets (stall.go): if the client
		// takes it then, its stream ends with a stream error and <close/> (endStalled).
		wc.SetStallGrace(c.grace(), func() {
			s.logf("switch: conn %d: the WebSocket client stopped reading (a write took longer than %v); it has %v to take it", c.info.ID, s.cfg.WriteTimeout, c.grace())
		})
		c.ws = nc
		c.info.Transport = inspect.TransportWebSocket
		c.tls = r.TLS != nil // the page's TLS; no STARTTLS over WebSocket
		// Tracked and counted in the Server's wait group at once, under connMu (as Serve's
		// shutdown reads them): a shutdown then either kicks this session and waits for
		// it, or comes first and the client is refused; the count never starts during the
		// wait.
		s.connMu.Lock()
		if s.closing {
			s.connMu.Unlock()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1) // until c.done, which untracks it too
		s.connMu.Unlock()
		c.serve(ctx) // the whole session: a WebSocket session is never parked (park.go)
	}, origins...)
}

// wsConn is the connection of a WebSocket client as the session reads and writes it: Read
// returns the TCP form of the frames the client sent (wsconn.Conn), each Write turns one
// item of the session's outbox, in the TCP form, into one frame.
type wsConn struct {
	*wsconn.Conn

	// Owned by the writer.
	hdr  *inspect.Header // our header as last written
	wbuf []byte          // the frame being written, reused
}

// maxKeptBuf bounds the write buffer kept for the next frame: most stanzas are smaller,
// and an idle session should not keep a large one.
const maxKeptBuf = 4 << 10

// Write sends b, one item of the session's outbox in the TCP form, as one frame.
// Whitespace alone sends nothing: frames hold elements only.
func (c *wsConn) Write(b []byte) (int, error) {
	f, h := inspect.AppendFrameOfStream(c.wbuf[:0], b, c.hdr)
	c.hdr = h
	if cap(f) <= maxKeptBuf {
		c.wbuf = f // coder/websocket has copied it when Write returns
	}
	if n, err := c.Conn.Write(f); err != nil {
		if n == len(f) {
			// The frame went, late (in its stall grace): to the stall guard a timeout
			// with all written, so that nothing is written twice.
			return len(b), err
		}
		return 0, err
	}
	return len(b), nil
}

// recordIn gives the record of a stream header or closing tag the client sent the
// <open/> or <close/> frame it came as (Original: what the client sent).
func (c *wsConn) recordIn(r *inspect.Record) {
	if r.Kind == inspect.KindStreamOpen || r.Kind == inspect.KindStreamClose {
		r.SetOriginal(c.TakeSpecial())
	}
}

// recordOut makes the record of what the session wrote say what the client got: the
// frame as Raw, the TCP form the session wrote as Original when they differ.
func recordOut(r *inspect.Record) {
	f, _ := inspect.FrameOfStream(r.Raw, r.Header)
	if f != nil && !bytes.Equal(f, r.Raw) {
		r.SetOriginal(r.Raw)
		r.Raw = f
	}
}
