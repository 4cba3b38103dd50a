package server

import (
	"strings"
	"testing"
)

// TestPlainMechanismOffer: PLAIN is offered in clear only to a client on loopback; behind
// the proxy every connection comes from loopback, so there PLAIN waits for TLS.
func TestPlainMechanismOffer(t *testing.T) {
	for _, tc := range []struct {
		name        string
		behindProxy bool
		wantPlain   bool
	}{
		{"local client", false, true},
		{"behind the proxy", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, func(c *Config) { c.BehindProxy = tc.behindProxy })
			c := dialRaw(t, ts.addr)
			c.send(header10)
			c.readStanza() // our header
			features := c.readStanza()
			if !strings.Contains(features, "SCRAM-SHA-256") {
				t.Fatalf("SCRAM not offered: %s", features)
			}
			if got := strings.Contains(features, "<mechanism>PLAIN</mechanism>"); got != tc.wantPlain {
				t.Fatalf("PLAIN offered %v, want %v: %s", got, tc.wantPlain, features)
			}
			if !tc.wantPlain {
				c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGphbmUAcHc=</auth>")
				c.expectRe(`<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><invalid-mechanism/>.*</failure>`)
			}
		})
	}
}
