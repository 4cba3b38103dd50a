package rules

import (
	"strings"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

func TestActions(t *testing.T) {
	chat := `<message from='dana@localhost/Home' to='mr_praline@localhost' type='chat' id='jcl_52'><thread>t1</thread><body>the Norwegian Blue is a parrot</body><x xmlns='jabber:x:event'><composing/></x></message>`
	register := `<iq type='set' id='r1' to='localhost'><query xmlns='jabber:iq:register'><username>Mr_Praline</username></query></iq>`
	roster := `<iq type='get' id='roster_1'><query xmlns='jabber:iq:roster'/></iq>`
	cases := []struct {
		name     string
		do       string
		in       Input
		verdict  Verdict
		replaced string // "" : unchanged
		inject   []string
		injDir   inspect.Direction
		before   bool
		delay    time.Duration
		tags     []inspect.Tag
		hide     bool
	}{
		{name: "pass", do: `[pass]`, in: s2c(t, chat)},
		{name: "drop", do: `[drop]`, in: c2s(t, chat), verdict: Drop},
		{name: "drop true", do: `[drop: true]`, in: c2s(t, chat), verdict: Drop},
		{name: "hide", do: `[hide]`, in: c2s(t, chat), hide: true},
		{name: "delay", do: `[delay: 2s]`, in: c2s(t, `<presence/>`), delay: 2 * time.Second},
		{name: "delay mapping", do: `[delay: {duration: 150ms}]`, in: c2s(t, `<presence/>`), delay: 150 * time.Millisecond},
		{name: "tag", do: `[tag: registration]`, in: c2s(t, register), tags: []inspect.Tag{{Label: "registration"}}},
		{name: "tag color", do: `[{tag: {label: reg, color: red}}]`, in: c2s(t, register), tags: []inspect.Tag{{Label: "reg", Color: "red"}}},
		{
			name: "reject iq", do: `[{reject: {condition: not-allowed, text: "Registration is closed"}}]`, in: c2s(t, register),
			verdict: Reject, injDir: inspect.ServerToClient,
			inject: []string{`<iq id='r1' type='error' from='localhost'><error code='405' type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>Registration is closed</text></error></iq>`},
		},
		{
			name: "reject default type wait", do: `[reject: resource-constraint]`, in: c2s(t, roster),
			verdict: Reject, injDir: inspect.ServerToClient,
			inject: []string{`<iq id='roster_1' type='error'><error code='500' type='wait'><resource-constraint xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`},
		},
		{
			name: "reject type override, s2c message", do: `[{reject: {condition: internal-server-error, type: wait}}]`, in: s2c(t, chat),
			verdict: Reject, injDir: inspect.ClientToServer,
			inject: []string{`<message id='jcl_52' type='error' from='mr_praline@localhost' to='dana@localhost/Home'><error code='500' type='wait'><internal-server-error xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>`},
		},
		{name: "reject an error is a drop", do: `[reject: bad-request]`, in: c2s(t, `<iq type='error' id='e'/>`), verdict: Drop},
		{name: "reject an iq result is a drop", do: `[reject: bad-request]`, in: s2c(t, `<iq type='result' id='e'/>`), verdict: Drop},
		{name: "reject non-stanza is a drop", do: `[reject: not-allowed]`, in: c2s(t, `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'/>`), verdict: Drop},
		{
			name: "set-attr on stanza", do: `[{set-attr: {name: to, value: "bob@localhost"}}]`, in: c2s(t, `<message to='alice@localhost'><body>hi</body></message>`),
			replaced: `<message to='bob@localhost'><body>hi</body></message>`,
		},
		{
			name: "set-attr new, escaped", do: `[{set-attr: {name: note, value: "a<b & 'c'"}}]`, in: c2s(t, `<presence/>`),
			replaced: `<presence note='a&lt;b &amp; &apos;c&apos;'/>`,
		},
		{name: "set-attr same value is no change", do: `[{set-attr: {name: type, value: chat}}]`, in: s2c(t, chat)},
		{
			name: "set-attr xml:lang", do: `[{set-attr: {name: "xml:lang", value: de}}]`, in: c2s(t, `<presence/>`),
			replaced: `<presence xml:lang='de'/>`,
		},
		{
			name: "set-attr by xpath", do: `[{set-attr: {xpath: "ev:x/ev:composing", name: id, value: "7"}}]`, in: s2c(t, chat),
			replaced: strings.Replace(chat, `<composing/>`, `<composing id='7'/>`, 1),
		},
		{
			name: "remove-attr", do: `[{remove-attr: {name: id}}]`, in: s2c(t, chat),
			replaced: strings.Replace(chat, ` id='jcl_52'`, ``, 1),
		},
		{name: "remove-attr absent", do: `[{remove-attr: {name: nope}}]`, in: s2c(t, chat)},
		{
			name: "replace-text", do: `[{replace-text: {xpath: body, regexp: "(?i)parrot", with: "budgie"}}]`, in: s2c(t, chat),
			replaced: strings.Replace(chat, `parrot`, `budgie`, 1),
		},
		{
			name: "replace-text capture groups", do: `[{replace-text: {xpath: body, regexp: "the (\\w+) Blue", with: "a $1 Red"}}]`, in: s2c(t, chat),
			replaced: strings.Replace(chat, `the Norwegian Blue`, `a Norwegian Red`, 1),
		},
		{
			name: "replace-text attribute", do: `[{replace-text: {xpath: "@from", regexp: "/.*", with: ""}}]`, in: s2c(t, chat),
			replaced: strings.Replace(chat, `dana@localhost/Home`, `dana@localhost`, 1),
		},
		{
			name: "replace-text escapes", do: `[{replace-text: {xpath: "body/text()", regexp: "parrot", with: "<b>&"}}]`, in: s2c(t, chat),
			replaced: strings.Replace(chat, `parrot`, `&lt;b&gt;&amp;`, 1),
		},
		{name: "replace-text no match", do: `[{replace-text: {xpath: body, regexp: "budgie", with: "x"}}]`, in: s2c(t, chat)},
		{
			name: "remove element", do: `[remove: "ev:x"]`, in: s2c(t, chat),
			replaced: strings.Replace(chat, `<x xmlns='jabber:x:event'><composing/></x>`, ``, 1),
		},
		{
			name: "remove several", do: `[{remove: {xpath: "thread | body"}}]`, in: s2c(t, chat),
			replaced: `<message from='dana@localhost/Home' to='mr_praline@localhost' type='chat' id='jcl_52'><x xmlns='jabber:x:event'><composing/></x></message>`,
		},
		{
			name: "remove attribute", do: `[remove: "@id"]`, in: s2c(t, chat),
			replaced: strings.Replace(chat, ` id='jcl_52'`, ``, 1),
		},
		{name: "remove stanza itself is ignored", do: `[remove: "/message"]`, in: s2c(t, chat)},
		{name: "remove nothing", do: `[remove: "r:query"]`, in: s2c(t, chat)},
		{
			name: "insert into stanza inherits namespace", do: `[insert: "<body>added</body>"]`, in: c2s(t, `<message to='a@b'/>`),
			replaced: `<message to='a@b'><body>added</body></message>`,
		},
		{
			name: "insert with own namespace", do: `[insert: "<x xmlns='jabber:x:event'><composing/></x>"]`, in: c2s(t, `<message to='a@b'/>`),
			replaced: `<message to='a@b'><x xmlns='jabber:x:event'><composing/></x></message>`,
		},
		{
			name: "insert by xpath inherits the parent's namespace", do: `[{insert: {xpath: "r:query", xml: "<email>x@y</email>"}}]`, in: c2s(t, register),
			replaced: `<iq type='set' id='r1' to='localhost'><query xmlns='jabber:iq:register'><username>Mr_Praline</username><email>x@y</email></query></iq>`,
		},
		{
			name: "insert template", do: `[insert: "<body>id {{.ID}} from {{.From}}</body>"]`, in: c2s(t, `<message id='a&amp;b' from='x@y'/>`),
			replaced: `<message id='a&amp;b' from='x@y'><body>id a&amp;b from x@y</body></message>`,
		},
		{
			name: "replace", do: `[replace: "<message to='{{.From}}' id='{{.ID}}' type='{{.Type}}'><body>censored</body></message>"]`, in: s2c(t, chat),
			replaced: `<message to='dana@localhost/Home' id='jcl_52' type='chat'><body>censored</body></message>`,
		},
		{
			name: "replace with xpath", do: `[{replace: {template: "<presence><status>{{.XPath \"string(body)\"}}</status></presence>"}}]`, in: s2c(t, chat),
			replaced: `<presence><status>the Norwegian Blue is a parrot</status></presence>`,
		},
		{
			name: "replace escapes data", do: `[replace: "<message><body>{{.ID}}</body></message>"]`, in: c2s(t, `<message id='&lt;x&gt;&apos;'/>`),
			replaced: `<message><body>&lt;x&gt;'</body></message>`,
		},
		{
			name: "inject to client after", do: `[{inject: {to: client, xml: "<message><body>Welcome</body></message>"}}]`, in: s2c(t, `<iq type='result' id='b'/>`),
			injDir: inspect.ServerToClient, inject: []string{`<message id='stanzascope-inject-1'><body>Welcome</body></message>`},
		},
		{
			name: "inject to server before, template", do: `[{inject: {to: server, when: before, xml: "<presence to='{{.To}}'/>"}}]`, in: c2s(t, chat),
			injDir: inspect.ClientToServer, before: true, inject: []string{`<presence to='mr_praline@localhost' id='stanzascope-inject-1'/>`},
		},
		{
			name: "inject bound", do: `[{inject: {to: client, xml: "<message to='{{.Bound}}'/>"}}]`,
			in:     Input{Dir: inspect.ClientToServer, Record: record(t, `<presence/>`), BoundJID: "alice@localhost/tel"},
			injDir: inspect.ServerToClient, inject: []string{`<message to='alice@localhost/tel' id='stanzascope-inject-1'/>`},
		},
		{
			name: "inject with if", do: `[{inject: {to: client, xml: "<message{{if .Bound}} to='{{.Bound}}'{{end}}/>"}}]`, in: c2s(t, `<presence/>`),
			injDir: inspect.ServerToClient, inject: []string{`<message id='stanzascope-inject-1'/>`},
		},
		{
			name: "several actions in order", do: `[{remove: "thread"}, {set-attr: {name: type, value: normal}}, {tag: x}, delay: 1s]`, in: s2c(t, chat),
			replaced: `<message from='dana@localhost/Home' to='mr_praline@localhost' type='normal' id='jcl_52'><body>the Norwegian Blue is a parrot</body><x xmlns='jabber:x:event'><composing/></x></message>`,
			tags:     []inspect.Tag{{Label: "x"}}, delay: time.Second,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := engine(t, nsHeader+"    do: "+tc.do+"\n")
			orig := string(tc.in.Record.Raw)
			out := e.Apply(tc.in)
			if out.Verdict != tc.verdict {
				t.Errorf("verdict %v, want %v", out.Verdict, tc.verdict)
			}
			if string(out.Replaced) != tc.replaced {
				t.Errorf("replaced:\n got %s\nwant %s", out.Replaced, tc.replaced)
			}
			if len(out.Inject) != len(tc.inject) {
				t.Fatalf("inject %d stanzas, want %d: %+v", len(out.Inject), len(tc.inject), out.Inject)
			}
			for i, inj := range out.Inject {
				if string(inj.Raw) != tc.inject[i] || inj.Dir != tc.injDir || inj.Before != tc.before {
					t.Errorf("inject[%d] = %s %s before=%v\nwant        %s %s before=%v", i, inj.Dir, inj.Raw, inj.Before, tc.injDir, tc.inject[i], tc.before)
				}
			}
			if out.Delay != tc.delay || out.Hide != tc.hide {
				t.Errorf("delay %v hide %v, want %v %v", out.Delay, out.Hide, tc.delay, tc.hide)
			}
			if len(out.Tags) != len(tc.tags) || (len(tc.tags) > 0 && out.Tags[0] != tc.tags[0]) {
				t.Errorf("tags %+v, want %+v", out.Tags, tc.tags)
			}
			if len(out.Matched) != 1 || out.Matched[0] != "the-rule" {
				t.Errorf("matched %v", out.Matched)
			}
			if string(tc.in.Record.Raw) != orig {
				t.Errorf("the record was changed")
			}
			// The cached tree of the record must be untouched: a second run gives the same.
			if out2 := e.Apply(tc.in); string(out2.Replaced) != string(out.Replaced) {
				t.Errorf("second run differs: %s", out2.Replaced)
			}
			for _, b := range append([][]byte{out.Replaced}, injRaw(out)...) {
				if len(b) > 0 {
					if _, err := inspect.ParseFragment(string(b)); err != nil {
						t.Errorf("not well-formed: %s: %v", b, err)
					}
				}
			}
		})
	}
}

func injRaw(o Outcome) [][]byte {
	var out [][]byte
	for _, i := range o.Inject {
		out = append(out, i.Raw)
	}
	return out
}

func TestFirstMatchWinsAndContinue(t *testing.T) {
	src := `rules:
  - name: tag-all
    do: [{tag: seen}, continue]
  - name: slow-presence
    when: {element: presence}
    do: [delay: 1s, continue]
  - name: hide-presence
    when: {element: presence}
    do: [hide]
  - name: never
    when: {element: presence}
    do: [drop]
  - name: body-rewrite
    when: {element: message}
    do: [{replace-text: {xpath: body, regexp: a, with: b}}, continue]
  - name: sees-rewrite
    when: {element: message, xpath: "body = 'bbb'"}
    do: [{set-attr: {name: seen, value: "yes"}}]
`
	e := engine(t, src)
	out := e.Apply(c2s(t, `<presence/>`))
	if got := strings.Join(out.Matched, ","); got != "tag-all,slow-presence,hide-presence" {
		t.Fatalf("matched %s", got)
	}
	if !out.Hide || out.Delay != time.Second || out.Verdict != Forward || len(out.Tags) != 1 {
		t.Fatalf("outcome %+v", out)
	}
	out = e.Apply(c2s(t, `<message><body>aaa</body></message>`))
	if got := strings.Join(out.Matched, ","); got != "tag-all,body-rewrite,sees-rewrite" {
		t.Fatalf("matched %s", got)
	}
	if string(out.Replaced) != `<message seen='yes'><body>bbb</body></message>` {
		t.Fatalf("replaced %s", out.Replaced)
	}
	out = e.Apply(c2s(t, `<iq type='get' id='1'/>`))
	if got := strings.Join(out.Matched, ","); got != "tag-all" {
		t.Fatalf("matched %s", got)
	}
	counts := e.Counts()
	want := map[string]uint64{"tag-all": 3, "slow-presence": 1, "hide-presence": 1, "never": 0, "body-rewrite": 1, "sees-rewrite": 1}
	for _, c := range counts {
		if c.Count != want[c.Name] {
			t.Errorf("count %s = %d, want %d", c.Name, c.Count, want[c.Name])
		}
	}
}

func TestDropStopsContinue(t *testing.T) {
	e := engine(t, "rules:\n  - {name: a, do: [drop, continue]}\n  - {name: b, do: [tag: x]}\n")
	out := e.Apply(c2s(t, `<presence/>`))
	if out.Verdict != Drop || len(out.Matched) != 1 || len(out.Tags) != 0 {
		t.Fatalf("%+v", out)
	}
}

func TestServerStreamNamespace(t *testing.T) {
	e := engine(t, "rules:\n  - name: a\n    do: [insert: \"<body>x</body>\", {inject: {to: client, xml: \"<message/>\"}}]\n")
	rec := record(t, `<message xmlns='jabber:server' to='a@b'/>`)
	rec.Header = &inspect.Header{ContentNS: inspect.NSServer}
	rec.Raw = []byte(`<message to='a@b'/>`)
	out := e.Apply(Input{Dir: inspect.ClientToServer, Record: rec})
	if string(out.Replaced) != `<message to='a@b'><body>x</body></message>` {
		t.Fatalf("replaced %s", out.Replaced)
	}
	if string(out.Inject[0].Raw) != `<message id='stanzascope-inject-1'/>` {
		t.Fatalf("inject %s", out.Inject[0].Raw)
	}
}

func TestKeepaliveRules(t *testing.T) {
	e := engine(t, "rules:\n  - {name: ka, when: {keepalive: true, direction: s2c}, do: [hide]}\n  - {name: other, do: [tag: x]}\n")
	if out := e.Apply(s2c(t, "\n")); !out.Hide || out.Matched[0] != "ka" {
		t.Fatalf("%+v", out)
	}
	if out := e.Apply(c2s(t, "\n")); len(out.Matched) != 0 {
		t.Fatalf("%+v", out)
	}
}
