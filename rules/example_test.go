package rules_test

import (
	"fmt"
	"strings"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/rules"
)

// A rule file refuses in-band registration; Apply says what to do with a stanza.
func Example() {
	rs, err := rules.Parse("example.yaml", []byte(`
namespaces: {r: "jabber:iq:register"}
rules:
  - name: block-registration
    when: {direction: c2s, element: iq, type: set, xpath: "r:query/r:username"}
    do:
      - reject: {condition: not-allowed, text: "Registration is closed"}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	e, err := rules.New(rs)
	if err != nil {
		fmt.Println(err)
		return
	}
	raw := `<iq type='set' id='reg1'><query xmlns='jabber:iq:register'><username>u</username></query></iq>`
	rd := inspect.NewFragmentReader(strings.NewReader(raw), nil, inspect.Limits{})
	ev, err := rd.Next()
	if err != nil {
		fmt.Println(err)
		return
	}
	out := e.Apply(rules.Input{Dir: inspect.ClientToServer, Record: ev.Record()})
	fmt.Println(out.Verdict, out.Matched)
	fmt.Println(out.Inject[0].Dir, string(out.Inject[0].Raw))
	// Output:
	// rejected [block-registration]
	// s2c <iq id='reg1' type='error'><error code='405' type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>Registration is closed</text></error></iq>
}

// Problems name the file, line and column.
func ExampleParse_problems() {
	_, err := rules.Parse("bad.yaml", []byte("rules:\n  - name: x\n    when: {elemnt: iq}\n    do: [explode]\n"))
	fmt.Println(err)
	// Output:
	// bad.yaml:3:12: unknown key "elemnt" in when (known keys: bound, direction, element, from, keepalive, namespace, to, type, xpath)
	// bad.yaml:4:10: unknown action "explode" (known actions: continue, delay, drop, hide, inject, insert, pass, reject, remove, remove-attr, replace, replace-text, set-attr, tag)
}
