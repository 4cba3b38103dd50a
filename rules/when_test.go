package rules

import (
	"testing"

	"github.com/stanzascope/stanzascope/inspect"
)

const nsHeader = `namespaces:
  r: "jabber:iq:register"
  disco: "http://jabber.org/protocol/disco#info"
  ping: "urn:xmpp:ping"
  ev: "jabber:x:event"
  sasl: "urn:ietf:params:xml:ns:xmpp-sasl"
rules:
  - name: the-rule
`

func TestConditions(t *testing.T) {
	register := `<iq type='set' id='r1' to='localhost'><query xmlns='jabber:iq:register'><username>Mr_Praline</username><password>x</password></query></iq>`
	chat := `<message from='dana@localhost/Home' to='Mr_Praline@localhost' type='chat' id='jcl_52'><thread>t1</thread><body>Oh yes, the Norwegian Blue</body><x xmlns='jabber:x:event'><composing/></x></message>`
	presence := `<presence/>`
	ping := `<iq type='get' id='p1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`
	auth := `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAHNlY3JldA==</auth>`
	cases := []struct {
		name  string
		when  string
		dir   inspect.Direction
		raw   string
		bound string
		want  bool
	}{
		{"no conditions", `{}`, inspect.ClientToServer, chat, "", true},
		{"direction c2s", `{direction: client-to-server}`, inspect.ClientToServer, chat, "", true},
		{"direction c2s short", `{direction: c2s}`, inspect.ServerToClient, chat, "", false},
		{"direction s2c", `{direction: server-to-client}`, inspect.ServerToClient, chat, "", true},
		{"direction any", `{direction: any}`, inspect.ServerToClient, chat, "", true},
		{"element", `{element: message}`, inspect.ClientToServer, chat, "", true},
		{"element no", `{element: iq}`, inspect.ClientToServer, chat, "", false},
		{"element list", `{element: [iq, presence]}`, inspect.ClientToServer, presence, "", true},
		{"element sasl", `{element: auth}`, inspect.ClientToServer, auth, "", true},
		{"type", `{type: chat}`, inspect.ClientToServer, chat, "", true},
		{"type no", `{type: groupchat}`, inspect.ClientToServer, chat, "", false},
		{"type list", `{type: [get, set]}`, inspect.ClientToServer, register, "", true},
		{"type default presence", `{element: presence, type: available}`, inspect.ClientToServer, presence, "", true},
		{"type default message", `{type: normal}`, inspect.ClientToServer, `<message><body>x</body></message>`, "", true},
		{"from bare", `{from: "dana@localhost"}`, inspect.ServerToClient, chat, "", true},
		{"from wildcard", `{from: "*@localhost"}`, inspect.ServerToClient, chat, "", true},
		{"from full", `{from: "dana@localhost/Home"}`, inspect.ServerToClient, chat, "", true},
		{"from other resource", `{from: "dana@localhost/Work"}`, inspect.ServerToClient, chat, "", false},
		{"from absent", `{from: "*@localhost"}`, inspect.ClientToServer, register, "", false},
		{"to domain", `{to: localhost}`, inspect.ClientToServer, register, "", true},
		{"to domain not user", `{to: localhost}`, inspect.ClientToServer, chat, "", false},
		{"to user", `{to: "mr_praline@localhost"}`, inspect.ClientToServer, chat, "", true},
		{"bound", `{bound: "alice@localhost/*"}`, inspect.ClientToServer, chat, "alice@localhost/phone", true},
		{"bound other", `{bound: "alice@localhost/*"}`, inspect.ClientToServer, chat, "bob@localhost/phone", false},
		{"bound none yet", `{bound: "alice@localhost"}`, inspect.ClientToServer, chat, "", false},
		{"namespace child", `{namespace: "jabber:iq:register"}`, inspect.ClientToServer, register, "", true},
		{"namespace second child", `{namespace: "jabber:x:event"}`, inspect.ClientToServer, chat, "", true},
		{"namespace grandchild no", `{namespace: "urn:other"}`, inspect.ClientToServer, chat, "", false},
		{"namespace top-level", `{namespace: "urn:ietf:params:xml:ns:xmpp-sasl"}`, inspect.ClientToServer, auth, "", true},
		{"namespace list", `{namespace: ["urn:a", "urn:xmpp:ping"]}`, inspect.ClientToServer, ping, "", true},
		{"xpath prefixed child", `{xpath: "r:query/r:username"}`, inspect.ClientToServer, register, "", true},
		{"xpath wrong ns", `{xpath: "disco:query"}`, inspect.ClientToServer, register, "", false},
		{"xpath unprefixed any ns", `{xpath: "query/username"}`, inspect.ClientToServer, register, "", true},
		{"xpath absolute", `{xpath: "/iq/r:query"}`, inspect.ClientToServer, register, "", true},
		{"xpath absolute wrong root", `{xpath: "/message"}`, inspect.ClientToServer, register, "", false},
		{"xpath attribute", `{xpath: "@type = 'set'"}`, inspect.ClientToServer, register, "", true},
		{"xpath contains", `{xpath: "contains(body, 'Norwegian')"}`, inspect.ServerToClient, chat, "", true},
		{"xpath contains, entity in text", `{xpath: "contains(body, 'it&s')"}`, inspect.ServerToClient, `<message><body>what it&amp;s</body></message>`, "", true},
		{"xpath contains, entity, no", `{xpath: "contains(body, 'Swedish')"}`, inspect.ServerToClient, `<message><body>what it&apos;s</body></message>`, "", false},
		{"xpath contains across elements", `{xpath: "contains(., 'parrot')"}`, inspect.ServerToClient, `<message><body>par<b/>rot</body></message>`, "", true},
		{"xpath contains no", `{xpath: "contains(body, 'Swedish')"}`, inspect.ServerToClient, chat, "", false},
		{"xpath starts-with", `{xpath: "starts-with(@from, 'dana@')"}`, inspect.ServerToClient, chat, "", true},
		{"xpath count", `{xpath: "count(*) = 3"}`, inspect.ServerToClient, chat, "", true},
		{"xpath count no", `{xpath: "count(*) > 3"}`, inspect.ServerToClient, chat, "", false},
		{"xpath descendant", `{xpath: "//ev:composing"}`, inspect.ServerToClient, chat, "", true},
		{"xpath namespace-uri", `{xpath: "namespace-uri(*[1]) = 'urn:xmpp:ping'"}`, inspect.ClientToServer, ping, "", true},
		{"xpath local-name", `{xpath: "local-name(*) = 'ping'"}`, inspect.ClientToServer, ping, "", true},
		{"xpath not", `{xpath: "not(body)"}`, inspect.ClientToServer, ping, "", true},
		{"xpath number true", `{xpath: "count(*)"}`, inspect.ClientToServer, ping, "", true},
		{"xpath number false", `{xpath: "count(body)"}`, inspect.ClientToServer, ping, "", false},
		{"xpath string", `{xpath: "string(body)"}`, inspect.ServerToClient, chat, "", true},
		{"xpath text()", `{xpath: "thread/text() = 't1'"}`, inspect.ServerToClient, chat, "", true},
		{"xpath string-length", `{xpath: "string-length(body) > 10"}`, inspect.ServerToClient, chat, "", true},
		{"all hold", `{direction: c2s, element: iq, type: set, namespace: "jabber:iq:register", xpath: "r:query/r:username", to: localhost}`, inspect.ClientToServer, register, "", true},
		{"one fails", `{direction: c2s, element: iq, type: get, namespace: "jabber:iq:register"}`, inspect.ClientToServer, register, "", false},
		{"keepalive", `{keepalive: true}`, inspect.ClientToServer, " \n", "", true},
		{"keepalive not stanza", `{keepalive: true}`, inspect.ClientToServer, chat, "", false},
		{"stanza rule not keepalive", `{}`, inspect.ClientToServer, " ", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := engine(t, nsHeader+"    when: "+tc.when+"\n    do: [pass]\n")
			out := e.Apply(Input{Dir: tc.dir, Record: record(t, tc.raw), BoundJID: tc.bound})
			if got := len(out.Matched) == 1; got != tc.want {
				t.Fatalf("matched = %v, want %v", got, tc.want)
			}
			if out.Verdict != Forward || out.Replaced != nil {
				t.Fatalf("pass changed the outcome: %+v", out)
			}
		})
	}
}

// TestConditionsDoNotParse checks that rules whose cheap conditions fail never build the
// tree: the record's raw bytes are broken past the start tag, so parsing would fail.
func TestCheapConditionsFirst(t *testing.T) {
	e := engine(t, nsHeader+"    when: {element: iq, type: set, xpath: \"r:query\"}\n    do: [drop]\n")
	r := record(t, `<iq type='get' id='1'><query xmlns='jabber:iq:register'/></iq>`)
	r.Raw = []byte(`<iq type='get' id='1'><broken`) // type is read from the start tag only
	if out := e.Apply(Input{Dir: inspect.ClientToServer, Record: r}); len(out.Matched) != 0 {
		t.Fatalf("matched: %+v", out)
	}
	r.Raw = []byte(`<iq type='set' id='1'><broken`) // now the tree is needed and cannot be built
	if out := e.Apply(Input{Dir: inspect.ClientToServer, Record: r}); len(out.Matched) != 0 {
		t.Fatalf("matched an unparseable stanza: %+v", out)
	}
}
