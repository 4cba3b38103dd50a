package proxy

import (
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
				ev := inspect.Event{Kind: inspect.KindStanza, Raw: []byte(raw), Name: inspect.TopName([]byte(raw)), NS: inspect.NSClient}
				r := ev.Record()
				r.Dir = inspect.ClientToServer
				if b := c.match(r, "alice@localhost/phone"); b != nil {
					t.Fatalf("%s matched %s", b.f, raw)
				}
				if n := testing.AllocsPerRun(100, func() { c.match(r, "alice@localhost/phone") }); n != 0 {
					t.Errorf("matching %s against %q: %v allocations, want 0", raw, set.exprs, n)
				}
			}
		})
	}
}
