package inspect_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/stanzascope/stanzascope/inspect"
)

// A raw client stream printed for a person, with explanations; the password is redacted.
func ExampleNewPretty() {
	stream := `<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>` +
		`<iq id='auth1' type='set'><query xmlns='jabber:iq:auth'><username>Mr_Praline</username><password>polly</password><resource>telnet</resource></query></iq>`
	// The redactor is the stage of the sink chain that hides credentials from every output.
	p := inspect.NewRedactor(inspect.NewPretty(os.Stdout, inspect.PrettyOptions{Explain: true}))
	if err := inspect.ReadStream(strings.NewReader(stream), inspect.ClientToServer, nil, p); err != nil {
		fmt.Println(err)
	}
	// Output:
	// C->S open
	//   # Stream header: the client opens an XML stream to localhost (RFC 6120 §4.2); no version attribute, so this is a pre-XMPP-1.0 stream: no stream features, login with jabber:iq:auth (XEP-0078) and registration with jabber:iq:register (XEP-0077)
	//   <stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>
	// C->S stanza iq set
	//   # Legacy login: the client logs in as 'Mr_Praline' with resource 'telnet' using a plaintext password (XEP-0078 §3.1; obsolete, SASL replaced it)
	//   <iq id='auth1' type='set'>
	//     <query xmlns='jabber:iq:auth'>
	//       <username>Mr_Praline</username>
	//       <password>[redacted]</password>
	//       <resource>telnet</resource>
	//     </query>
	//   </iq>
}

// The pipeline a front end builds: iq answers matched to requests, then JSON lines.
func ExampleNewIQTracker() {
	conn := &inspect.ConnInfo{ID: 1}
	tracker := inspect.NewIQTracker(inspect.NewJSON(os.Stdout, inspect.JSONOptions{}), 0)
	_ = inspect.ReadStream(strings.NewReader(`<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>`), inspect.ClientToServer, conn, tracker)
	_ = tracker.Close() // reports the request nobody answered
	// Output:
	// {"conn":1,"dir":"c2s","kind":"stanza","name":"iq","ns":"jabber:client","type":"get","id":"p1","size":57,"xml":"<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>","origin":"client"}
	// {"conn":1,"dir":"c2s","kind":"note","size":0,"note":"iq get id 'p1' (<ping xmlns='urn:xmpp:ping'/>) was never answered: the log ended","unmatched":true}
}

func ExampleExplain() {
	r := &inspect.Record{Kind: inspect.KindStanza, Dir: inspect.ClientToServer, Name: "presence", NS: inspect.NSClient,
		Raw: []byte(`<presence to='dana@localhost' type='subscribe'/>`)}
	fmt.Println(inspect.Explain(r))
	// Output:
	// Subscription request: the user asks dana@localhost for permission to see their presence (RFC 6121 §3.1)
}
