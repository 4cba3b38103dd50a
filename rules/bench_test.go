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

// typicalStream is a mix of the stanzas of a chat session. The rules of "rules=50-match"
// match 2 of these 10 (the chat message about the parrot and the ping): a realistic share.
var typicalStream = []string{
	`<message from='alice@example.org/phone' to='bob@example.org' type='chat' id='m1'><body>Hello Bob, did you see the parrot?</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>`,
	`<presence from='alice@example.org/phone' to='bob@example.org'><show>away</show><status>At lunch</status><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://example.org' ver='QgayPKawpkPSDYmwT/WM94uAlu0='/></presence>`,
	`<iq type='get' id='ro1'><query xmlns='jabber:iq:roster'/></iq>`,
	`<message from='bob@example.org/laptop' to='alice@example.org' type='chat' id='m2'><body>Yes, it is pining for the fjords.</body></message>`,
	`<iq type='get' id='p1' to='example.org'><ping xmlns='urn:xmpp:ping'/></iq>`,
	`<iq type='result' id='p1' from='example.org' to='alice@example.org/phone'/>`,
	`<presence from='carol@example.org/desk'/>`,
	`<iq type='get' id='d1' to='example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
	`<message from='bob@example.org/laptop' to='alice@example.org' type='chat' id='m3'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`,
	`<iq type='result' id='ro1' to='alice@example.org/phone'><query xmlns='jabber:iq:roster'><item jid='bob@example.org' subscription='both'/></query></iq>`,
}

// noHint is a body condition the literal hint cannot skip: XPath runs on every chat message.
const noHint = "body[contains(., 'forbidden%d')]"

// matchingRules are two rules of the kinds people write that match typical traffic: a
// word rewritten in chat bodies, and pings tagged. Appended after the 48 typical rules of
// "rules=50-match", a stanza they match has first been tried against the others.
const matchingRules = `  - name: parrot
    when: {element: message, type: chat, xpath: "contains(body, 'parrot')"}
    do: [{replace-text: {xpath: body, regexp: "parrot", with: "budgie"}}]
  - name: ping
    when: {element: iq, type: get, namespace: "urn:xmpp:ping"}
    do: [tag: ping]
`

// benchSets are the rule sets the benchmarks compare: none; 50 typical rules that match
// nothing in the benchmark streams (the miss path only); the same with two of them
// replaced by matchingRules (about 1 stanza in 5 matches: miss and match paths in a
// realistic mix); 50 rules whose XPath the literal hint cannot skip.
var benchSets = []string{"rules=0", "rules=50", "rules=50-match", "rules=50-xpath-always"}

// benchRules returns the rule file of one of benchSets.
func benchRules(set string) string {
	switch set {
	case "rules=0":
		return typicalRules(0)
	case "rules=50":
		return typicalRules(50)
	case "rules=50-match":
		return typicalRules(48) + matchingRules
	case "rules=50-xpath-always":
		return rulesWith(50, noHint)
	}
	panic("rules: no benchmark rule set " + set)
}

func benchEngine(b *testing.B, set string) *Engine {
	if set == "rules=0" {
		e, err := New()
		if err != nil {
			b.Fatal(err)
		}
		return e
	}
	return engine(b, benchRules(set))
}

// reportMatches reports how many rule matches there were per stanza offered, so that a
// benchmark says which path it measured (0: the miss path only).
func reportMatches(b *testing.B, e *Engine, stanzas int) {
	var n uint64
	for _, c := range e.Counts() {
		n += c.Count
	}
	b.ReportMetric(float64(n)/float64(stanzas), "matches/stanza")
}

// BenchmarkApply measures the rules alone, per stanza.
func BenchmarkApply(b *testing.B) {
	for _, set := range benchSets {
		b.Run(set, func(b *testing.B) {
			e := benchEngine(b, set)
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
			b.StopTimer()
			reportMatches(b, e, b.N)
		})
	}
}

// BenchmarkApplyPath separates the two paths of "rules=50-match": a stanza no rule matches
// (tried against every candidate rule; the body XPath skipped by its literal hint or
// evaluated), and a stanza a rule matches (rewritten, or tagged).
func BenchmarkApplyPath(b *testing.B) {
	e := benchEngine(b, "rules=50-match")
	for _, tc := range []struct{ name, stanza string }{
		{"miss-chat", typicalStream[3]},
		{"miss-presence", typicalStream[1]},
		{"match-rewrite", typicalStream[0]},
		{"match-tag", typicalStream[4]},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := record(b, tc.stanza)
			miss := strings.HasPrefix(tc.name, "miss")
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r.SetElement(nil)
				out := e.Apply(Input{Dir: inspect.ClientToServer, Record: r, BoundJID: "alice@example.org/phone"})
				if (len(out.Matched) == 0) != miss {
					b.Fatalf("%s: matched %v", tc.name, out.Matched)
				}
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
	for _, set := range benchSets {
		b.Run(set, func(b *testing.B) {
			e := benchEngine(b, set)
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
			reportMatches(b, e, b.N*stanzas)
		})
	}
}

// BenchRuleSets exports the names of benchSets to the external tests (the proxy benchmark).
func BenchRuleSets() []string { return append([]string(nil), benchSets...) }

// BenchRules exports benchRules to the external tests.
func BenchRules(set string) string { return benchRules(set) }

// ReportMatches exports reportMatches to the external tests.
func ReportMatches(b *testing.B, e *Engine, stanzas int) { reportMatches(b, e, stanzas) }
