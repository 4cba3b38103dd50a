package replay

import (
	"strings"
	"testing"

	"github.com/stanzascope/stanzascope/inspect"
)

func TestRedactedMarker(t *testing.T) {
	if string(redactedMarker) != "[redacted]" {
		t.Fatalf("marker %q: the redactor changed; check that the replay still recognises what it redacts", redactedMarker)
	}
	red, _ := inspect.Redact([]byte("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>"), nil)
	if !strings.Contains(string(red), string(redactedMarker)) {
		t.Fatalf("SASL redacted as %s", red)
	}
}

func TestRewrite(t *testing.T) {
	from := inspect.MustJID("alice@localhost/rec")
	tests := []struct {
		name      string
		to        string // the replay's full JID
		step      Step
		serverIDs map[string]string
		used      []string
		want      string // "" with skip
		wantID    string
		skip      string
	}{
		{name: "nothing to change: the recorded bytes",
			to:   "alice@localhost/rec",
			step: Step{Raw: []byte(`<message to="bob@localhost" id="m1"><body>x</body></message>`)},
			want: `<message to="bob@localhost" id="m1"><body>x</body></message>`, wantID: "m1"},
		{name: "full and bare JID",
			to:   "bob@localhost/other",
			step: Step{Raw: []byte(`<message to='alice@localhost/rec' from='Alice@localhost'><body>alice@localhost/rec</body></message>`)},
			want: `<message to='bob@localhost/other' from='bob@localhost'><body>alice@localhost/rec</body></message>`},
		{name: "JIDs in payloads",
			to:   "alice@localhost/r2",
			step: Step{Raw: []byte(`<iq type='set' id='q'><query xmlns='jabber:iq:roster'><item jid='alice@localhost/rec'/><item jid='bob@localhost'/></query></iq>`), Request: true},
			want: `<iq type='set' id='q'><query xmlns='jabber:iq:roster'><item jid='alice@localhost/r2'/><item jid='bob@localhost'/></query></iq>`, wantID: "q"},
		{name: "another domain",
			to:   "alice@example.org/rec",
			step: Step{Raw: []byte(`<iq type='get' id='p' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`), Request: true},
			want: `<iq type='get' id='p' to='example.org'><ping xmlns='urn:xmpp:ping'/></iq>`, wantID: "p"},
		{name: "other users move with the domain",
			to:   "alice@example.org/rec",
			step: Step{Raw: []byte(`<presence to='bob@localhost/x' type='probe'/>`)},
			want: `<presence to='bob@example.org/x' type='probe'/>`},
		{name: "stream id",
			to:   "alice@localhost/rec",
			step: Step{Raw: []byte(`<iq type='set' id='h'><handshake xmlns='urn:example' stream='s-old'/></iq>`), Request: true},
			want: `<iq type='set' id='h'><handshake xmlns='urn:example' stream='s-new'/></iq>`, wantID: "h"},
		{name: "answer to a server request",
			to:        "alice@localhost/rec",
			step:      Step{Raw: []byte(`<iq type='result' id='push1'/>`), ServerID: "push1"},
			serverIDs: map[string]string{"push1": "push-77"},
			want:      `<iq type="result" id="push-77"/>`, wantID: "push-77"},
		{name: "answer to a request the server did not send",
			to:   "alice@localhost/rec",
			step: Step{Raw: []byte(`<iq type='result' id='push1'/>`), ServerID: "push1"},
			skip: skipNoRequest},
		{name: "request id used before",
			to:   "alice@localhost/rec",
			step: Step{Raw: []byte(`<iq type='get' id='x'><query xmlns='jabber:iq:roster'/></iq>`), Request: true},
			used: []string{"x", "x-2"},
			want: `<iq type="get" id="x-3"><query xmlns="jabber:iq:roster"/></iq>`, wantID: "x-3"},
		{name: "registration gets the replay's credentials",
			to:   "carol@localhost/rec",
			step: Step{Raw: []byte(`<iq type='set' id='r'><query xmlns='jabber:iq:register'><username>alice</username><password>[redacted]</password></query></iq>`), Request: true},
			want: `<iq type='set' id='r'><query xmlns='jabber:iq:register'><username>carol</username><password>s3cret &amp; &lt;more&gt;</password></query></iq>`, wantID: "r"},
		{name: "registration of another account keeps its redacted password",
			to:   "alice@localhost/rec",
			step: Step{Raw: []byte(`<iq type='set' id='r'><query xmlns='jabber:iq:register'><username>dave</username><password>[redacted]</password></query></iq>`), Request: true},
			skip: skipRedacted},
		{name: "a redacted MUC password",
			to:   "alice@localhost/rec",
			step: Step{Raw: []byte(`<presence to='room@muc.localhost/alice'><x xmlns='http://jabber.org/protocol/muc'><password>[redacted]</password></x></presence>`)},
			skip: skipRedacted},
		{name: "prefixes of the recorded header are resolved",
			to: "alice@localhost/rec",
			step: Step{Raw: []byte(`<message to='bob@localhost'><x:y/></message>`),
				Header: &inspect.Header{ContentNS: inspect.NSClient, NS: map[string]string{"stream": inspect.NSStreams, "x": "urn:x"}}},
			want: `<message to='bob@localhost'><x:y xmlns:x='urn:x'/></message>`},
		{name: "close", to: "alice@localhost/rec", step: Step{Kind: StepClose}, want: "</stream:stream>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newRewriter(from, inspect.MustJID(tt.to), "s-old", "s-new", inspect.MustJID(tt.to).Local, "s3cret & <more>")
			for k, v := range tt.serverIDs {
				w.serverIDs[k] = v
			}
			for _, id := range tt.used {
				w.used[id] = true
			}
			st := tt.step
			if st.Kind == StepStanza {
				el, err := inspect.ParseElement(st.Raw, st.Header)
				if err != nil {
					t.Fatal(err)
				}
				st.Elem = el
			}
			out, id, skip := w.rewrite(&st)
			if skip != tt.skip {
				t.Fatalf("skip %q, want %q", skip, tt.skip)
			}
			if tt.skip != "" {
				return
			}
			// Compare as trees: the serialiser chooses its quotes.
			got, err := inspect.ParseElement(out, nil)
			if tt.want == "</stream:stream>" {
				if string(out) != tt.want {
					t.Fatalf("got %s", out)
				}
				return
			}
			if err != nil {
				t.Fatalf("output %s does not parse: %v", out, err)
			}
			want, err := inspect.ParseElement([]byte(tt.want), nil)
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != want.String() {
				t.Errorf("got  %s\nwant %s", out, tt.want)
			}
			if tt.want == string(st.Raw) && string(out) != string(st.Raw) {
				t.Errorf("unchanged stanza re-serialised: %s", out)
			}
			if id != tt.wantID {
				t.Errorf("id %q, want %q", id, tt.wantID)
			}
		})
	}
}
