package inspect

import (
	"bytes"
	"testing"
)

// FuzzReadStream: any input read as a stream and printed in every format never panics, and
// when it reads without error the raw printer gives back exactly the input.
func FuzzReadStream(f *testing.F) {
	for _, s := range []string{
		"<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'><presence/></stream:stream>\n",
		"<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' version='1.0'><success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/><stream:stream xmlns:stream='http://etherx.jabber.org/streams'>",
		"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>  <message><body>x</body></message>",
		"\xef\xbb\xbf<iq type='set'><query xmlns='jabber:iq:auth'><password>p</password></query></iq>",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var raw, other bytes.Buffer
		sinks := Tee(NewRaw(&raw), NewPretty(&other, PrettyOptions{Explain: true, Color: true}), NewJSON(&other, JSONOptions{}))
		err := ReadStream(bytes.NewReader(in), ClientToServer, nil, NewIQTracker(sinks, 0))
		if err == nil && !bytes.Equal(raw.Bytes(), in) {
			t.Fatalf("raw output differs from the input:\n%q\n%q", in, raw.Bytes())
		}
	})
}
