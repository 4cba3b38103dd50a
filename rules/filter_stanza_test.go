package rules

import (
	"slices"
	"strings"
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

// TestQuickAgreesWithSlow: on stanzas an inspect.Reader framed (whose top attributes it
// noted, as the proxy's are), every condition the quick path decides (no view of the
// record: what a breakpoint costs per stanza) gets the answer of the view, with and
// without a bound JID; and the quick path does decide the usual conditions on the usual
// stanzas.
func TestQuickAgreesWithSlow(t *testing.T) {
	stanzas := []string{
		"<message to='bob@localhost' from='alice@localhost/phone' type='chat' id='m1'><body>hi</body></message>",
		"<message to='carol@localhost/x' type='groupchat'/>",
		"<message from='CAROL@LocalHost' to='localhost.'><body/></message>",
		"<message from='c&#97;rol@localhost' type='ch&#97;t'/>",
		"<message type=''/>",
		"<message/>",
		"<presence from='alice@localhost/phone' to='bob@localhost'><show>away</show></presence>",
		"<presence type='unavailable' from='carol@localhost/a/b'/>",
		"<iq type='get' id='r1' to='localhost'><query xmlns='jabber:iq:roster'/></iq>",
		"<iq type='set' id='r2' from='localhost' to='carol@localhost/res'><query xmlns='jabber:iq:roster'/></iq>",
		"<iq type='result' id='r3' to='x@y@z'/>",
	}
	exprs := []string{
		"name message", "name iq,presence", "type chat", "type groupchat,set", "type normal",
		"type available", "from alice@localhost", "from *@localhost/phone", "from localhost",
		"to bob@*", "to localhost", "to carol@localhost/res", "jid carol@localhost",
		"jid *@localhost/x", "jid localhost", "bound alice@*", "bound carol@localhost",
		"dir c2s", "dir s2c", "kind stanza", "ns jabber:iq:roster",
		"xpath \"//body\" and not type chat", "name message and (jid CAROL@localhost or type headline)",
	}
	decided := map[fkey]bool{}
	for _, raw := range stanzas {
		r := readerRecord(t, raw)
		for _, expr := range exprs {
			f, err := ParseFilter(expr)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range conds(f.root) {
				for _, bound := range []string{"", "alice@localhost/phone", "carol@localhost/x"} {
					q, ok := n.quick(r, true, bound)
					if !ok {
						continue
					}
					decided[n.k] = true
					if s := n.slow(&fctx{r: r, stanza: true, bound: bound}); s != q {
						t.Errorf("%s on %s (bound %q): quick %v, view %v", expr, raw, bound, q, s)
					}
				}
			}
			// And the whole filter, as MatchFirst and as eval on a view only.
			for _, bound := range []string{"", "carol@localhost/x"} {
				c := &fctx{r: r, stanza: true, bound: bound}
				want := slowEval(f.root, c) == yes
				if got := MatchFirst([]*Filter{f}, r, bound) == 0; got != want {
					t.Errorf("%s on %s (bound %q): MatchFirst %v, view %v", expr, raw, bound, got, want)
				}
			}
		}
	}
	for _, k := range []fkey{kName, kType, kFrom, kTo, kJID, kBound, kDir, kKind} {
		if !decided[k] {
			t.Errorf("the quick path decided no condition of key %d", k)
		}
	}
}

// conds returns the conditions of a filter tree.
func conds(n fnode) []*fCond {
	switch n := n.(type) {
	case *fCond:
		return []*fCond{n}
	case fAnd:
		return append(conds(n.a), conds(n.b)...)
	case fOr:
		return append(conds(n.a), conds(n.b)...)
	case fNot:
		return conds(n.a)
	}
	return nil
}

// slowEval is eval with every condition decided on the view.
func slowEval(n fnode, c *fctx) tri {
	switch n := n.(type) {
	case *fCond:
		return n.slow(c)
	case fAnd:
		return min(slowEval(n.a, c), slowEval(n.b, c))
	case fOr:
		return max(slowEval(n.a, c), slowEval(n.b, c))
	case fNot:
		return yes - slowEval(n.a, c)
	}
	return no
}

// readerRecord returns the record of the stanza raw as an inspect.Reader makes it in a
// client's stream (with its top attributes noted).
func readerRecord(tb testing.TB, raw string) *inspect.Record {
	tb.Helper()
	rd := inspect.NewReader(strings.NewReader("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"+raw), inspect.DefaultLimits)
	for {
		ev, err := rd.Next()
		if err != nil {
			tb.Fatalf("reading %s: %v", raw, err)
		}
		if ev.Kind == inspect.KindStanza {
			r := ev.Record()
			r.Dir = inspect.ClientToServer
			if _, _, known := r.TopAttrRaw(inspect.TopType); !known {
				tb.Fatalf("the Reader noted no attributes of %s", raw)
			}
			return r
		}
	}
}
