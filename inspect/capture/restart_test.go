package capture

import (
	"slices"
	"testing"

	"github.com/stanzascope/stanzascope/inspect"
)

// After SASL success both directions restart, whatever the client puts before its new
// header: go-sendxmpp sends a newline, an XML declaration and another newline. The
// server's restart with a declaration and no whitespace is Prosody's.
func TestSASLRestart(t *testing.T) {
	for _, tc := range []struct{ name, clientNew, serverNew string }{
		{"plain headers", "<stream:stream to='example.org' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>", serverHeader[len("<?xml version='1.0'?>"):]},
		{"go-sendxmpp and Prosody", "\n" + clientHeader[:len("<?xml version='1.0'?>")] + "\n" + clientHeader[len("<?xml version='1.0'?>"):], serverHeader},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSynth(t, linkEthernet)
			c := s.dial("10.0.0.1:40000", "10.0.0.2:5222")
			c.send(0, clientHeader)
			c.send(1, serverHeader+features)
			c.send(0, `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>`)
			c.send(1, `<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`)
			c.send(0, tc.clientNew)
			c.send(1, tc.serverNew+features)
			c.send(0, message(1))
			c.close()
			recs, _, err := collect(t, s.bytes(), Options{})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"c2s stream", "s2c stream", "s2c features", "c2s auth", "s2c success",
				"c2s stream", "s2c stream", "s2c features", "c2s message"}
			if got := sequences(recs)[1]; !slices.Equal(got, want) {
				t.Fatalf("events\n got %q\nwant %q", got, want)
			}
			for _, r := range recs {
				if r.Err() != nil || r.Kind == inspect.KindNote || r.Kind == inspect.KindGap {
					t.Errorf("unexpected %v record: %v %s", r.Kind, r.Err(), r.Note())
				}
			}
		})
	}
}
