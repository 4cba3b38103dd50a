package rules

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stanzascope/stanzascope/inspect"
)

func mustFilter(t testing.TB, expr string) *Filter {
	t.Helper()
	f, err := ParseFilter(expr)
	if err != nil {
		t.Fatalf("ParseFilter(%q): %v", expr, err)
	}
	return f
}

func TestParseFilterErrors(t *testing.T) {
	for _, tc := range []struct {
		expr string
		col  int
		msg  string
	}{
		{"", 1, "empty expression"},
		{"name", 5, "a value for name expected"},
		{"name message and", 17, "ends where a condition should come"},
		{"nmae message", 1, "did you mean name?"},
		{"type chat or (name iq", 22, "')' expected to close the '(' at column 14"},
		{"name message )", 14, "unexpected ')'"},
		{"dir up", 5, "c2s (client-to-server) or s2c"},
		{"from 'a@@b'", 6, "more than one '@'"},
		{"conn x", 6, "a connection number"},
		{"origin me", 8, "client, server or proxy"},
		{"verdict lost", 9, "forwarded, dropped"},
		{"xpath '//['", 7, "bad XPath"},
		{"name 'a b'", 6, "not an XML element name"},
		{"kind banana", 6, "not a kind of record"},
		{"name 'message", 6, "not closed"},
		{"é name", 1, "unknown condition"},
		{"name message, ,", 15, "a value for name expected"},
		{"type chat and and name iq", 15, "a condition"},
		{strings.Repeat("(", 40) + "name iq" + strings.Repeat(")", 40), 34, "nested more than"},
	} {
		_, err := ParseFilter(tc.expr)
		var fe *FilterError
		if !errors.As(err, &fe) {
			t.Errorf("%q: error %v, want a FilterError", tc.expr, err)
			continue
		}
		if fe.Col != tc.col || !strings.Contains(fe.Msg, tc.msg) {
			t.Errorf("%q: column %d %q, want column %d and %q", tc.expr, fe.Col, fe.Msg, tc.col, tc.msg)
		}
	}
}

func TestParseFilterWarnings(t *testing.T) {
	f := mustFilter(t, "name mesage or type chta or name message or type chat or name zzzzzz")
	w := strings.Join(f.Warnings(), "\n")
	for _, want := range []string{`"mesage"`, "did you mean message?", `"chta"`, "did you mean chat?", `"zzzzzz"`} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings lack %q:\n%s", want, w)
		}
	}
	if strings.Contains(w, `"message"`) || strings.Contains(w, `"chat"`) {
		t.Errorf("known names warned about:\n%s", w)
	}
	if got := ElementNameWarning("mesage"); !strings.Contains(got, "did you mean message?") {
		t.Errorf("ElementNameWarning: %q", got)
	}
	if got := TypeWarning("available"); got != "" {
		t.Errorf("TypeWarning(available): %q", got)
	}
}

// session is two connections as a proxy records them: alice logs in with SASL and binds,
// dana with a legacy login; each sends stanzas without 'from'.
func session(t testing.TB) []*inspect.Record {
	c1, c2 := &inspect.ConnInfo{ID: 1}, &inspect.ConnInfo{ID: 2}
	var recs []*inspect.Record
	note := func(c *inspect.ConnInfo, kind inspect.Kind, text string) {
		recs = append(recs, (&inspect.Record{Conn: c, Kind: kind}).WithNote(text))
	}
	st := func(c *inspect.ConnInfo, dir inspect.Direction, raw string) {
		r := record(t, raw)
		r.Conn, r.Dir, r.Header = c, dir, &inspect.Header{To: "localhost", ContentNS: inspect.NSClient}
		recs = append(recs, r)
	}
	hdr := func(c *inspect.ConnInfo, dir inspect.Direction, raw string) {
		recs = append(recs, &inspect.Record{Conn: c, Dir: dir, Kind: inspect.KindStreamOpen, Raw: []byte(raw), Header: &inspect.Header{To: "localhost", ContentNS: inspect.NSClient}})
	}
	C, S := inspect.ClientToServer, inspect.ServerToClient
	note(c1, inspect.KindConnOpen, "alice connects")                                                                                                        // 0
	hdr(c1, C, `<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`)                        // 1
	st(c1, C, `<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r</resource></bind></iq>`)                                   // 2
	st(c1, S, `<iq type='result' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>alice@localhost/r</jid></bind></iq>`)                          // 3
	note(c1, inspect.KindNote, "switch: bound alice@localhost/r")                                                                                           // 4
	note(c2, inspect.KindConnOpen, "dana connects")                                                                                                         // 5
	hdr(c2, C, `<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`)                                      // 6
	st(c2, C, `<iq type='set' id='a1'><query xmlns='jabber:iq:auth'><username>Dana</username><password>x</password><resource>Home</resource></query></iq>`) // 7
	st(c2, S, `<iq type='result' id='a1'/>`)                                                                                                                // 8
	st(c1, C, `<presence/>`)                                                                                                                                // 9
	st(c1, C, `<message to='dana@localhost' type='chat'><body>hello parrot</body></message>`)                                                               // 10
	st(c2, S, `<message to='dana@localhost' type='chat' from='alice@localhost/r'><body>hello parrot</body></message>`)                                      // 11
	st(c2, C, `<message to='bob@localhost'><body>hi bob</body></message>`)                                                                                  // 12
	note(c2, inspect.KindNote, "a note on dana's connection")                                                                                               // 13
	note(c1, inspect.KindConnClose, "alice leaves")                                                                                                         // 14
	note(c2, inspect.KindConnClose, "dana leaves")                                                                                                          // 15
	note(nil, inspect.KindNote, "the session ended")                                                                                                        // 16
	recs[10].Verdict = inspect.Delayed
	return recs
}

// shown runs the session through a fresh filter and returns the indexes it shows.
func shown(t *testing.T, expr string) string {
	t.Helper()
	f := mustFilter(t, expr)
	var out []string
	for i, r := range session(t) {
		if f.Match(r) {
			out = append(out, fmt.Sprint(i))
		}
	}
	return strings.Join(out, ",")
}

// TestFilterFollowsSessions: a connection is known by its bound JID (binding or legacy
// login), so jid and bound match its stanzas without 'from'; the headers, notes and
// milestones of the connections a filter excludes are hidden.
func TestFilterFollowsSessions(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		// Alice's connection from her binding on (its own stanzas have no from), and the
		// message to dana that names her; dana's connection's notes are not shown.
		{"jid alice@localhost", "3,4,9,10,11,14"},
		{"bound alice@localhost", "3,4,9,10,14"},
		{"bound alice@localhost/r", "3,4,9,10,14"},
		{"bound alice@localhost/other", ""},
		// A legacy login binds too: dana's connection from her login's result on.
		{"jid dana@localhost", "8,10,11,12,13,15"},
		{"bound *@localhost and not kind note", "3,8,9,10,11,12,14,15"},
		// A connection: everything of it, nothing of the other.
		{"conn 2", "5,6,7,8,11,12,13,15"},
		{"conn 1,2", "0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15"},
		// Stanza conditions: a note or a header is not a message.
		{"name message", "10,11,12"},
		{"name message and type chat", "10,11"},
		{"type normal", "12"},
		{"type available", "9"},
		{"dir s2c and name iq", "3,8"},
		{"xpath \"//body[contains(., 'parrot')]\"", "10,11"},
		{"ns jabber:iq:auth", "7"},
		{"from alice@*", "11"},
		{"to 'bob@localhost'", "12"},
		{"verdict delayed", "10"},
		{"origin server and name iq", "3,8"},
		{"kind note", "4,13,16"},
		{"not name iq and not kind note,conn-open,conn-close", "1,6,9,10,11,12"},
	} {
		if got := shown(t, tc.expr); got != tc.want {
			t.Errorf("%s:\n got  %s\n want %s", tc.expr, got, tc.want)
		}
	}
}

// TestFilterSameMeaningAsRules: a condition of the expression matches a stanza exactly
// when the same condition of a rule file does: they are the same code.
func TestFilterSameMeaningAsRules(t *testing.T) {
	stanzas := []string{
		`<message to='alice@example.org/phone' type='chat'><body>x</body></message>`,
		`<message from='Bob@Example.org' to='alice@example.org'><body>y</body></message>`,
		`<presence from='alice@example.org/r'/>`,
		`<presence type='unavailable' to='room@muc.example.org/nick'/>`,
		`<iq type='get' id='1' to='example.org'><query xmlns='jabber:iq:roster'/></iq>`,
		`<iq type='result' id='1'><query xmlns='http://jabber.org/protocol/disco#info'><feature var='x'/></query></iq>`,
	}
	conds := []struct{ expr, when string }{
		{"name message", "element: message"},
		{"name message,presence", "element: [message, presence]"},
		{"type normal", "type: normal"},
		{"type available,get", "type: [available, get]"},
		{"from '*@example.org'", "from: '*@example.org'"},
		{"to alice@example.org", "to: alice@example.org"},
		{"to 'alice@example.org/*'", "to: 'alice@example.org/*'"},
		{"to '*.example.org/*'", "to: '*.example.org/*'"},
		{"ns jabber:iq:roster", "namespace: jabber:iq:roster"},
		{`xpath "//feature[@var='x'] or body"`, `xpath: "//feature[@var='x'] or body"`},
		{"dir c2s", "direction: c2s"},
	}
	for _, c := range conds {
		e := engine(t, "rules:\n  - name: r\n    when:\n      "+c.when+"\n    do: [pass]\n")
		for _, raw := range stanzas {
			for _, dir := range []inspect.Direction{inspect.ClientToServer, inspect.ServerToClient} {
				in := Input{Dir: dir, Record: record(t, raw)}
				in.Record.Dir = dir
				ruleSays := len(e.Apply(in).Matched) > 0
				r := record(t, raw)
				r.Dir = dir
				if got := mustFilter(t, c.expr).Match(r); got != ruleSays {
					t.Errorf("%s on %s %s: filter %v, rule file %v", c.expr, dir, raw, got, ruleSays)
				}
			}
		}
	}
}

func TestFilterSink(t *testing.T) {
	var got []string
	sink := NewFilterSink(inspect.SinkFunc(func(r *inspect.Record) error {
		got = append(got, r.Note()+r.Name)
		return nil
	}), mustFilter(t, "conn 1"))
	for _, r := range session(t)[:5] {
		sink.Write(r)
	}
	if strings.Join(got, "|") != "alice connects||iq|iq|switch: bound alice@localhost/r" {
		t.Errorf("sink passed %q", got)
	}
	f := mustFilter(t, "jid alice@localhost")
	recs := session(t)
	for _, r := range recs[:4] {
		f.Match(r)
	}
	if g := f.Clone(); g.Match(recs[9]) || !f.Match(recs[9]) {
		t.Error("a clone shares the state of its original")
	}
	if f.String() != "jid alice@localhost" {
		t.Errorf("String: %q", f.String())
	}
	if q := QuoteFilterValue(`it's a \ test`); q != `'it\'s a \\ test'` {
		t.Errorf("QuoteFilterValue: %s", q)
	} else if f := mustFilter(t, "type "+q); f.Match(record(t, `<message type="it's a \ test"/>`)) != true {
		t.Error("a quoted value does not read back")
	}
}

func TestFilterNeedsTree(t *testing.T) {
	for expr, want := range map[string]bool{
		"name bench-shows-nothing":                       false,
		"name message and type chat or not dir c2s":      false,
		"jid alice@localhost and conn 3":                 false,
		"origin proxy or verdict dropped or kind note":   false,
		"ns jabber:iq:roster":                            true,
		"name iq and not xpath '//x'":                    true,
		"(name message or ns urn:xmpp:ping) and dir c2s": true,
	} {
		if got := mustFilter(t, expr).NeedsTree(); got != want {
			t.Errorf("%q: NeedsTree %v, want %v", expr, got, want)
		}
	}
}

// TestFilterAsksBound: the expressions that read the connection's bound JID are the ones
// for which Match looks it up; the others are decided without it.
func TestFilterAsksBound(t *testing.T) {
	for expr, want := range map[string]bool{
		"name bench-shows-nothing":                     false,
		"name message and type chat or not dir c2s":    false,
		"conn 3 and origin proxy or verdict dropped":   false,
		"from alice@* or to bob@localhost":             false,
		"jid alice@localhost":                          true,
		"bound alice@*":                                true,
		"name iq and not xpath '//x'":                  true,
		"not (ns jabber:iq:roster or kind note)":       true,
		"kind note or (name presence and jid a@b.c/r)": true,
	} {
		if got := mustFilter(t, expr).asksBound; got != want {
			t.Errorf("%q: asksBound %v, want %v", expr, got, want)
		}
	}
}

// TestFilterWithoutBoundSameShown: a filter that does not ask for the bound JID shows the
// same records of the sessions as when Match looks it up for every record.
func TestFilterWithoutBoundSameShown(t *testing.T) {
	for _, expr := range []string{"name message", "dir s2c and name iq", "from alice@*", "conn 2", "kind note", "type normal"} {
		f := mustFilter(t, expr)
		if f.asksBound {
			t.Fatalf("%q asks for the bound JID", expr)
		}
		g := mustFilter(t, expr)
		g.asksBound = true
		for i, r := range session(t) {
			if a, b := f.Match(r), g.Match(r); a != b {
				t.Errorf("%q, record %d: shown %v without the bound JID, %v with it", expr, i, a, b)
			}
		}
	}
}
