package proxy

import (
	"bytes"
	"context"
	"net/http"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/inspect/wsconn"
)

// XMPP over WebSocket (RFC 7395). A browser's WebSocket is one more kind of client leg: the
// session, the negotiator, the rules and the records are the TCP ones. The client leg is a
// wsconn.Conn, a net.Conn that turns each frame the client sends into the TCP form of the
// stream (<open/> into a stream header, <close/> into the closing tag, an element as it
// is), and the side toward the client turns what it writes back into frames
// (inspect.FrameOfStream), one WebSocket message per element. The upstream leg is an
// ordinary TCP stream, so any server (the embedded switch, Prosody) can be reached; the
// proxy negotiates STARTTLS with it itself, as for a Direct TLS client, because a
// WebSocket client cannot. Records keep both forms where they differ: Raw is what the
// receiver got, Original what the sender sent.

// WebSocketProtocol is the WebSocket subprotocol of XMPP (RFC 7395 section 3.1).
const WebSocketProtocol = wsconn.Protocol

// WebSocketPath is where the web server serves XMPP over WebSocket.
const WebSocketPath = "/xmpp-websocket"

// WebSocketHandler serves XMPP over WebSocket (see Proxy.WebSocketHandler). Its Wait
// refuses new clients and waits until the sessions have ended (after the handler's context
// ended): a caller closes its outputs after Wait, so that no record of a session is lost.
type WebSocketHandler = wsconn.Handler

// WebSocketHandler returns the HTTP handler that accepts XMPP clients over WebSocket and
// proxies each one like a TCP client. Its sessions end, with closing tags, when ctx ends;
// Wait waits for them. origins are extra origin host patterns allowed to open the
// WebSocket (the page's own origin always is); browsers on other sites are refused, so a
// page elsewhere cannot use a student's browser to reach the server.
func (p *Proxy) WebSocketHandler(ctx context.Context, origins ...string) *WebSocketHandler {
	return wsconn.NewHandler(ctx, p.cfg.Limits, "stanzascope is stopping", func(nc *wsconn.Conn, r *http.Request) {
		s := p.newSession(nc, false)
		s.ws = nc
		s.client.ws = &wsFramer{}
		s.neg = newWSNegotiator(p.cfg.CA != nil, p.cfg.AllowPlaintextUpstream, r.TLS != nil)
		p.cfg.Stats.opened(false)
		defer func() { p.cfg.Stats.closed(false, s.client.isTLS()) }()
		s.run(ctx)
	}, origins...)
}

// wsFramer is the side toward a WebSocket client: it remembers the stream header it
// wrote, whose namespaces each frame must declare.
type wsFramer struct{ hdr *inspect.Header }

// writeFrame writes b, bytes in the TCP form of the stream, as one frame, and records it
// with the frame as Raw (what the client got) and, when they differ, b as Original.
// Whitespace is not sent: RFC 7395 frames hold elements only. s.mu must be held.
func (s *side) writeFrame(b []byte, r *inspect.Record) error {
	if s.over {
		s.settle(r, errStreamOver)
		return nil
	}
	f, h := inspect.FrameOfStream(b, s.ws.hdr)
	s.ws.hdr = h
	if f == nil {
		if r != nil && s.emit != nil {
			r.Verdict = inspect.Dropped
			r.SetNote("whitespace is not sent over WebSocket: RFC 7395 frames hold one element each")
			s.emit(r)
		}
		return nil
	}
	if r != nil && !bytes.Equal(f, r.Raw) {
		if r.Original() == nil {
			r.SetOriginal(r.Raw)
		}
		r.Raw = f
	}
	return s.transmitOneLocked(f, r)
}

// newWSNegotiator is the negotiator of a WebSocket client: like a Direct TLS client's (the
// proxy does STARTTLS with the upstream itself and the client never sees it offered), but
// the client leg is TLS only when the page came over https (secure).
func newWSNegotiator(hasCA, allowPlain, secure bool) *negotiator {
	n := newNegotiator(true, hasCA, allowPlain)
	n.ws, n.clientTLS = true, secure
	return n
}
