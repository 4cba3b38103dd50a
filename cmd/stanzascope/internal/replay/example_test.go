package replay_test

import (
	"fmt"
	"strings"

	"github.com/stanzascope/stanzascope/cmd/stanzascope/internal/replay"
)

// A recorded connection becomes a script of steps, each with the answers the recorded
// server gave; the login is one step that the replay replaces with its own.
func Example() {
	log := strings.Join([]string{
		`{"conn":1,"kind":"conn-open","client":"127.0.0.1:4000"}`,
		`{"conn":1,"dir":"c2s","kind":"open","xml":"<stream:stream to='localhost' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"}`,
		`{"conn":1,"dir":"s2c","kind":"open","xml":"<stream:stream from='localhost' id='abc' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"}`,
		`{"conn":1,"dir":"c2s","kind":"stanza","xml":"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>[redacted]</auth>"}`,
		`{"conn":1,"dir":"s2c","kind":"stanza","xml":"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"}`,
		`{"conn":1,"dir":"c2s","kind":"stanza","xml":"<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"}`,
		`{"conn":1,"dir":"s2c","kind":"stanza","xml":"<iq type='result' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>alice@localhost/x1</jid></bind></iq>"}`,
		`{"conn":1,"dir":"c2s","kind":"stanza","xml":"<iq type='get' id='t' to='localhost'><time xmlns='urn:xmpp:time'/></iq>"}`,
		`{"conn":1,"dir":"s2c","kind":"stanza","xml":"<iq type='error' id='t'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"}`,
		`{"conn":1,"dir":"c2s","kind":"stanza","xml":"<message to='alice@localhost/x1' type='chat'><body>hi</body></message>"}`,
		`{"conn":1,"dir":"s2c","kind":"stanza","xml":"<message from='alice@localhost/x1' type='chat'><body>hi</body></message>"}`,
	}, "\n")
	l, err := replay.ReadLog(strings.NewReader(log), 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range l.Connections() {
		fmt.Println(c)
	}
	s, err := l.Script(0)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, st := range s.Steps {
		line := st.Describe()
		if st.Answer != nil {
			line += " → answer: " + st.Answer.Sig.String()
		}
		for _, e := range st.Window {
			line += " → then: " + e.Sig.String()
		}
		fmt.Println(line)
	}
	// Output:
	// conn 1  alice@localhost/x1  4 client stanzas  from 127.0.0.1:4000
	// login
	// iq get (time urn:xmpp:time) to localhost → answer: iq error (service-unavailable)
	// message chat to alice@localhost/x1 → then: message chat
}
