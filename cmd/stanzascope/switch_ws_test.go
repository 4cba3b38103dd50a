package main

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var (
	switchWSRE   = regexp.MustCompile(`XMPP over WebSocket at (ws://\S+)\)`)
	switchConsRE = regexp.MustCompile(`XMPP console for browsers on (http://\S+)/console`)
)

// TestSwitchWebSocket: `stanzascope switch --websocket` serves XMPP over WebSocket as a
// transport of its own (no proxy): host-meta says where, a rebinding Host is refused, a
// client registers and logs in over WebSocket and chats with a client over TCP, and the
// JSON log holds the WebSocket connection's frames with transport websocket.
func TestSwitchWebSocket(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	logPath := filepath.Join(t.TempDir(), "switch.jsonl")
	r := startWith(t, map[string]*regexp.Regexp{"xmpp": switchServingRE, "ws": switchWSRE, "web": switchConsRE},
		"switch", "--listen", "127.0.0.1:0", "--fresh", "--websocket", "127.0.0.1:0", "--log", logPath, "--format", "json")
	wsURL, base := r.found["ws"], r.found["web"]

	checkHostMeta(t, base, wsURL)
	if resp, err := http.Get(base + "/console"); err != nil || resp.StatusCode != 200 {
		t.Errorf("/console: %v %v", resp, err)
	}

	// bob over TCP (PLAIN on loopback), alice over WebSocket.
	bob := dialTelnet(t, r.found["xmpp"])
	bob.say("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>", "</stream:features>")
	bob.say("<iq type='set' id='r1'><query xmlns='jabber:iq:register'><username>bob</username><password>"+webPassword+"</password></query></iq>", "id='r1'")
	bob.say("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"+base64.StdEncoding.EncodeToString([]byte("\x00bob\x00"+webPassword))+"</auth>", "<success")
	bob.say("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>", "<bind")
	bob.say("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>desk</resource></bind></iq>", "bob@localhost/desk")

	w := dialXMPPWebSocket(t, wsURL)
	open := "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>"
	w.send(open)
	if f := w.until("mechanisms"); strings.Contains(f, "starttls") {
		t.Errorf("STARTTLS offered over WebSocket: %s", f)
	}
	w.send("<iq xmlns='jabber:client' type='set' id='r1'><query xmlns='jabber:iq:register'><username>alice</username><password>" + webPassword + "</password></query></iq>")
	w.until("id='r1'")
	w.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + base64.StdEncoding.EncodeToString([]byte("\x00alice\x00"+webPassword)) + "</auth>")
	w.until("<success")
	w.send(open)
	w.until("bind")
	w.send("<iq xmlns='jabber:client' type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>web</resource></bind></iq>")
	w.until("alice@localhost/web")
	w.send("<message xmlns='jabber:client' to='bob@localhost/desk' type='chat'><body>from a browser</body></message>")
	bob.say("", "from a browser")
	bob.say("<message to='alice@localhost/web' type='chat'><body>from telnet</body></message>", "from a browser")
	if f := w.until("from telnet"); !strings.Contains(f, "xmlns='jabber:client'") {
		t.Errorf("a frame that does not declare its namespace: %s", f)
	}
	w.send("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>")
	w.until("<close")

	// The log: alice's connection is a WebSocket one and holds the frames she got.
	var sawOpen, sawChat bool
	for deadline := time.Now().Add(20 * time.Second); !(sawOpen && sawChat); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("the log does not hold the WebSocket connection's frames (open %v, chat %v):\n%s", sawOpen, sawChat, b)
		}
		b, err := os.ReadFile(logPath)
		if err != nil {
			continue // not written yet
		}
		if strings.Contains(string(b), webPassword) {
			t.Fatal("the password is in the log")
		}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var rec struct {
				Dir, XML, Transport string
			}
			if json.Unmarshal([]byte(l), &rec) != nil || rec.Transport != "websocket" || rec.Dir != "s2c" {
				continue
			}
			sawOpen = sawOpen || strings.HasPrefix(rec.XML, "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'")
			sawChat = sawChat || strings.Contains(rec.XML, "from telnet") && strings.Contains(rec.XML, "xmlns='jabber:client'")
		}
	}
}

// TestSwitchWebSocketFlags: --websocket-tls needs --websocket, which needs host:port.
func TestSwitchWebSocketFlags(t *testing.T) {
	for _, args := range [][]string{
		{"switch", "--fresh", "--websocket-tls"},
		{"switch", "--fresh", "--websocket", "5280"},
	} {
		var stderr strings.Builder
		if code := run(t.Context(), args, io.Discard, &stderr); code != 2 {
			t.Errorf("%q: exit %d, want 2 (usage)\n%s", args, code, stderr.String())
		}
	}
}

// TestConsoleSwitchAlone: the /console page in headless Chromium, served by `stanzascope
// switch --websocket` itself (no proxy), registers and logs in over the switch's own
// WebSocket transport and chats with a slixmpp client on the switch's TCP port.
func TestConsoleSwitchAlone(t *testing.T) {
	requireSlixmpp(t)
	data := t.TempDir()
	t.Setenv("XDG_DATA_HOME", data)
	logPath := filepath.Join(t.TempDir(), "switch.jsonl")
	r := startWith(t, map[string]*regexp.Regexp{"xmpp": switchServingRE, "web": switchConsRE},
		"switch", "--listen", "127.0.0.1:0", "--fresh", "--websocket", "127.0.0.1:0", "--log", logPath, "--format", "json")
	in := &instance{xmpp: r.found["xmpp"], web: r.found["web"], ca: filepath.Join(data, "stanzascope", "switch-cert.pem"), stderr: r.stderr, stop: r.stop}
	echoJID, exit, out := startEcho(t, in.xmpp, in.ca, "dana", webPassword, "parrot", true)
	consoleSession(t, in, logPath, "praline", webPassword, true, echoJID, exit, out, "parrot")
}
