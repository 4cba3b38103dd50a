package proxy

import (
	"strings"
	"testing"

	"github.com/stanzascope/stanzascope/inspect"
)

// TestBreakpointMatchAllocs: matching a stanza against breakpoints that do not match it
// allocates nothing (issue 16: breakpoints that match nothing cost at most 5 percent of
// throughput), for conditions on the element, the type, the direction, a JID (from, to
// and the bound JID). An attribute whose value holds an entity reference (rare in a type or
// an address) is still unescaped into a string; rules.TestMatchStanzaRawAttrs checks it.
func TestBreakpointMatchAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation guard: the race detector allocates")
	}
	stanzas := []string{
		benchMsg,
		"<presence from='alice@localhost/phone' to='bob@localhost'><show>away</show></presence>",
		"<iq type='get' id='r1' to='localhost'><query xmlns='jabber:iq:roster'/></iq>",
	}
	for _, set := range []struct {
		name  string
		exprs []string
	}{
		{"element", []string{"name stream", "name features,success"}},
		{"type", []string{"type groupchat", "type headline,error", "name iq and type set"}},
		{"direction", []string{"name presence and dir s2c", "dir s2c"}},
		{"jid", []string{"jid carol@localhost", "from *@example.org", "to carol@*/x", "bound dave@localhost"}},
		{"together", []string{"name iq and type set", "name presence and dir s2c", "name message and type groupchat", "jid carol@localhost"}},
	} {
		t.Run(set.name, func(t *testing.T) {
			c := NewControl()
			for _, expr := range set.exprs {
				if _, err := c.AddBreakpoint(expr); err != nil {
					t.Fatal(err)
				}
			}
			for _, raw := range stanzas {
				r := readRecord(t, raw)
				r.Dir = inspect.ClientToServer
				if b := c.match(r, "alice@localhost/phone"); b != nil {
					t.Fatalf("%s matched %s", b.f, raw)
				}
				if n := testing.AllocsPerRun(100, func() { c.match(r, "alice@localhost/phone") }); n != 0 {
					t.Errorf("matching %s against %q: %v allocations, want 0", raw, set.exprs, n)
				}
				// A record the Reader did not make (the attributes are scanned) too.
				r2 := &inspect.Record{Kind: inspect.KindStanza, Dir: inspect.ClientToServer, Raw: []byte(raw), Name: r.Name, NS: r.NS}
				if n := testing.AllocsPerRun(100, func() { c.match(r2, "alice@localhost/phone") }); n != 0 {
					t.Errorf("matching %s (scanned) against %q: %v allocations, want 0", raw, set.exprs, n)
				}
			}
		})
	}
}

// readRecord returns the record of the stanza raw as the proxy makes it: read by an
// inspect.Reader in a client's stream (which notes its top attributes).
func readRecord(tb testing.TB, raw string) *inspect.Record {
	tb.Helper()
	rd := inspect.NewReader(strings.NewReader("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"+raw), inspect.DefaultLimits)
	for {
		ev, err := rd.Next()
		if err != nil {
			tb.Fatalf("reading %s: %v", raw, err)
		}
		if ev.Kind == inspect.KindStanza {
			return ev.Record()
		}
	}
}
