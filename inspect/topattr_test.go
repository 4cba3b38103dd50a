package inspect

import (
	"bytes"
	"strings"
	"testing"
)

// TestTopAttrRaw: the attributes the Reader notes while it frames a stanza are those a
// scan of its start tag finds (RawAttr), a child's never; a Record whose Raw was replaced
// says it does not know.
func TestTopAttrRaw(t *testing.T) {
	stream := "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>" +
		"<message to='bob@localhost' from='alice@localhost/phone' type='chat' id='m1'><body>hi</body></message>" +
		"<presence xml:lang='en'><show>away</show></presence>" +
		"<iq type=\"get\" id='a&amp;b' xmlns:x='urn:x' x:type='no'><query xmlns='jabber:iq:roster' type='child'/></iq>" +
		"<message\n to = 'carol@localhost'\n/>" +
		"<x:msg xmlns:x='jabber:client' type='prefixed-element'/>"
	rd := NewReader(strings.NewReader(stream), DefaultLimits)
	names := []string{"id", "type", "from", "to"}
	n := 0
	for {
		ev, err := rd.Next()
		if err != nil {
			break
		}
		if ev.Kind != KindStanza {
			continue
		}
		n++
		for i, name := range names { // the event's own note, as the switch reads it
			want, wantOK := RawAttr(ev.Raw, name)
			got, present, known := ev.TopAttrRaw(i)
			if !known || present != wantOK || !bytes.Equal(got, want) {
				t.Errorf("event %s: %s = %q %v %v, want %q %v", ev.Raw, name, got, present, known, want, wantOK)
			}
		}
		r := ev.Record()
		for i, name := range names {
			want, wantOK := RawAttr(r.Raw, name)
			got, present, known := r.TopAttrRaw(i)
			if !known || present != wantOK || !bytes.Equal(got, want) {
				t.Errorf("%s: %s = %q %v %v, want %q %v", r.Raw, name, got, present, known, want, wantOK)
			}
			if r.Attr(name) != TopAttr(r.Raw, name) {
				t.Errorf("%s: Attr(%s) = %q, want %q", r.Raw, name, r.Attr(name), TopAttr(r.Raw, name))
			}
		}
		r.Raw = append([]byte(nil), r.Raw...)
		if _, _, known := r.TopAttrRaw(TopType); known {
			t.Errorf("%s: known after Raw was replaced", r.Raw)
		}
	}
	if n != 5 {
		t.Errorf("%d stanzas, want 5", n)
	}
	if (&Record{Kind: KindStanza, Raw: []byte("<message type='chat'/>")}).Attr("type") != "chat" {
		t.Error("a Record not made by a Reader")
	}
	if _, _, known := (&Event{Kind: KindStanza, Raw: []byte("<message type='chat'/>")}).TopAttrRaw(TopType); known {
		t.Error("an Event not made by a Reader says it knows")
	}
}
