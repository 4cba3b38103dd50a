package main

import (
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/stanzascope/stanzascope/proxy"
)

// xmppWeb is what the proxy's web server serves to XMPP clients, beside the web view and
// outside its token (like the XMPP port, these are for every student, not the teacher's
// view): XMPP over WebSocket at /xmpp-websocket (RFC 7395), its discovery at
// /.well-known/host-meta (XEP-0156, XML and JSON), and the /console page. The WebSocket
// handler is set once the proxy exists; until then the path answers 503.
type xmppWeb struct {
	ws      atomic.Pointer[http.Handler]
	console http.Handler // nil: no /console
	// loopbackOnly: the web server has no token, so it serves this machine only; a Host
	// that is not a loopback name is a DNS rebinding attempt and is refused, as the web
	// view refuses it.
	loopbackOnly bool
	secure       bool   // served over https: announced as https:// and wss://
	who          string // the program that announces ("stanzascope" when empty)
}

// nsAltWebSocket is XEP-0156's link relation of an RFC 7395 endpoint.
const nsAltWebSocket = "urn:xmpp:alt-connections:websocket"

// setWebSocket serves h at /xmpp-websocket from now on.
func (x *xmppWeb) setWebSocket(h http.Handler) { x.ws.Store(&h) }

// wrap returns a handler serving x's paths and view for everything else.
func (x *xmppWeb) wrap(view http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", view)
	mux.HandleFunc("GET "+proxy.WebSocketPath, func(w http.ResponseWriter, r *http.Request) {
		h := x.ws.Load()
		if h == nil {
			http.Error(w, "XMPP over WebSocket is not ready yet", http.StatusServiceUnavailable)
			return
		}
		(*h).ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /.well-known/host-meta", x.hostMeta)
	mux.HandleFunc("GET /.well-known/host-meta.json", x.hostMeta)
	if x.console != nil {
		mux.Handle("GET /console", x.console)
		mux.Handle("GET /console/", x.console)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if x.loopbackOnly && x.public(r.URL.Path) {
			host, _, err := net.SplitHostPort(r.Host)
			if err != nil {
				host = r.Host
			}
			if !loopbackName(host) {
				http.Error(w, "this server answers on loopback names only (start it with --web-token to serve other machines)", http.StatusForbidden)
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}

// announce prints where browsers connect (no token: these paths need none).
func (x *xmppWeb) announce(a *net.TCPAddr, logf func(string, ...any)) {
	host := a.IP.String()
	if a.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	base := net.JoinHostPort(host, strconv.Itoa(a.Port))
	who, http, ws := x.who, "http", "ws"
	if who == "" {
		who = "stanzascope"
	}
	if x.secure {
		http, ws = "https", "wss"
	}
	if x.console != nil {
		logf("%s: XMPP console for browsers on %s://%s/console (XMPP over WebSocket at %s://%s%s)", who, http, base, ws, base, proxy.WebSocketPath)
		return
	}
	logf("%s: XMPP over WebSocket at %s://%s%s", who, ws, base, proxy.WebSocketPath)
}

// public reports whether path is one of x's (the rest is the web view, with its own guard).
func (x *xmppWeb) public(path string) bool {
	return path == proxy.WebSocketPath || strings.HasPrefix(path, "/.well-known/host-meta") ||
		(x.console != nil && (path == "/console" || strings.HasPrefix(path, "/console/")))
}

// hostMeta answers XEP-0156 discovery: where the WebSocket endpoint is, on the address the
// client used (ws:// or wss:// as the request came).
func (x *xmppWeb) hostMeta(w http.ResponseWriter, r *http.Request) {
	scheme := "ws"
	if r.TLS != nil {
		scheme = "wss"
	}
	href := scheme + "://" + r.Host + proxy.WebSocketPath
	w.Header().Set("Access-Control-Allow-Origin", "*") // XEP-0156 section 3.2.2: clients on other origins read it
	if strings.HasSuffix(r.URL.Path, ".json") {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"links": []map[string]string{{"rel": nsAltWebSocket, "href": href}}})
		return
	}
	w.Header().Set("Content-Type", "application/xrd+xml")
	var b strings.Builder
	b.WriteString("<?xml version='1.0' encoding='utf-8'?>\n<XRD xmlns='http://docs.oasis-open.org/ns/xri/xrd-1.0'>\n  <Link rel='" + nsAltWebSocket + "' href='")
	b.WriteString(xmlAttrEscape(href))
	b.WriteString("'/>\n</XRD>\n")
	w.Write([]byte(b.String()))
}

func xmlAttrEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", "'", "&apos;", "\"", "&quot;").Replace(s)
}
