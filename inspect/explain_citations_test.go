package inspect

import (
	"bufio"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// citationRE finds a citation in an explanation: a document, then its sections, as in
// "RFC 6121 §2.1.3, §2.2" or "XEP-0077 §3.1, §3.3" or "RFC 4616".
var citationRE = regexp.MustCompile(`(RFC \d{4}|XEP-\d{4})((?: §\d+(?:\.\d+)*)?(?:, §\d+(?:\.\d+)*)*)`)

var sectionRE = regexp.MustCompile(`§(\d+(?:\.\d+)*)`)

// loadCitationTable reads testdata/citations.txt: "RFC 6120" or "RFC 6120 7.7.1", a tab,
// a title.
func loadCitationTable(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "citations.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	table := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, title, ok := strings.Cut(line, "\t")
		if !ok || title == "" {
			t.Fatalf("citations.txt:%d: want KEY<tab>TITLE: %q", n, line)
		}
		table[key] = title
	}
	return table
}

// explainCorpus returns records that reach every branch of the catalogue that cites a
// document: hand-written stanzas for the branches, and one per entry of the tables
// (conditions, features, namespaces).
func explainCorpus(t *testing.T) []*Record {
	c, s := ClientToServer, ServerToClient
	var recs []*Record
	add := func(dir Direction, xml string) *Record {
		r := rec(t, dir, xml)
		recs = append(recs, r)
		return r
	}
	for _, raw := range []string{
		`<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`,
		`<stream:stream to='localhost' xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`,
	} {
		recs = append(recs, &Record{Kind: KindStreamOpen, Dir: c, Raw: []byte(raw)})
	}
	recs = append(recs,
		&Record{Kind: KindStreamClose, Dir: c, Raw: []byte("</stream:stream>")},
		&Record{Kind: KindWhitespace, Dir: c, Raw: []byte(" ")},
		(&Record{Kind: KindError, Dir: c}).WithErr(&StreamError{Condition: "not-well-formed"}),
	)
	add(s, `<stream:features xmlns:stream='http://etherx.jabber.org/streams'/>`)
	var feats strings.Builder
	for k := range features {
		ns, local, _ := strings.Cut(k, " ")
		feats.WriteString("<" + local + " xmlns='" + ns + "'/>")
	}
	add(s, `<stream:features xmlns:stream='http://etherx.jabber.org/streams'>`+feats.String()+`</stream:features>`)
	for cond := range streamConditions {
		add(s, `<stream:error xmlns:stream='http://etherx.jabber.org/streams'><`+cond+` xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>`)
	}
	for _, x := range []string{"starttls", "proceed", "failure"} {
		add(c, `<`+x+` xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
	}
	for _, m := range []string{"PLAIN", "SCRAM-SHA-1", "ANONYMOUS", "EXTERNAL", "DIGEST-MD5", "X-OTHER"} {
		add(c, `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='`+m+`'>=</auth>`)
	}
	for _, x := range []string{"challenge", "response", "success", "abort"} {
		add(c, `<`+x+` xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`)
	}
	for cond := range saslConditions {
		add(s, `<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><`+cond+`/></failure>`)
	}
	add(c, `<compress xmlns='http://jabber.org/protocol/compress'/>`)
	for cond := range stanzaConditions {
		for _, typ := range []string{"cancel", "modify", "auth", "wait", "continue"} {
			add(s, `<iq type='error' id='e'><error type='`+typ+`' code='400'><`+cond+` xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`)
		}
	}
	add(s, `<message type='error'/>`)
	add(s, `<presence type='error'><error type='cancel'><gone xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>`)
	for _, x := range []string{
		`<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`,
		`<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r</resource></bind></iq>`,
		`<iq type='set' id='s'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>`,
		`<iq type='get' id='r'><query xmlns='jabber:iq:roster'/></iq>`,
		`<iq type='set' id='r'><query xmlns='jabber:iq:roster'><item jid='a@b'/></query></iq>`,
		`<iq type='set' id='r'><query xmlns='jabber:iq:roster'><item jid='a@b' subscription='remove'/></query></iq>`,
		`<iq type='get' id='g'><query xmlns='jabber:iq:register'/></iq>`,
		`<iq type='set' id='g'><query xmlns='jabber:iq:register'><username>u</username></query></iq>`,
		`<iq type='set' id='g'><query xmlns='jabber:iq:register'><remove/></query></iq>`,
		`<iq type='get' id='a'><query xmlns='jabber:iq:auth'/></iq>`,
		`<iq type='set' id='a'><query xmlns='jabber:iq:auth'><username>u</username><resource>r</resource></query></iq>`,
		`<iq type='get' id='d'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
		`<iq type='get' id='d'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`,
		`<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>`,
		`<iq type='get' id='v'><query xmlns='jabber:iq:version'/></iq>`,
		`<iq type='get' id='v'><vCard xmlns='vcard-temp'/></iq>`,
		`<iq type='get' id='x'><query xmlns='urn:example'/></iq>`,
		`<iq type='get' id='x'/>`,
		`<iq type='bogus' id='x'><query xmlns='urn:example'/></iq>`,
		`<presence/>`, `<presence to='a@b/r'><show>away</show></presence>`, `<presence to='r@muc/n'><x xmlns='http://jabber.org/protocol/muc'/></presence>`,
		`<presence type='unavailable'/>`,
		`<message to='a@b' type='chat'><body>x</body></message>`, `<message type='bogus'/>`,
	} {
		add(c, x)
	}
	for _, x := range []string{
		`<iq type='result' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>a@b/r</jid></bind></iq>`,
		`<iq type='result' id='r'><query xmlns='jabber:iq:roster'/></iq>`,
		`<iq type='set' id='r'><query xmlns='jabber:iq:roster'><item jid='a@b' ask='subscribe'/></query></iq>`,
		`<iq type='result' id='g'><query xmlns='jabber:iq:register'><registered/></query></iq>`,
		`<iq type='result' id='g'><query xmlns='jabber:iq:register'><username/></query></iq>`,
		`<iq type='result' id='a'><query xmlns='jabber:iq:auth'><username/></query></iq>`,
		`<iq type='result' id='d'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`,
		`<iq type='result' id='d'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>`,
		`<iq type='result' id='v'><query xmlns='jabber:iq:version'/></iq>`,
		`<iq type='result' id='x'><query xmlns='urn:example'/></iq>`,
		`<iq type='result' id='x'/>`,
		`<presence from='a@b/r'><priority>1</priority><delay xmlns='urn:xmpp:delay' stamp='s'/><x xmlns='jabber:x:delay' stamp='s'/></presence>`,
		`<presence from='a@b/r' type='unavailable'/>`,
	} {
		add(s, x)
	}
	for _, typ := range []string{"subscribe", "subscribed", "unsubscribe", "unsubscribed", "probe", "bogus"} {
		add(s, `<presence type='`+typ+`'/>`)
	}
	for _, typ := range []string{"normal", "groupchat", "headline"} {
		add(s, `<message type='`+typ+`'><body>x</body></message>`)
	}
	add(s, `<message><composing xmlns='http://jabber.org/protocol/chatstates'/></message>`)
	add(s, `<message><x xmlns='jabber:x:event'><composing/></x></message>`)
	for ns := range knownNamespaces {
		add(s, `<message><body>x</body><x xmlns='`+ns+`'/></message>`)
		add(s, `<x xmlns='`+ns+`'/>`)
	}
	// Empty results that the iq tracker matched to their requests.
	var tracked []*Record
	tr := NewIQTracker(SinkFunc(func(r *Record) error { tracked = append(tracked, r); return nil }), 0)
	conn := &ConnInfo{ID: 1}
	for _, pair := range [][2]string{
		{`<iq type='set' id='1'><query xmlns='jabber:iq:register'><username>u</username></query></iq>`, `<iq type='result' id='1'/>`},
		{`<iq type='set' id='2'><query xmlns='jabber:iq:register'><remove/></query></iq>`, `<iq type='result' id='2'/>`},
		{`<iq type='set' id='3' to='localhost'><query xmlns='jabber:iq:auth'><username>U</username><resource>r</resource></query></iq>`, `<iq type='result' id='3'/>`},
		{`<iq type='set' id='4'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>`, `<iq type='result' id='4'/>`},
		{`<iq type='set' id='5'><query xmlns='jabber:iq:roster'><item jid='a@b'/></query></iq>`, `<iq type='result' id='5'/>`},
		{`<iq type='set' id='6'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r</resource></bind></iq>`, `<iq type='result' id='6'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>a@b/r</jid></bind></iq>`},
		{`<iq type='set' id='7'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`, `<iq type='result' id='7'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>`},
		{`<iq type='set' id='8'><x xmlns='urn:example'/></iq>`, `<iq type='result' id='8'/>`},
	} {
		req, ans := rec(t, c, pair[0]), rec(t, s, pair[1])
		req.Conn, ans.Conn = conn, conn
		tr.Write(req)
		tr.Write(ans)
	}
	push, ack := rec(t, s, `<iq type='set' id='9'><query xmlns='jabber:iq:roster'><item jid='a@b'/></query></iq>`), rec(t, c, `<iq type='result' id='9'/>`)
	push.Conn, ack.Conn = conn, conn
	tr.Write(push)
	tr.Write(ack)
	return append(recs, tracked...)
}

// catalogueLiterals returns the document names and the section numbers written in the
// string literals of the catalogue's source (explain*.go), so that the test can require
// the corpus to produce each of them.
func catalogueLiterals(t *testing.T) (docs, sections map[string]bool) {
	t.Helper()
	files, err := filepath.Glob("explain*.go")
	if err != nil {
		t.Fatal(err)
	}
	docs, sections = map[string]bool{}, map[string]bool{}
	fset := token.NewFileSet()
	docRE := regexp.MustCompile(`RFC \d{4}|XEP-\d{4}`)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			for _, d := range docRE.FindAllString(s, -1) {
				docs[d] = true
			}
			for _, m := range sectionRE.FindAllStringSubmatch(s, -1) {
				sections[m[1]] = true
			}
			return true
		})
	}
	if len(docs) < 10 || len(sections) < 50 {
		t.Fatalf("found only %d documents and %d sections in the catalogue's source", len(docs), len(sections))
	}
	return docs, sections
}

// TestExplainCitations checks every RFC and XEP section that the explain catalogue cites
// against testdata/citations.txt, a table made from the documents' tables of contents: a
// wrong section number (7.6.1 for a client-chosen resource, which is 7.7.1) or a document
// that does not exist fails here. The corpus must produce every document and section
// written in the catalogue's source, so that no citation escapes the check.
func TestExplainCitations(t *testing.T) {
	table := loadCitationTable(t)
	srcDocs, srcSections := catalogueLiterals(t)
	gotDocs, gotSections := map[string]bool{}, map[string]bool{}
	var bad []string
	for _, r := range explainCorpus(t) {
		ex := Explain(r)
		for _, m := range citationRE.FindAllStringSubmatch(ex, -1) {
			doc := m[1]
			gotDocs[doc] = true
			if _, ok := table[doc]; !ok {
				bad = append(bad, doc+" (not in the table) in: "+ex)
			}
			for _, sm := range sectionRE.FindAllStringSubmatch(m[2], -1) {
				gotSections[sm[1]] = true
				if _, ok := table[doc+" "+sm[1]]; !ok {
					bad = append(bad, doc+" §"+sm[1]+" in: "+ex)
				}
			}
		}
		// A section sign the pattern did not attribute to a document is a citation the
		// table cannot check.
		if n, m := strings.Count(ex, "§"), len(sectionRE.FindAllString(strings.Join(citationRE.FindAllString(ex, -1), " "), -1)); n != m {
			bad = append(bad, "a section without its document in: "+ex)
		}
	}
	sort.Strings(bad)
	for i, b := range bad {
		if i > 0 && b == bad[i-1] {
			continue
		}
		t.Errorf("not a valid citation: %s", b)
	}
	for d := range srcDocs {
		if !gotDocs[d] {
			t.Errorf("the catalogue's source cites %s, but the corpus never produced it: add a stanza that does", d)
		}
	}
	for s := range srcSections {
		if !gotSections[s] {
			t.Errorf("the catalogue's source cites §%s, but the corpus never produced it: add a stanza that does", s)
		}
	}
}

// TestExplainAchievements: an empty result says what the request it answers achieved,
// when the iq tracker matched it; a roster result is never a push, in either direction.
func TestExplainAchievements(t *testing.T) {
	byID := map[string]string{}
	for _, r := range explainCorpus(t) {
		if r.answersReq() != nil || (r.Kind == KindStanza && r.Attr("type") == "result" && r.Attr("id") >= "1" && r.Attr("id") <= "9") {
			byID[r.Attr("id")] = Explain(r)
		}
	}
	for id, want := range map[string][]string{
		"1": {"Registration done", "can log in", "XEP-0077 §3.1"},
		"2": {"Account removed", "XEP-0077 §3.2"},
		"3": {"Legacy login done", "this connection is now u@localhost/r", "XEP-0078 §3.1"},
		"4": {"Session established", "RFC 3921 §3"},
		"5": {"Roster set done", "RFC 6121 §2.1.5"},
		"6": {"online as the full JID a@b/r", "RFC 6120 §7.7.1"},
		"7": {"without a JID", "RFC 6120 §7.6.1"},
		"8": {"the set with id '8' (<x xmlns='urn:example'/>) succeeded"},
		"9": {"Roster push acknowledged", "RFC 6121 §2.1.6"},
	} {
		for _, w := range want {
			if !strings.Contains(byID[id], w) {
				t.Errorf("result %s: %q lacks %q", id, byID[id], w)
			}
		}
	}
	// A roster result read as the client's (a one-way transcript) is still a result.
	for _, dir := range []Direction{ClientToServer, ServerToClient, DirNone} {
		r := rec(t, dir, `<iq type='result' id='r'><query xmlns='jabber:iq:roster'><item jid='a@b'/></query></iq>`)
		if ex := Explain(r); !strings.HasPrefix(ex, "Roster result: ") {
			t.Errorf("dir %v: %s", dir, ex)
		}
	}
	// A client-chosen resource cites the client-submitted case.
	r := rec(t, ClientToServer, `<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>telnet</resource></bind></iq>`)
	if ex := Explain(r); !strings.Contains(ex, "RFC 6120 §7.7.1") || strings.Contains(ex, "7.6.1") {
		t.Errorf("client-chosen resource: %s", ex)
	}
}
