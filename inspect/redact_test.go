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
			`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>[redacted]</auth>`},
		{"sasl response",
			`<response xmlns="urn:ietf:params:xml:ns:xmpp-sasl">Yz1iaXdzLHI9</response>`,
			`<response xmlns="urn:ietf:params:xml:ns:xmpp-sasl">[redacted]</response>`},
		{"sasl prefixed",
			`<s:auth xmlns:s='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</s:auth>`,
			`<s:auth xmlns:s='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>[redacted]</s:auth>`},
		{"sasl namespace written with a reference",
			`<auth xmlns='urn:ietf:params:xml:ns:xmpp-s&#97;sl' mechanism='PLAIN'>AGEAYg==</auth>`,
			`<auth xmlns='urn:ietf:params:xml:ns:xmpp-s&#97;sl' mechanism='PLAIN'>[redacted]</auth>`},
		{"sasl empty response", `<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>=</response>`, ""},
		{"sasl auth without payload", `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'/>`, ""},
		{"sasl success kept", `<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>dj1ybUY5</success>`, ""},
		{"sasl challenge kept", `<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>cj1meWtv</challenge>`, ""},
		{"auth in another namespace", `<auth xmlns='urn:example'>keep</auth>`, ""},
		{"sasl2 initial response",
			`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>AGEAYg==</initial-response><user-agent id='d4565fa7'><software>x</software></user-agent></authenticate>`,
			`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>[redacted]</initial-response><user-agent id='d4565fa7'><software>x</software></user-agent></authenticate>`},
		{"sasl2 response",
			`<response xmlns='urn:xmpp:sasl:2'>Yz1iaXdz</response>`,
			`<response xmlns='urn:xmpp:sasl:2'>[redacted]</response>`},
		{"fast token",
			`<success xmlns='urn:xmpp:sasl:2'><authorization-identifier>a@b/c</authorization-identifier><token xmlns='urn:xmpp:fast:0' expiry='2025-01-01T00:00:00Z' token='WXZzciBwYmFm'/></success>`,
			`<success xmlns='urn:xmpp:sasl:2'><authorization-identifier>a@b/c</authorization-identifier><token xmlns='urn:xmpp:fast:0' expiry='2025-01-01T00:00:00Z' token='[redacted]'/></success>`},
		{"component handshake",
			`<handshake xmlns='jabber:component:accept'>aaee83c26aeeafcbabeabfcbcd50df997e0a2a1e</handshake>`,
			`<handshake xmlns='jabber:component:accept'>[redacted]</handshake>`},
		{"iq auth password",
			`<iq id='a' type='set'><query xmlns='jabber:iq:auth'><username>u</username><password>polly</password><resource>r</resource></query></iq>`,
			`<iq id='a' type='set'><query xmlns='jabber:iq:auth'><username>u</username><password>[redacted]</password><resource>r</resource></query></iq>`},
		{"iq auth digest",
			`<iq type='set'><query xmlns='jabber:iq:auth'><username>u</username><digest>48fc78be9ec8f86d8ce1c39c320c97c21d62334d</digest></query></iq>`,
			`<iq type='set'><query xmlns='jabber:iq:auth'><username>u</username><digest>[redacted]</digest></query></iq>`},
		{"register password",
			`<iq type='set'><query xmlns='jabber:iq:register'><username>u</username><password>s3cr&amp;t</password></query></iq>`,
			`<iq type='set'><query xmlns='jabber:iq:register'><username>u</username><password>[redacted]</password></query></iq>`},
		{"register data form password",
			`<iq type='set'><query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'><field var='username'><value>u</value></field><field var='password'><value>hunter2</value></field></x></query></iq>`,
			`<iq type='set'><query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'><field var='username'><value>u</value></field><field var='password'><value>[redacted]</value></field></x></query></iq>`},
		{"field name written with a reference",
			`<iq type='set'><command xmlns='http://jabber.org/protocol/commands'><x xmlns='jabber:x:data' type='submit'><field var='pass&#119;ord'><value>hunter2</value></field></x></command></iq>`,
			`<iq type='set'><command xmlns='http://jabber.org/protocol/commands'><x xmlns='jabber:x:data' type='submit'><field var='pass&#119;ord'><value>[redacted]</value></field></x></command></iq>`},
		{"text-private field",
			`<iq type='set'><x xmlns='jabber:x:data' type='submit'><field type='text-private' var='pin'><value>1234</value></field><field var='pin2'><value>5678</value></field></x></iq>`,
			`<iq type='set'><x xmlns='jabber:x:data' type='submit'><field type='text-private' var='pin'><value>[redacted]</value></field><field var='pin2'><value>5678</value></field></x></iq>`},
		{"muc room secret",
			`<iq type='set'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_roomsecret'><value>cauldron</value></field></x></query></iq>`,
			`<iq type='set'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'><field var='muc#roomconfig_roomsecret'><value>[redacted]</value></field></x></query></iq>`},
		{"register form kept", `<iq type='result'><query xmlns='jabber:iq:register'><username/><password/></query></iq>`, ""},
		{"cdata password",
			`<iq type='set'><query xmlns='jabber:iq:register'><password><![CDATA[a<b>c]]></password></query></iq>`,
			`<iq type='set'><query xmlns='jabber:iq:register'><password>[redacted]</password></query></iq>`},
		{"whitespace password", `<iq type='set'><query xmlns='jabber:iq:auth'><password> </password></query></iq>`,
			`<iq type='set'><query xmlns='jabber:iq:auth'><password>[redacted]</password></query></iq>`},
		{"attribute with >",
			`<iq type='set' id='a>b'><query xmlns='jabber:iq:auth'><password x='>'>pw</password></query></iq>`,
			`<iq type='set' id='a>b'><query xmlns='jabber:iq:auth'><password x='>'>[redacted]</password></query></iq>`},
		{"roster untouched", `<iq type='set'><query xmlns='jabber:iq:roster'><item jid='password@x'/></query></iq>`, ""},
		{"muc password",
			`<presence to='room@muc/nick'><x xmlns='http://jabber.org/protocol/muc'><password>cauldron</password></x></presence>`,
			`<presence to='room@muc/nick'><x xmlns='http://jabber.org/protocol/muc'><password>[redacted]</password></x></presence>`},
		{"muc mediated invitation",
			`<message to='hecate@shakespeare.lit'><x xmlns='http://jabber.org/protocol/muc#user'><invite from='crone1@shakespeare.lit'/><password>cauldronburn</password></x></message>`,
			`<message to='hecate@shakespeare.lit'><x xmlns='http://jabber.org/protocol/muc#user'><invite from='crone1@shakespeare.lit'/><password>[redacted]</password></x></message>`},
		{"muc direct invitation",
			`<message to='hecate@shakespeare.lit'><x xmlns='jabber:x:conference' jid='darkcave@macbeth.shakespeare.lit' password="cauldron&amp;burn" reason='x'/></message>`,
			`<message to='hecate@shakespeare.lit'><x xmlns='jabber:x:conference' jid='darkcave@macbeth.shakespeare.lit' password="[redacted]" reason='x'/></message>`},
		{"message text mentioning password", `<message><body>&lt;password&gt;x&lt;/password&gt; jabber:iq:auth</body></message>`, ""},
		{"cut off password", `<iq type='set'><query xmlns='jabber:iq:register'><password>NorwegianBl`,
			`<iq type='set'><query xmlns='jabber:iq:register'><password>[redacted]`},
		{"cut off sasl", `<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGll`,
			`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>[redacted]`},
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
			if _, err := ParseElement([]byte(tc.in), nil); err == nil {
				if _, err := ParseElement(got, nil); err != nil {
					t.Errorf("redacted stanza does not parse: %v", err)
				}
			}
		})
	}
}

// TestRedactHeaderNamespaces: the stream header resolves the namespace of a prefixed
// element that does not declare it.
func TestRedactHeaderNamespaces(t *testing.T) {
	h := &Header{ContentNS: NSClient, NS: map[string]string{"sasl": NSSASL, "stream": NSStreams}}
	got, ok := Redact([]byte(`<sasl:auth mechanism='PLAIN'>AGEAYg==</sasl:auth>`), h)
	if !ok || string(got) != `<sasl:auth mechanism='PLAIN'>[redacted]</sasl:auth>` {
		t.Fatalf("got %s", got)
	}
}

// TestRedactor: the chain's stage redacts Raw and Original of every printer's input,
// leaves the producer's record (and the tree it parsed) alone, and passes records without
// secrets through as they are.
func TestRedactor(t *testing.T) {
	r := rec(t, ClientToServer, `<iq type='set' id='reg'><query xmlns='jabber:iq:register'><username>u</username><password>polly</password></query></iq>`)
	r.SetOriginal([]byte(`<iq type='set' id='reg'><query xmlns='jabber:iq:register'><username>v</username><password>parrot</password></query></iq>`))
	if _, err := r.Element(); err != nil { // a rule parsed it: the tree holds the secret
		t.Fatal(err)
	}
	before := string(r.Raw)
	var pretty, js, raw bytes.Buffer
	sink := NewRedactor(Tee(NewPretty(&pretty, PrettyOptions{}), NewJSON(&js, JSONOptions{}), NewRaw(&raw)))
	if err := sink.Write(r); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"pretty": pretty.String(), "json": js.String(), "raw": raw.String()} {
		for _, secret := range []string{"polly", "parrot"} {
			if strings.Contains(out, secret) {
				t.Errorf("%s shows %q:\n%s", name, secret, out)
			}
		}
		if !strings.Contains(out, redactedMarker) {
			t.Errorf("%s has no marker:\n%s", name, out)
		}
	}
	if string(r.Raw) != before {
		t.Error("the producer's record was changed")
	}
	var got *Record
	plain := rec(t, ClientToServer, `<message><body>hi</body></message>`)
	NewRedactor(SinkFunc(func(r *Record) error { got = r; return nil })).Write(plain)
	if got != plain {
		t.Error("a record without secrets was copied")
	}
}

// secretPlaces calls fn for every place of the tree top that holds a secret, by the
// definition in Redact's documentation, implemented again on the tree: fn gets the text
// there, and set, which replaces it. It is the oracle of FuzzRedact.
func secretPlaces(top *Element, fn func(text string, sasl bool, set func(string))) {
	content := func(e *Element, sasl bool) {
		fn(deepText(e), sasl, func(s string) { e.Children = []Node{Text(s)} })
	}
	switch {
	case top.Space == NSSASL && (top.Local == "auth" || top.Local == "response"),
		top.Space == nsSASL2 && top.Local == "response",
		top.Space == nsComponentAccept && top.Local == "handshake":
		content(top, true)
		return
	case top.Local == "message", top.Local == "presence", top.Local == "iq",
		top.Space == nsSASL2 && (top.Local == "authenticate" || top.Local == "success"):
	default:
		return
	}
	var walk func(e *Element, inSecretField bool)
	walk = func(e *Element, inSecretField bool) {
		for _, c := range e.Elements() {
			for i, a := range c.Attrs {
				if a.Space == "" && (c.Local == "x" && a.Local == "password" || c.Local == "token" && a.Local == "token") {
					fn(a.Value, false, func(s string) { c.Attrs[i].Value = s })
				}
			}
			switch {
			case c.Local == "password", c.Local == "digest", c.Local == "initial-response",
				c.Local == "value" && inSecretField:
				content(c, false)
			case c.Local == "field":
				secret := c.Attr("type") == "text-private"
				switch c.Attr("var") {
				case "password", "password-verify", "old_password", "muc#roomconfig_roomsecret":
					secret = true
				}
				walk(c, inSecretField || secret)
			default:
				walk(c, inSecretField)
			}
		}
	}
	walk(top, false)
}

func deepText(e *Element) string {
	var b strings.Builder
	var walk func(e *Element)
	walk = func(e *Element) {
		for _, n := range e.Children {
			switch n := n.(type) {
			case Text:
				b.WriteString(string(n))
			case *Element:
				walk(n)
			}
		}
	}
	walk(e)
	return b.String()
}

// FuzzRedact: for every well-formed stanza, no secret survives (each secret place of the
// redacted stanza holds nothing or the marker) and nothing else changes (the trees with
// every secret place set to the marker are equal).
func FuzzRedact(f *testing.F) {
	f.Add([]byte(`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>`))
	f.Add([]byte(`<iq type='set'><query xmlns='jabber:iq:auth'><password>p</password><digest>d</digest></query></iq>`))
	f.Add([]byte(`<presence><x xmlns='http://jabber.org/protocol/muc'><password><![CDATA[<x>]]></password></x></presence>`))
	f.Add([]byte(`<iq><query xmlns='jabber:iq:register'><password a='>'`))
	f.Add([]byte(`<message><x xmlns='jabber:x:conference' password='p&amp;w'/></message>`))
	f.Add([]byte(`<iq><x xmlns='jabber:x:data'><field type='text-private'><value>1</value><field var='a'/><value>2</value></field></x></iq>`))
	f.Fuzz(func(t *testing.T, in []byte) {
		got, changed := Redact(in, nil)
		if !changed && !bytes.Equal(got, in) {
			t.Fatal("changed bytes while reporting no change")
		}
		again, _ := Redact(got, nil)
		if !bytes.Equal(again, got) {
			t.Fatalf("not idempotent:\n%q\n%q", got, again)
		}
		inTree, err := ParseElement(in, nil)
		if err != nil {
			return // the reader hands out well-formed stanzas only
		}
		outTree, err := ParseElement(got, nil)
		if err != nil {
			t.Fatalf("redaction broke a well-formed stanza: %v\n%q\n%q", err, in, got)
		}
		secretPlaces(outTree, func(text string, sasl bool, _ func(string)) {
			if text != "" && text != redactedMarker && !(sasl && text == "=") {
				t.Fatalf("secret %q survives:\n in %q\nout %q", text, in, got)
			}
		})
		mark := func(text string, _ bool, set func(string)) { set(redactedMarker) }
		secretPlaces(inTree, mark)
		secretPlaces(outTree, mark)
		if a, b := inTree.String(), outTree.String(); a != b {
			t.Fatalf("redaction changed more than secrets:\n in %q\nout %q\n%s\n%s", in, got, a, b)
		}
	})
}

// FuzzRedactSecret puts a fuzzed secret, escaped, in each place that holds one, between
// fuzzed text, and checks that it is not in the output: the property stated on bytes.
func FuzzRedactSecret(f *testing.F) {
	f.Add(uint8(0), "NorwegianBlue", "x", "y")
	f.Add(uint8(3), "AGp1bGlldAByMG0zMG15cjBtMzA=", "", "")
	f.Add(uint8(7), "s3cr&t<>'\"", "a", "b")
	f.Fuzz(func(t *testing.T, kind uint8, secret, before, after string) {
		templates := [...]string{
			`<iq type='set'><query xmlns='jabber:iq:register'><username>%b</username><password>%s</password></query>%a</iq>`,
			`<iq type='set'><query xmlns='jabber:iq:auth'><username>%b</username><password>%s</password><resource>%a</resource></query></iq>`,
			`<iq type='set'><query xmlns='jabber:iq:auth'><digest>%s</digest></query><x>%b%a</x></iq>`,
			`<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='%b'>%s</auth>`,
			`<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>%s</response>`,
			`<presence to='room@muc/%b'><x xmlns='http://jabber.org/protocol/muc'><password>%s</password></x><status>%a</status></presence>`,
			`<iq type='set'><query xmlns='jabber:iq:register'><x xmlns='jabber:x:data' type='submit'><field var='username'><value>%b</value></field><field var='password'><value>%s</value></field></x></query></iq>`,
			`<message to='a@b'><x xmlns='jabber:x:conference' jid='r@m' password='%s' reason='%b'/><body>%a</body></message>`,
			`<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>%s</initial-response><user-agent id='%b'/></authenticate>`,
			`<handshake xmlns='jabber:component:accept'>%s</handshake>`,
		}
		tpl := templates[int(kind)%len(templates)]
		esc := EscapeText(secret)
		if strings.Contains(tpl, "'%s'") {
			esc = EscapeAttr(secret)
		}
		r := strings.NewReplacer("%b", EscapeAttr(before), "%a", EscapeText(after))
		frame := r.Replace(tpl)
		in := strings.Replace(frame, "%s", esc, 1)
		if _, err := ParseElement([]byte(in), nil); err != nil {
			return // not XML text (invalid UTF-8, control characters)
		}
		if esc == "" || esc == "=" || strings.Contains(strings.Replace(frame, "%s", redactedMarker, 1), esc) {
			return // not a secret, or text that the rest of the stanza or the marker shows anyway
		}
		got, _ := Redact([]byte(in), nil)
		if bytes.Contains(got, []byte(esc)) {
			t.Fatalf("secret %q survives:\n in %s\nout %s", secret, in, got)
		}
	})
}
