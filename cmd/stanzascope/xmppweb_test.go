package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// wsXMPP is a WebSocket XMPP client typed by hand, frame by frame.
type wsXMPP struct {
	t   *testing.T
	c   *websocket.Conn
	got []string
}

func dialXMPPWebSocket(t *testing.T, url string) *wsXMPP {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{"xmpp"}})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return &wsXMPP{t: t, c: c}
}

func (w *wsXMPP) send(s string) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := w.c.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		w.t.Fatalf("send: %v", err)
	}
}

func (w *wsXMPP) until(sub string) string {
	w.t.Helper()
	for range 100 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, b, err := w.c.Read(ctx)
		cancel()
		if err != nil {
			w.t.Fatalf("waiting for %q: %v; frames:\n%s", sub, err, strings.Join(w.got, "\n"))
		}
		w.got = append(w.got, string(b))
		if strings.Contains(string(b), sub) {
			return string(b)
		}
	}
	w.t.Fatalf("no frame with %q", sub)
	return ""
}

// TestWebSocketDefaultMode: in the default mode the web server carries XMPP over
// WebSocket to the embedded switch, says where with host-meta, and the JSON log says
// transport websocket for that connection.
func TestWebSocketDefaultMode(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "session.jsonl")
	in := startStanzascope(t, true, "proxy", "--listen", "127.0.0.1:0", "--web", "127.0.0.1:0", "--ca-dir", dir+"/ca",
		"--fresh", "--log", logPath, "--format", "json")
	base := strings.TrimSuffix(in.web, "/")
	wsURL := "ws" + strings.TrimPrefix(base, "http") + "/xmpp-websocket"

	checkHostMeta(t, base, wsURL)

	w := dialXMPPWebSocket(t, wsURL)
	open := "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>"
	w.send(open)
	w.until("mechanisms")
	w.send("<iq xmlns='jabber:client' type='set' id='r1'><query xmlns='jabber:iq:register'><username>webby</username><password>" + webPassword + "</password></query></iq>")
	w.until("id='r1'")
	w.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + base64.StdEncoding.EncodeToString([]byte("\x00webby\x00"+webPassword)) + "</auth>")
	w.until("<success")
	w.send(open)
	w.until("bind")
	w.send("<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
	w.until("webby@localhost/")
	w.send("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>")
	w.until("<close")

	waitLog(t, logPath, func(r logRecord) bool { return r.Kind == "conn-close" })
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for _, l := range lines {
		var r struct {
			Conn      uint64
			Transport string
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		if r.Conn != 0 && r.Transport != "websocket" {
			t.Errorf("record without transport websocket: %s", l)
		}
	}
	if !strings.Contains(string(b), `"xml":"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'`) {
		t.Errorf("the log does not hold the frames the client got:\n%s", b)
	}
	if strings.Contains(string(b), webPassword) {
		t.Errorf("the password is in the log")
	}
}

// checkHostMeta checks the XEP-0156 discovery on the web server at base: both forms of
// host-meta name the WebSocket endpoint wsURL, and a Host that is not loopback is refused
// on a web server without a token.
func checkHostMeta(t *testing.T, base, wsURL string) {
	t.Helper()
	for _, path := range []string{"/.well-known/host-meta", "/.well-known/host-meta.json"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), "urn:xmpp:alt-connections:websocket") || !strings.Contains(string(body), wsURL) {
			t.Errorf("%s: %d %s", path, resp.StatusCode, body)
		}
		if strings.HasSuffix(path, ".json") {
			var v struct{ Links []struct{ Rel, Href string } }
			if err := json.Unmarshal(body, &v); err != nil || len(v.Links) != 1 || v.Links[0].Href != wsURL {
				t.Errorf("host-meta.json %s: %v", body, err)
			}
		}
	}
	// A Host that is not loopback is refused on a web server without a token.
	req, _ := http.NewRequest("GET", base+"/.well-known/host-meta", nil)
	req.Host = "rebound.example:80"
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("host-meta for Host rebound.example: %v %v", resp, err)
	}
}
