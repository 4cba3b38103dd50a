package rules

import (
	"errors"
	"testing"
	"unicode/utf8"

	"github.com/stanzascope/stanzascope/inspect"
)

// FuzzParseFilter: any text either compiles or is a FilterError whose column lies within
// it; a compiled filter matches any record without panicking, and its text compiles again.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{
		"name message and type chat",
		"jid alice@localhost and not name presence",
		"conn 3,4 or verdict dropped,rejected",
		`dir c2s and xpath "//body[contains(., 'parrot')]"`,
		"(from '*@example.org' || to=bob@x) && !kind note",
		"bound alice@* origin proxy ns jabber:iq:roster",
		"name mesage", "type 'it\\'s'", "((((name iq))))", "not not not kind stanza",
		"", "name", "and", "(", ")", "name message,", "xpath '//['", "conn 0",
	} {
		f.Add(s)
	}
	recs := []*inspect.Record{
		(&inspect.Record{Kind: inspect.KindNote}).WithNote("n"),
		{Kind: inspect.KindConnOpen, Conn: &inspect.ConnInfo{ID: 3}},
		{Kind: inspect.KindStreamOpen, Conn: &inspect.ConnInfo{ID: 3}, Dir: inspect.ClientToServer,
			Raw: []byte(`<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`)},
	}
	f.Fuzz(func(t *testing.T, expr string) {
		flt, err := ParseFilter(expr)
		if err != nil {
			var fe *FilterError
			if !errors.As(err, &fe) {
				t.Fatalf("%q: %T %v is not a FilterError", expr, err, err)
			}
			if fe.Col < 1 || fe.Col > utf8.RuneCountInString(expr)+1 {
				t.Fatalf("%q: column %d outside the expression", expr, fe.Col)
			}
			return
		}
		stanzas := []*inspect.Record{
			record(t, `<message to='dana@localhost' type='chat'><body>parrot</body></message>`),
			record(t, `<iq type='result' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>alice@localhost/r</jid></bind></iq>`),
		}
		for _, r := range stanzas {
			r.Conn, r.Dir = &inspect.ConnInfo{ID: 3}, inspect.ServerToClient
		}
		for _, r := range append(recs, stanzas...) {
			flt.Match(r)
		}
		if _, err := ParseFilter(flt.String()); err != nil {
			t.Fatalf("%q compiled, its String does not: %v", expr, err)
		}
	})
}
