package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stanzascope/stanzascope/inspect"
)

// typicalRules returns n rules of the kinds people write: most target specific stanzas,
// a few use XPath over message bodies, so the benchmark pays for some tree building.
func typicalRules(n int) string { return rulesWith(n, "contains(body, 'forbidden%d')") }

// rulesWith is typicalRules with another form of the XPath condition on bodies (a format
// with one %d for the rule number).
func rulesWith(n int, bodyXPath string) string {
	var b strings.Builder
	b.WriteString("namespaces: {r: \"jabber:iq:register\", roster: \"jabber:iq:roster\", ping: \"urn:xmpp:ping\"}\nrules:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - name: r%d\n", i)
		switch i % 5 {
		case 0:
			fmt.Fprintf(&b, "    when: {direction: c2s, element: iq, type: set, namespace: \"urn:test:%d\"}\n    do: [{reject: {condition: not-allowed}}]\n", i)
		case 1:
			fmt.Fprintf(&b, "    when: {element: message, type: chat, xpath: \"%s\"}\n    do: [{replace-text: {xpath: body, regexp: \"forbidden%d\", with: \"***\"}}]\n", fmt.Sprintf(bodyXPath, i), i)
		case 2:
			fmt.Fprintf(&b, "    when: {element: presence, from: \"user%d@example.org/*\"}\n    do: [delay: 1s]\n", i)
		case 3:
			fmt.Fprintf(&b, "    when: {direction: s2c, element: iq, type: result, to: \"*@other%d.example\"}\n    do: [tag: t%d]\n", i, i)
		case 4:
			fmt.Fprintf(&b, "    when: {element: message, type: groupchat, bound: \"admin%d@example.org\"}\n    do: [hide]\n", i)
		}
	}
	return b.String()
}

// typicalStream is a mix of the stanzas of a chat session.
var typicalStream = []string{
	`<message from='alice@example.org/phone' to='bob@example.org' type='chat' id='m1'><body>Hello Bob, did you see the parrot?</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>`,
	`<presence from='alice@example.org/phone' to='bob@example.org'><show>away</show><status>At lunch</status><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://example.org' ver='QgayPKawpkPSDYmwT/WM94uAlu0='/></presence>`,
	`<iq type='get' id='ro1'><query xmlns='jabber:iq:roster'/></iq>`,
	`<message from='bob@example.org/laptop' to='alice@example.org' type='chat' id='m2'><body>Yes, it is pining for the fjords.</body></message>`,
	`<iq type='get' id='p1' to='example.org'><ping xmlns='urn:xmpp:ping'/></iq>`,
	`<iq type='result' id='p1' from='example.org' to='alice@example.org/phone'/>`,
	`<presence from='carol@example.org/desk'/>`,
	`<iq type='get' id='d1' to='example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
}

// noHint is a body condition the literal hint cannot skip: XPath runs on every chat message.
const noHint = "body[contains(., 'forbidden%d')]"

func benchEngine(b *testing.B, n int) *Engine {
	if n < 0 {
		return engine(b, rulesWith(-n, noHint))
	}
	if n == 0 {
		e, err := New()
		if err != nil {
			b.Fatal(err)
		}
		return e
	}
	return engine(b, typicalRules(n))
}

// BenchmarkApply measures the rules alone, per stanza.
func BenchmarkApply(b *testing.B) {
	for _, n := range []int{0, 50, -50} {
		b.Run(benchName(n), func(b *testing.B) {
			e := benchEngine(b, n)
			recs := make([]*inspect.Record, len(typicalStream))
			for i, s := range typicalStream {
				recs[i] = record(b, s)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r := recs[i%len(recs)]
				r.SetElement(nil) // forget the parsed tree: every stanza arrives fresh
				dir := inspect.ClientToServer
				if i&1 == 1 {
					dir = inspect.ServerToClient
				}
				e.Apply(Input{Dir: dir, Record: r, BoundJID: "alice@example.org/phone"})
			}
		})
	}
}

// BenchmarkReadAndApply frames a stream with the real reader and applies the rules to each
// stanza, as one direction of the proxy does (without the sockets): the ratio of rules=50
// to rules=0 is what rules cost in throughput.
func BenchmarkReadAndApply(b *testing.B) {
	var stream bytes.Buffer
	for i := 0; i < 64; i++ {
		for _, s := range typicalStream {
			stream.WriteString(s)
		}
	}
	data := stream.Bytes()
	stanzas := 64 * len(typicalStream)
	for _, n := range []int{0, 50, -50} {
		b.Run(benchName(n), func(b *testing.B) {
			e := benchEngine(b, n)
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				rd := inspect.NewFragmentReader(bytes.NewReader(data), nil, inspect.Limits{})
				for {
					ev, err := rd.Next()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					if ev.Kind != inspect.KindStanza {
						continue
					}
					rec := ev.Record()
					e.Apply(Input{Dir: inspect.ClientToServer, Record: rec, BoundJID: "alice@example.org/phone"})
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*stanzas), "ns/stanza")
		})
	}
}

// TypicalRules exports typicalRules to the external tests (the proxy benchmark); a
// negative n gives the rules whose XPath cannot be skipped.
func TypicalRules(n int) string {
	if n < 0 {
		return rulesWith(-n, noHint)
	}
	return typicalRules(n)
}

// BenchName exports benchName to the external tests.
func BenchName(n int) string { return benchName(n) }

// benchName names a rule count; negative means the rules whose XPath cannot be skipped.
func benchName(n int) string {
	if n < 0 {
		return fmt.Sprintf("rules=%d-xpath-always", -n)
	}
	return fmt.Sprintf("rules=%d", n)
}
