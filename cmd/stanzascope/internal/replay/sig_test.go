package replay

import (
	"slices"
	"testing"
)

func TestSigOf(t *testing.T) {
	tests := []struct {
		name, xml string
		want      Sig
		str       string
	}{
		{"message without type", `<message to='a@b'><body>hi</body></message>`, Sig{Name: "message", Type: "normal"}, "message normal"},
		{"chat", `<message type='chat'/>`, Sig{Name: "message", Type: "chat"}, "message chat"},
		{"presence without type", `<presence/>`, Sig{Name: "presence", Type: "available"}, "presence available"},
		{"unavailable", `<presence type='unavailable'/>`, Sig{Name: "presence", Type: "unavailable"}, "presence unavailable"},
		{"message error", `<message type='error'><body/><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>no</text></error></message>`,
			Sig{Name: "message", Type: "error", Cond: "service-unavailable"}, "message error (service-unavailable)"},
		{"error with text first", `<iq type='error'><error><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>x</text><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`,
			Sig{Name: "iq", Type: "error", Cond: "conflict"}, "iq error (conflict)"},
		{"error without condition", `<iq type='error'><error type='cancel'/></iq>`, Sig{Name: "iq", Type: "error", Cond: "undefined-condition"}, "iq error (undefined-condition)"},
		{"iq error echoing its query", `<iq type='error'><query xmlns='jabber:iq:register'/><error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`,
			Sig{Name: "iq", Type: "error", Cond: "conflict", Payload: "query jabber:iq:register"}, "iq error (conflict, query jabber:iq:register)"},
		{"empty result", `<iq type='result' id='1'/>`, Sig{Name: "iq", Type: "result"}, "iq result"},
		{"roster result", `<iq type='result'><query xmlns='jabber:iq:roster'><item jid='x@y'/></query></iq>`,
			Sig{Name: "iq", Type: "result", Payload: "query jabber:iq:roster"}, "iq result (query jabber:iq:roster)"},
		{"stream error", `<stream:error xmlns:stream='http://etherx.jabber.org/streams'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>`,
			Sig{Name: "error", NS: "http://etherx.jabber.org/streams", Cond: "conflict"}, "error (conflict)"},
		{"nonza", `<r xmlns='urn:xmpp:sm:3'/>`, Sig{Name: "r", NS: "urn:xmpp:sm:3"}, "r (urn:xmpp:sm:3)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := SigOf(parse(t, tt.xml), "")
			if got != tt.want {
				t.Errorf("SigOf = %+v, want %+v", got, tt.want)
			}
			if got.String() != tt.str {
				t.Errorf("String = %q, want %q", got.String(), tt.str)
			}
		})
	}
}

func TestDiff(t *testing.T) {
	tests := []struct {
		name      string
		want, got Sig
		diff      []string
	}{
		{"same", Sig{Name: "iq", Type: "result"}, Sig{Name: "iq", Type: "result"}, nil},
		{"type and condition", Sig{Name: "iq", Type: "error", Cond: "service-unavailable"}, Sig{Name: "iq", Type: "result", Payload: "time urn:xmpp:time"},
			[]string{"type: error → result", "condition: service-unavailable → none", "payload: none → time urn:xmpp:time"}},
		{"element", Sig{Name: "message", Type: "chat"}, Sig{Name: "presence", Type: "available"}, []string{"element: message chat → presence available"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := diff(tt.want, tt.got); !slices.Equal(d, tt.diff) {
				t.Errorf("diff = %q, want %q", d, tt.diff)
			}
		})
	}
}
