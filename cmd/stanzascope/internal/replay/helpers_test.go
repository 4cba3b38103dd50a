package replay

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// jsonLog builds a JSON log of one connection from lines "c2s XML" and "s2c XML", one
// millisecond apart; "conn N" starts connection N (connection 1 is started by default).
func jsonLog(t testing.TB, lines ...string) string {
	t.Helper()
	var b strings.Builder
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	conn := uint64(1)
	je := json.NewEncoder(&b)
	je.SetEscapeHTML(false)
	enc := func(m map[string]any) {
		if err := je.Encode(m); err != nil {
			t.Fatal(err)
		}
	}
	seq := 0
	open := func() {
		seq++
		enc(map[string]any{"seq": seq, "conn": conn, "kind": "conn-open", "client": "127.0.0.1:4000", "time": t0.Format(time.RFC3339Nano)})
	}
	opened := false
	for _, l := range lines {
		dir, xml, _ := strings.Cut(l, " ")
		if dir == "conn" {
			if err := json.Unmarshal([]byte(xml), &conn); err != nil {
				t.Fatal(err)
			}
			open()
			opened = true
			continue
		}
		if !opened {
			open()
			opened = true
		}
		seq++
		kind := "stanza"
		switch {
		case strings.HasPrefix(xml, "<stream:stream"), strings.HasPrefix(xml, "<?xml"):
			kind = "open"
		case xml == "</stream:stream>":
			kind = "close"
		}
		enc(map[string]any{"seq": seq, "conn": conn, "dir": dir, "kind": kind, "xml": xml,
			"time": t0.Add(time.Duration(seq) * time.Millisecond).Format(time.RFC3339Nano)})
	}
	return b.String()
}

const (
	clientHeader = "c2s <stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
	serverHeader = "s2c <stream:stream from='localhost' id='s1' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
)

// loginLines is a recorded SCRAM login and bind of alice@localhost/rec on stream s2.
var loginLines = []string{
	clientHeader, serverHeader,
	"s2c <stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1</mechanism></mechanisms></stream:features>",
	"c2s <auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>[redacted]</auth>",
	"s2c <success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>dj1x</success>",
	clientHeader,
	"s2c <stream:stream from='localhost' id='s2' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
	"s2c <stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>",
	"c2s <iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>rec</resource></bind></iq>",
	"s2c <iq type='result' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>alice@localhost/rec</jid></bind></iq>",
}

// scriptOf extracts the first logged-in connection of a log built by jsonLog.
func scriptOf(t testing.TB, lines ...string) *Script {
	t.Helper()
	_, s := logScript(t, jsonLog(t, lines...))
	return s
}

// logScript reads a JSON log and extracts its first logged-in connection.
func logScript(t testing.TB, log string) (*Log, *Script) {
	t.Helper()
	l, err := ReadLog(strings.NewReader(log), 0)
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.Script(0)
	if err != nil {
		t.Fatal(err)
	}
	return l, s
}

func session(lines ...string) []string { return append(append([]string(nil), loginLines...), lines...) }

func parse(t testing.TB, xml string) *inspect.Element {
	t.Helper()
	el, err := inspect.ParseElement([]byte(xml), nil)
	if err != nil {
		t.Fatalf("parse %s: %v", xml, err)
	}
	return el
}
