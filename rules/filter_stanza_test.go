package rules

import (
	"slices"
	"testing"

	"github.com/stanzascope/stanzascope/inspect"
)

// TestStanzaNames: the names a filter can match, and that a filter never matches a stanza
// whose name is outside them (what the proxy's breakpoints rely on to skip filters).
func TestStanzaNames(t *testing.T) {
	recs := []*inspect.Record{
		{Kind: inspect.KindStanza, Dir: inspect.ClientToServer, Name: "message", NS: inspect.NSClient, Raw: []byte("<message to='carol@localhost' type='chat'><body>hi</body></message>")},
		{Kind: inspect.KindStanza, Dir: inspect.ServerToClient, Name: "presence", NS: inspect.NSClient, Raw: []byte("<presence from='carol@localhost/x'/>")},
		{Kind: inspect.KindStanza, Dir: inspect.ClientToServer, Name: "iq", NS: inspect.NSClient, Raw: []byte("<iq type='set' id='1'><query xmlns='jabber:iq:roster'/></iq>")},
	}
	for _, tc := range []struct {
		expr  string
		names []string
		all   bool
	}{
		{"name message", []string{"message"}, false},
		{"name message,iq and type chat", []string{"message", "iq"}, false},
		{"jid carol@localhost", nil, true},
		{"name message or jid carol@localhost", nil, true},
		{"name message or name presence", []string{"message", "presence"}, false},
		{"(name message or name iq) and name iq", []string{"iq"}, false},
		{"name message and name iq", nil, false},
		{"not name message", nil, true},
		{"dir s2c and (name presence)", []string{"presence"}, false},
	} {
		f, err := ParseFilter(tc.expr)
		if err != nil {
			t.Fatal(err)
		}
		names, all := f.StanzaNames()
		if all != tc.all || !slices.Equal(names, tc.names) {
			t.Errorf("%s: %v %v, want %v %v", tc.expr, names, all, tc.names, tc.all)
		}
		for _, r := range recs {
			if f.MatchStanza(r, "") && !all && !slices.Contains(names, r.Name) {
				t.Errorf("%s matches a %s outside %v", tc.expr, r.Name, names)
			}
		}
	}
}

// TestMatchStanzaRawAttrs: the conditions compare the attributes as written without
// building strings; values with entity references, missing or empty attributes, a
// repeated attribute and a start tag the scanner refuses answer as the strings would.
func TestMatchStanzaRawAttrs(t *testing.T) {
	rec := func(name, raw string) *inspect.Record {
		return &inspect.Record{Kind: inspect.KindStanza, Dir: inspect.ClientToServer, Name: name, NS: inspect.NSClient, Raw: []byte(raw)}
	}
	for _, tc := range []struct {
		expr string
		r    *inspect.Record
		want bool
	}{
		{"type chat", rec("message", "<message type='chat'/>"), true},
		{"type chat", rec("message", "<message type='ch&#97;t'/>"), true},
		{"type chat", rec("message", "<message type='groupchat'/>"), false},
		{"type normal", rec("message", "<message to='a@b'/>"), true},
		{"type normal", rec("message", "<message type=''/>"), true},
		{"type available", rec("presence", "<presence/>"), true},
		{"type chat", rec("message", "<message type='chat' type='normal'/>"), true},
		{"jid carol@localhost", rec("message", "<message to='carol@localhost/x'/>"), true},
		{"jid carol@localhost", rec("message", "<message from='CAROL@localhost'/>"), true},
		{"jid carol@localhost", rec("message", "<message from='c&#97;rol@localhost'/>"), true},
		{"jid carol@localhost", rec("message", "<message from='dave@localhost' to='bob@localhost'/>"), false},
		{"from *@localhost/phone", rec("message", "<message from='alice@localhost/phone'/>"), true},
		{"from *@localhost/phone", rec("message", "<message from='alice@localhost.'/>"), false},
		{"to localhost", rec("iq", "<iq to='localhost.' type='get'/>"), true},
		{"to localhost", rec("iq", "<iq to='a@localhost' type='get'/>"), false},
		{"to localhost and type get", rec("iq", "<iq to = \"localhost\"  type='get'>"), true},
		{"type chat", rec("message", "<message type='chat' bad><body/></message>"), true},
	} {
		f, err := ParseFilter(tc.expr)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.MatchStanza(tc.r, ""); got != tc.want {
			t.Errorf("%s on %s: %v, want %v", tc.expr, tc.r.Raw, got, tc.want)
		}
	}
}
