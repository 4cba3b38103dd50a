package proxy

import (
	"errors"
	"testing"

	"github.com/stanzascope/stanzascope/inspect"
)

// FuzzCheckStanza feeds arbitrary bytes to the check of a controller's stanza (an edit, a
// send): it must not panic, every refusal wraps ErrInvalid, and what it accepts is one
// element that the tree parser reads back as a message, presence or iq.
func FuzzCheckStanza(f *testing.F) {
	for _, s := range []string{
		"<message to='bob@localhost' type='chat'><body>hi</body></message>",
		"<presence/>",
		"<iq type='get' id='1'><query xmlns='jabber:iq:roster'/></iq>",
		"<message><body>unclosed</message>",
		"<message/><message/>",
		"<message/> ",
		"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>",
		"<!-- c --><message/>",
		"<message xmlns='jabber:server'/>",
		"text",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		err := checkStanza([]byte(raw), nil)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("refusal that is not ErrInvalid: %v", err)
			}
			return
		}
		el, perr := inspect.ParseElement([]byte(raw), nil)
		if perr != nil {
			t.Fatalf("accepted %q, which does not parse: %v", raw, perr)
		}
		if el.Local != "message" && el.Local != "presence" && el.Local != "iq" {
			t.Fatalf("accepted <%s/>", el.Local)
		}
	})
}
