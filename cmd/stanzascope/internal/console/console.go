// Package console serves /console: an XML console client in the browser (plain HTML and
// JavaScript, embedded), so that a class needs nothing installed. It speaks XMPP over
// WebSocket (RFC 7395) to the same web server's /xmpp-websocket: register (XEP-0077), log
// in (SCRAM-SHA-256 or SCRAM-SHA-1 with WebCrypto; PLAIN only when the page came over
// https or from this machine), bind, and a composer with the textbook session's steps;
// every frame is shown as it goes.
package console

import (
	"embed"
	"net/http"
)

//go:embed static
var static embed.FS

// Handler serves the page at /console (and /console/) and its script at
// /console/console.js.
func Handler() http.Handler {
	page, _ := static.ReadFile("static/index.html")
	script, _ := static.ReadFile("static/console.js")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		// The page runs its own script only and talks to its own origin only.
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self' ws: wss:; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
		switch r.URL.Path {
		case "/console", "/console/":
			h.Set("Content-Type", "text/html; charset=utf-8")
			w.Write(page)
		case "/console/console.js":
			h.Set("Content-Type", "text/javascript; charset=utf-8")
			w.Write(script)
		default:
			http.NotFound(w, r)
		}
	})
}
