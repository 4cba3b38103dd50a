package server

import (
	"strings"
	"testing"
)

// TestRestartWithDeclaration: after SASL success go-sendxmpp (mattn/go-xmpp) sends a
// newline, an XML declaration and another newline before its new stream header. Prosody
// and ejabberd accept it, and so does the switch (issue 10 item 11); it refused it as
// restricted-xml.
func TestRestartWithDeclaration(t *testing.T) {
	ts := startServer(t, nil)
	registerRaw(t, ts.addr, "jane", "pw")
	c := dialRaw(t, ts.addr)
	c.send("<?xml version='1.0'?>\n" + header10)
	c.readStanza() // our header
	c.readStanza() // features
	c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGphbmUAcHc=</auth>")
	c.expect("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
	c.send("\n<?xml version='1.0'?>\n" + header10)
	c.readStanza() // our new header
	if f := c.readStanza(); !strings.Contains(f, "urn:ietf:params:xml:ns:xmpp-bind") {
		t.Fatalf("after the restart: %q, want features with bind", f)
	}
}
