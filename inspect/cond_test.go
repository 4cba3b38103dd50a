package inspect

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestAppendStreamError(t *testing.T) {
	for _, tc := range []struct {
		prefix string
		cond   Cond
		text   string
		want   string
	}{
		{"stream", CondNotWellFormed, "", "<stream:error><not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>"},
		{"s", CondPolicyViolation, "a<b", "<s:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>a&lt;b</text></s:error></s:stream>"},
		{"", CondHostUnknown, "", "<error xmlns='http://etherx.jabber.org/streams'><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></error></stream>"},
	} {
		got := string(AppendStreamClose(NewStreamError(tc.cond, tc.text).AppendXML(nil, tc.prefix), tc.prefix))
		if got != tc.want {
			t.Errorf("prefix %q:\n got %s\nwant %s", tc.prefix, got, tc.want)
		}
		// What the writer wrote reads back as a stream error on a stream with that prefix.
		hdr := "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
		switch tc.prefix {
		case "s":
			hdr = "<s:stream xmlns='jabber:client' xmlns:s='http://etherx.jabber.org/streams'>"
		case "":
			hdr = "<stream xmlns='http://etherx.jabber.org/streams'>"
		}
		r := NewReader(strings.NewReader(hdr+got), Limits{})
		var names []string
		for {
			ev, err := r.Next()
			if err != nil {
				break
			}
			names = append(names, fmt.Sprintf("%v:%s:%s", ev.Kind, ev.Name, ev.NS))
		}
		want := fmt.Sprintf("[open:stream:%s stanza:error:%s close:stream:%s]", NSStreams, NSStreams, NSStreams)
		if fmt.Sprint(names) != want {
			t.Errorf("prefix %q: read back %v, want %s", tc.prefix, names, want)
		}
	}
}

func TestStreamErrorAs(t *testing.T) {
	err := fmt.Errorf("session: %w", NewStreamError(CondHostUnknown, "no such domain"))
	var se *StreamError
	if !errors.As(err, &se) || se.Condition != CondHostUnknown {
		t.Fatalf("errors.As: %v", err)
	}
	if got := se.Error(); got != "host-unknown: no such domain" {
		t.Errorf("Error() = %q", got)
	}
	// A logged error reads back as the same stream error.
	back := AsStreamError(parseLoggedError(se.Error(), string(se.Condition)))
	if back == nil || *back != *se {
		t.Errorf("read back %+v, want %+v", back, se)
	}
}

func TestStanzaError(t *testing.T) {
	for _, tc := range []struct {
		e    StanzaError
		want string
	}{
		{NewStanzaError(CondServiceUnavailable), "<error code='503' type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"},
		{NewStanzaError(CondPolicyViolation).WithText("no 'x'"), "<error type='modify'><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>no &apos;x&apos;</text></error>"},
		{StanzaError{Type: ErrorWait, Condition: CondInternalServerError}, "<error code='500' type='wait'><internal-server-error xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"},
	} {
		if got := string(tc.e.AppendXML(nil)); got != tc.want {
			t.Errorf("\n got %s\nwant %s", got, tc.want)
		}
	}
	got := string(AppendErrorReply(nil, "iq", "q&1", "srv", "a@b/c", []byte("<query xmlns='jabber:iq:version'/>"), NewStanzaError(CondItemNotFound)))
	want := "<iq id='q&amp;1' type='error' from='srv' to='a@b/c'><query xmlns='jabber:iq:version'/><error code='404' type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"
	if got != want {
		t.Errorf("\n got %s\nwant %s", got, want)
	}
	if _, err := ParseElement([]byte(got), nil); err != nil {
		t.Errorf("the reply does not parse: %v", err)
	}
}

func TestCondTables(t *testing.T) {
	for _, c := range StanzaConds() {
		if !c.IsStanzaCond() {
			t.Errorf("%s: not a stanza condition", c)
		}
		if _, ok := stanzaConditions[string(c)]; !ok {
			t.Errorf("%s: the explanations do not know it", c)
		}
	}
	if len(StanzaConds()) != len(stanzaConditions) {
		t.Errorf("%d stanza conditions, the explanations know %d", len(StanzaConds()), len(stanzaConditions))
	}
	for c := range streamConditions {
		if !Cond(c).IsStreamCond() {
			t.Errorf("%s: not a stream condition", c)
		}
	}
}
