package proxy

import (
	"strings"
	"testing"

	"github.com/stanzascope/stanzascope/inspect"
)

// FuzzEditFeatures feeds arbitrary <stream:features> to the feature editor: it must not
// panic, and whatever it forwards must parse again and hold no compression and no -PLUS
// mechanism.
func FuzzEditFeatures(f *testing.F) {
	for _, s := range []string{
		"<stream:features/>",
		"<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>",
		"<stream:features><compression xmlns='http://jabber.org/features/compress'><method>zlib</method></compression><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1-PLUS</mechanism><mechanism>PLAIN</mechanism></mechanisms></stream:features>",
		"<stream:features><authentication xmlns='urn:xmpp:sasl:2'><mechanism> SCRAM-SHA-256-PLUS </mechanism></authentication></stream:features>",
		"<features xmlns='http://etherx.jabber.org/streams'>text<x:y xmlns:x='u'/></features>",
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, raw string, withCA bool) {
		fe := newNegotiator(false, withCA, false).editFeatures([]byte(raw), nil)
		if fe.out == nil {
			return
		}
		el, err := inspect.ParseElement(fe.out, nil)
		if err != nil {
			t.Fatalf("edited features do not parse: %v\n%s", err, fe.out)
		}
		if el.Child("http://jabber.org/features/compress", "compression") != nil {
			t.Fatalf("compression left in %s", fe.out)
		}
		for _, m := range []*inspect.Element{el.Child(inspect.NSSASL, "mechanisms"), el.Child(nsSASL2, "authentication")} {
			if m == nil {
				continue
			}
			for _, c := range m.Elements() {
				if c.Local == "mechanism" && strings.HasSuffix(strings.TrimSpace(c.Text()), "-PLUS") {
					t.Fatalf("-PLUS left in %s", fe.out)
				}
			}
		}
	})
}

// FuzzSplitUpstream checks the parser of --upstream values.
func FuzzSplitUpstream(f *testing.F) {
	for _, s := range []string{"example.org", "example.org:5222", "[::1]:5222", "[::1]", ":5222", "a:b:c", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		host, port, hasPort, err := splitUpstream(s)
		if err != nil {
			return
		}
		if host == "" && !hasPort || hasPort && (port < 1 || port > 65535) || !hasPort && port != 0 {
			t.Fatalf("splitUpstream(%q) = %q %d %v", s, host, port, hasPort)
		}
	})
}
