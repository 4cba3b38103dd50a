package proxy

import (
	"crypto/tls"
	"encoding/base64"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

const violHeader = "<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"

// violationStanzas are one stanza per kind of RFC 6120 violation that the proxy's reader
// can frame past, with the stream error condition a server answers.
var violationStanzas = []struct {
	name, stanza string
	cond         inspect.Cond
}{
	{"comment", "<message to='bob@localhost'><!-- hi --><body>x</body></message>", "restricted-xml"},
	{"processing instruction", "<message to='bob@localhost'><?php echo 1 ?></message>", "restricted-xml"},
	{"entity", "<message to='bob@localhost'><body>&nbsp;</body></message>", "restricted-xml"},
	{"bad character reference", "<message to='bob@localhost'><body>&#0;</body></message>", "not-well-formed"},
	{"bare ampersand", "<message to='bob@localhost'><body>fish & chips</body></message>", "not-well-formed"},
	{"control character", "<message to='bob@localhost'><body>\x07</body></message>", "not-well-formed"},
	{"duplicate attribute", "<message to='bob@localhost' to='eve@localhost'/>", "not-well-formed"},
	{"xml prefix rebound", "<message xmlns:xml='urn:other' xml:lang='en' to='bob@localhost'/>", "not-well-formed"},
	{"xmlns prefix declared", "<message xmlns:xmlns='urn:x' to='bob@localhost'/>", "not-well-formed"},
	{"XML namespace on another prefix", "<message xmlns:x='http://www.w3.org/XML/1998/namespace' to='bob@localhost'/>", "not-well-formed"},
	{"one attribute through two prefixes", "<message xmlns:a='urn:x' xmlns:b='urn:x' a:v='1' b:v='2' to='bob@localhost'/>", "not-well-formed"},
	{"empty prefix binding", "<message xmlns:p='' to='bob@localhost'/>", "not-well-formed"},
	{"undeclared prefix", "<message to='bob@localhost'><p:x/></message>", "not-well-formed"},
	{"new header where a stanza was expected", violHeader, "bad-format"},
}

// TestViolationsTransparentAndStrict sends each violation through the proxy to the
// embedded switch. Transparent (the default): the proxy forwards the stanza, records the
// violation on it, and the client gets the switch's stream error. Strict: the proxy
// refuses the stanza itself with the same condition; the switch never sees it.
func TestViolationsTransparentAndStrict(t *testing.T) {
	swAddr, swRoots := startSwitch(t, false)
	for _, strict := range []bool{false, true} {
		tp := startProxy(t, Config{Upstream: swAddr, CA: newCA(t), UpstreamTLS: &tls.Config{RootCAs: swRoots},
			Limits: inspect.Limits{Annotate: !strict}}, false)
		for _, tc := range violationStanzas {
			name := "transparent/" + tc.name
			if strict {
				name = "strict/" + tc.name
			}
			t.Run(name, func(t *testing.T) {
				c, err := net.Dial("tcp", tp.addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.Write([]byte(violHeader))
				readUntil(t, c, "</stream:features>")
				before := len(tp.sink.all())
				c.Write([]byte(tc.stanza))
				got := readAll(t, c)
				c.Close() // the proxy's connection ends once both sides have gone
				if !strings.Contains(got, "<"+string(tc.cond)+" xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>") {
					t.Fatalf("client got %q, want a %s stream error", got, tc.cond)
				}
				recs := waitRecords(t, tp.sink, before, func(r *inspect.Record) bool { return r.Kind == inspect.KindConnClose })
				var annotated, refused, fromSwitch bool
				for _, r := range recs {
					switch {
					case r.Dir == inspect.ClientToServer && r.Kind != inspect.KindError && len(r.Violations()) > 0:
						annotated = r.Violations()[0].Condition == tc.cond && r.Violations()[0].Section != "" && r.Violations()[0].Line == 1
					case r.Kind == inspect.KindError && r.Dir == inspect.ClientToServer:
						refused = inspect.AsStreamError(r.Err()) != nil && inspect.AsStreamError(r.Err()).Condition == tc.cond
					case r.Dir == inspect.ServerToClient && r.Name == "error" && r.Producer() == inspect.OriginServer:
						fromSwitch = strings.Contains(string(r.Raw), "<"+string(tc.cond)+" ")
					}
				}
				if strict {
					if !refused || annotated || fromSwitch {
						t.Fatalf("strict: refused by the proxy %v, annotated %v, switch's error %v", refused, annotated, fromSwitch)
					}
					return
				}
				if !annotated || refused || !fromSwitch {
					t.Fatalf("transparent: annotated %v, refused by the proxy %v, switch's error %v", annotated, refused, fromSwitch)
				}
			})
		}
	}
}

// waitRecords waits until a record after the first skip ones satisfies done and returns
// those records.
func waitRecords(t *testing.T, s *recSink, skip int, done func(*inspect.Record) bool) []*inspect.Record {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		all := s.all()
		if len(all) > skip {
			for _, r := range all[skip:] {
				if done(r) {
					return all[skip:]
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no closing record after %d records", len(all)-skip)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestGoSendXMPPRestart: after SASL success go-sendxmpp sends a newline, an XML
// declaration and another newline before its new header. Prosody and ejabberd accept it;
// so do the proxy (in both modes) and the switch behind it.
func TestGoSendXMPPRestart(t *testing.T) {
	swAddr, swRoots := startSwitch(t, false)
	for _, strict := range []bool{false, true} {
		tp := startProxy(t, Config{Upstream: swAddr, CA: newCA(t), UpstreamTLS: &tls.Config{RootCAs: swRoots},
			Limits: inspect.Limits{Annotate: !strict}}, false)
		c, err := net.Dial("tcp", tp.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("<?xml version='1.0'?>\n" + violHeader))
		readUntil(t, c, "</stream:features>")
		c.Write([]byte("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" +
			base64.StdEncoding.EncodeToString([]byte("\x00alice\x00wonderland")) + "</auth>"))
		readUntil(t, c, "<success")
		c.Write([]byte("\n<?xml version='1.0'?>\n" + violHeader))
		got := readUntil(t, c, "</stream:features>")
		if !strings.Contains(got, "urn:ietf:params:xml:ns:xmpp-bind") {
			t.Fatalf("strict %v: after the restart the client got %q, want features with bind", strict, got)
		}
		c.Close()
		for _, r := range tp.sink.all() {
			if r.Kind == inspect.KindError || len(r.Violations()) > 0 {
				t.Errorf("strict %v: %v record %v %+v", strict, r.Kind, r.Err(), r.Violations())
			}
		}
	}
}
