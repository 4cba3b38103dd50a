package rules

import (
	"testing"

	"github.com/stanzascope/stanzascope/inspect"
)

// TestStanzaSet: a StanzaSet answers what matching every filter in turn on a view of the
// stanza answers, for filters it skips by element, direction and type (with the RFC
// defaults) and for those it cannot skip, on stanzas of both directions, of the indexed
// elements and others, with types as written, missing, empty or escaped.
func TestStanzaSet(t *testing.T) {
	exprs := []string{
		"name iq and type set",
		"name presence and dir s2c",
		"name message and type groupchat",
		"type normal and dir c2s",
		"type available or type unavailable",
		"not name message and type error",
		"dir s2c and not name message",
		"not (type chat or type normal)",
		"jid carol@localhost",
		"xpath \"//body[. = 'ping']\"",
		"ns jabber:iq:roster and type get",
		"name a",
		"bound alice@* and name iq",
		"type chat",
		"name message and type x-custom,normal",
		"from alice@localhost",
		"to *@localhost/x and dir c2s",
		"name iq or (name message and jid bob@localhost)",
		"jid carol@*,alice@*",
		"to bob@localhost",
		"from *@localhost",
		"jid localhost",
		"name message",
		"not dir c2s",
	}
	stanzas := []string{
		"<message to='bob@localhost' from='alice@localhost/phone' type='chat' id='m1'><body>hi</body></message>",
		"<message to='carol@localhost/x' type='groupchat'/>",
		"<message from='al&#105;ce@localhost' to='bob@localhost'/>",
		"<message from='&#99;arol@localhost' to='Bob@localhost/x'/>",
		"<message from='' to='localhost'/>",
		"<message><body>ping</body></message>",
		"<message type=''/>",
		"<message type='ch&#97;t'/>",
		"<message type='x-custom'/>",
		"<presence/>",
		"<presence type='unavailable'/>",
		"<presence type='error'/>",
		"<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>",
		"<iq type='set' id='r2'/>",
		"<iq id='r3'/>",
		"<a xmlns='urn:x'/>",
	}
	var fs []*Filter
	for _, expr := range exprs {
		f, err := ParseFilter(expr)
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f)
	}
	for n := 1; n <= len(fs); n++ { // every prefix: the first match moves
		set := NewStanzaSet(fs[len(fs)-n:])
		if set.Len() != n {
			t.Fatalf("Len %d, want %d", set.Len(), n)
		}
		for _, raw := range stanzas {
			r := readerRecord(t, raw)
			for _, dir := range []inspect.Direction{inspect.ClientToServer, inspect.ServerToClient} {
				r.Dir = dir
				for _, bound := range []string{"", "alice@localhost/phone"} {
					want := -1
					for i, f := range fs[len(fs)-n:] {
						if slowEval(f.root, &fctx{r: r, stanza: true, bound: bound}) == yes {
							want = i
							break
						}
					}
					if got := set.MatchFirst(r, bound); got != want {
						t.Errorf("%d filters, %s %s (bound %q): %d, want %d", n, dir, raw, bound, got, want)
					}
				}
			}
		}
	}
}

// FuzzStanzaSet: for any filter expression that compiles, a StanzaSet of it (behind a
// filter that skips most stanzas) answers what matching each filter on a view of the
// stanza answers, on stanzas of the three kinds, both directions, with and without a
// bound JID.
func FuzzStanzaSet(f *testing.F) {
	for _, s := range []string{
		"name message and type groupchat", "not (dir s2c or name iq) and jid carol@*",
		"type normal,available", "not not type chat", "from *@localhost or to localhost",
		"name message or kind note", "(name iq and not type get) or (dir c2s and bound alice@*)",
		"xpath '//body' or type headline", "ns jabber:iq:roster", "kind stanza and not dir c2s",
	} {
		f.Add(s)
	}
	stanzas := []string{
		"<message to='bob@localhost' from='alice@localhost/phone' type='chat' id='m1'><body>hi</body></message>",
		"<message to='carol@localhost/x' type='groupchat'/>",
		"<message from='&#99;arol@localhost'/>",
		"<presence type='unavailable' from='Carol@localhost/a'/>",
		"<presence/>",
		"<iq type='get' id='r1' to='localhost'><query xmlns='jabber:iq:roster'/></iq>",
		"<iq id='r2' from='localhost.'/>",
	}
	var recs []*inspect.Record
	for _, raw := range stanzas {
		recs = append(recs, readerRecord(f, raw))
	}
	first, err := ParseFilter("name presence and type error")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		flt, err := ParseFilter(expr)
		if err != nil {
			return
		}
		set := NewStanzaSet([]*Filter{first, flt})
		for _, r := range recs {
			for _, dir := range []inspect.Direction{inspect.ClientToServer, inspect.ServerToClient} {
				r.Dir = dir
				for _, bound := range []string{"", "alice@localhost/phone"} {
					want := -1
					for i, g := range []*Filter{first, flt} {
						if slowEval(g.root, &fctx{r: r, stanza: true, bound: bound}) == yes {
							want = i
							break
						}
					}
					if got := set.MatchFirst(r, bound); got != want {
						t.Fatalf("%q on %s %s (bound %q): %d, want %d", expr, dir, r.Raw, bound, got, want)
					}
				}
			}
		}
	})
}
