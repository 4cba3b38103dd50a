package inspect

import (
	"bytes"
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"sasl plain auth",
			`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldAByMG0zMG15cjBtMzA=</auth>`,
			`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>[redacted 28 bytes]</auth>`},
		{"sasl response",
			`<response xmlns="urn:ietf:params:xml:ns:xmpp-sasl">Yz1iaXdzLHI9</response>`,
			`<response xmlns="urn:ietf:params:xml:ns:xmpp-sasl">[redacted 12 bytes]</response>`},
		{"sasl prefixed",
			`<s:auth xmlns:s='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</s:auth>`,
			`<s:auth xmlns:s='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>[redacted 8 bytes]</s:auth>`},
		{"sasl empty response", `<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>=</response>`, ""},
		{"sasl auth without payload", `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'/>`, ""},
		{"sasl success kept", `<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>dj1ybUY5</success>`, ""},
		{"sasl challenge kept", `<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>cj1meWtv</challenge>`, ""},
		{"auth in another namespace", `<auth xmlns='urn:example'>keep</auth>`, ""},
		{"iq auth password",
			`<iq id='a' type='set'><query xmlns='jabber:iq:auth'><username>u</username><password>polly</password><resource>r</resource></query></iq>`,
			`<iq id='a' type='set'><query xmlns='jabber:iq:auth'><username>u</username><password>[redacted 5 bytes]</password><resource>r</resource></query></iq>`},
		{"iq auth digest",
			`<iq type='set'><query xmlns='jabber:iq:auth'><username>u</username><digest>48fc78be9ec8f86d8ce1c39c320c97c21d62334d</digest></query></iq>`,
			`<iq type='set'><query xmlns='jabber:iq:auth'><username>u</username><digest>[redacted 40 bytes]</digest></query></iq>`},
		{"register password",
			`<iq type='set'><query xmlns='jabber:iq:register'><username>u</username><password>s3cr&amp;t</password></query></iq>`,
			`<iq type='set'><query xmlns='jabber:iq:register'><username>u</username><password>[redacted 10 bytes]</password></query></iq>`},
		{"register data form password",
			`<iq type='set'><query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'><field var='username'><value>u</value></field><field var='password'><value>hunter2</value></field></x></query></iq>`,
			`<iq type='set'><query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'><field var='username'><value>u</value></field><field var='password'><value>[redacted 7 bytes]</value></field></x></query></iq>`},
		{"register form kept", `<iq type='result'><query xmlns='jabber:iq:register'><username/><password/></query></iq>`, ""},
		{"cdata password",
			`<iq type='set'><query xmlns='jabber:iq:register'><password><![CDATA[a<b>c]]></password></query></iq>`,
			`<iq type='set'><query xmlns='jabber:iq:register'><password>[redacted 17 bytes]</password></query></iq>`},
		{"attribute with >",
			`<iq type='set' id='a>b'><query xmlns='jabber:iq:auth'><password x='>'>pw</password></query></iq>`,
			`<iq type='set' id='a>b'><query xmlns='jabber:iq:auth'><password x='>'>[redacted 2 bytes]</password></query></iq>`},
		{"roster untouched", `<iq type='set'><query xmlns='jabber:iq:roster'><item jid='password@x'/></query></iq>`, ""},
		{"muc password",
			`<presence to='room@muc/nick'><x xmlns='http://jabber.org/protocol/muc'><password>cauldron</password></x></presence>`,
			`<presence to='room@muc/nick'><x xmlns='http://jabber.org/protocol/muc'><password>[redacted 8 bytes]</password></x></presence>`},
		{"message text mentioning password", `<message><body>&lt;password&gt;x&lt;/password&gt; jabber:iq:auth</body></message>`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, changed := Redact([]byte(tc.in), nil)
			want := tc.want
			if want == "" {
				want = tc.in
			}
			if string(got) != want {
				t.Fatalf("Redact:\n got %s\nwant %s", got, want)
			}
			if changed != (tc.want != "") {
				t.Errorf("changed = %v", changed)
			}
			again, changedAgain := Redact(got, nil)
			if changedAgain || !bytes.Equal(again, got) {
				t.Errorf("not idempotent: %s", again)
			}
			if _, err := ParseElement(got, nil); err != nil {
				t.Errorf("redacted stanza does not parse: %v", err)
			}
		})
	}
}

// TestRedactHeaderNamespaces: the stream header resolves the namespace of a prefixed
// element that does not declare it.
func TestRedactHeaderNamespaces(t *testing.T) {
	h := &Header{ContentNS: NSClient, NS: map[string]string{"sasl": NSSASL, "stream": NSStreams}}
	got, ok := Redact([]byte(`<sasl:auth mechanism='PLAIN'>AGEAYg==</sasl:auth>`), h)
	if !ok || !strings.Contains(string(got), "[redacted 8 bytes]") {
		t.Fatalf("got %s", got)
	}
}

func TestPrintersRedact(t *testing.T) {
	r := rec(t, ClientToServer, `<iq type='set' id='reg'><query xmlns='jabber:iq:register'><username>u</username><password>polly</password></query></iq>`)
	r.Original = []byte(`<iq type='set' id='reg'><query xmlns='jabber:iq:register'><username>v</username><password>parrot</password></query></iq>`)
	for _, show := range []bool{false, true} {
		var pretty, js bytes.Buffer
		if err := NewPretty(&pretty, PrettyOptions{ShowSecrets: show}).Write(r); err != nil {
			t.Fatal(err)
		}
		if err := NewJSON(&js, JSONOptions{ShowSecrets: show}).Write(r); err != nil {
			t.Fatal(err)
		}
		for name, out := range map[string]string{"pretty": pretty.String(), "json": js.String()} {
			for _, secret := range []string{"polly", "parrot"} {
				if strings.Contains(out, secret) != show {
					t.Errorf("%s ShowSecrets=%v: secret %q shown=%v:\n%s", name, show, secret, !show, out)
				}
			}
		}
	}
}

func FuzzRedact(f *testing.F) {
	f.Add([]byte(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>`))
	f.Add([]byte(`<iq type='set'><query xmlns='jabber:iq:auth'><password>p</password><digest>d</digest></query></iq>`))
	f.Add([]byte(`<presence><x xmlns='http://jabber.org/protocol/muc'><password><![CDATA[<x>]]></password></x></presence>`))
	f.Add([]byte(`<iq><query xmlns='jabber:iq:register'><password a='>'`))
	f.Fuzz(func(t *testing.T, in []byte) {
		got, changed := Redact(in, nil)
		if !changed && !bytes.Equal(got, in) {
			t.Fatal("changed bytes while reporting no change")
		}
		again, _ := Redact(got, nil)
		if !bytes.Equal(again, got) {
			t.Fatalf("not idempotent:\n%q\n%q", got, again)
		}
		if _, err := ParseElement(in, nil); err == nil {
			if _, err := ParseElement(got, nil); err != nil {
				t.Fatalf("redaction broke a well-formed stanza: %v\n%q\n%q", err, in, got)
			}
		}
	})
}
