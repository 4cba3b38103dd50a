package web

import (
	"testing"

	"github.com/stanzascope/stanzascope/inspect"
)

// TestStanzaAttrs: the one-scan reading of type, id, from and to gives what Record.Attr
// gives, escaped values, prefixed look-alikes and broken tags included.
func TestStanzaAttrs(t *testing.T) {
	for _, raw := range []string{
		`<message to='dana@localhost' type='chat' id='m1'><body>hi</body></message>`,
		`<iq type="get" id="a&amp;b" from='x@y/&apos;r&apos;'><query xmlns='jabber:iq:roster'/></iq>`,
		`<presence xml:lang='en' foo:type='x' type='unavailable'/>`,
		"<message\n\tto = 'a@b'\ttype='normal'></message>",
		`<message to='a@b' type='chat`,
		`<presence/>`,
		`  <message id='only'/>`,
	} {
		r := &inspect.Record{Kind: inspect.KindStanza, Raw: []byte(raw)}
		typ, id, from, to := stanzaAttrs(r)
		want := [4]string{r.Attr("type"), r.Attr("id"), r.Attr("from"), r.Attr("to")}
		if got := [4]string{typ, id, from, to}; got != want {
			t.Errorf("%s:\n got %q\nwant %q", raw, got, want)
		}
	}
}
