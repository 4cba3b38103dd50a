package web

import (
	"testing"

	"github.com/stanzascope/stanzascope/inspect"
)

// TestDetailWebSocket: the detail of a stanza of a WebSocket connection says so, so the
// page can tell the framing's changes from a rule's.
func TestDetailWebSocket(t *testing.T) {
	h := NewHub(Options{Proxy: true})
	defer h.Close()
	rec := &inspect.Record{Kind: inspect.KindStanza, Dir: inspect.ServerToClient, Name: "message",
		Conn: &inspect.ConnInfo{ID: 1, Transport: inspect.TransportWebSocket},
		Raw:  []byte("<message xmlns='jabber:client' to='a@b'><body>hi</body></message>")}
	rec.SetOriginal([]byte("<message to='a@b'><body>hi</body></message>"))
	d := h.renderDetail(1, rec)
	if d.Transport != "websocket" || !d.Changed {
		t.Fatalf("detail %+v: want transport websocket and changed", d)
	}
	rec.Conn = &inspect.ConnInfo{ID: 2}
	if d := h.renderDetail(2, rec); d.Transport != "" {
		t.Fatalf("a TCP connection's detail says transport %q", d.Transport)
	}
}
