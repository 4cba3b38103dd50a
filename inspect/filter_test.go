package inspect

import "testing"

func TestFilter(t *testing.T) {
	stanzas := map[string]string{
		"chat":      `<message from='romeo@localhost/orchard' to='juliet@localhost' type='chat'><body>x</body></message>`,
		"normal":    `<message to='nurse@localhost'><body>x</body></message>`,
		"available": `<presence from='juliet@localhost/balcony'/>`,
		"away":      `<presence from='Juliet@LOCALHOST/balcony'><show>away</show></presence>`,
		"iqget":     `<iq type='get' id='1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>`,
	}
	cases := []struct {
		name string
		f    Filter
		want []string
	}{
		{"none", Filter{}, []string{"chat", "normal", "available", "away", "iqget"}},
		{"names", Filter{Names: []string{"presence", "iq"}}, []string{"available", "away", "iqget"}},
		{"types", Filter{Types: []string{"chat", "get"}}, []string{"chat", "iqget"}},
		{"implicit types", Filter{Types: []string{"available", "normal"}}, []string{"normal", "available", "away"}},
		{"bare jid", Filter{JID: "juliet@localhost"}, []string{"chat", "available", "away"}},
		{"full jid", Filter{JID: "romeo@localhost/orchard"}, []string{"chat"}},
		{"full jid other resource", Filter{JID: "juliet@localhost/tomb"}, nil},
		{"domain", Filter{JID: "localhost"}, []string{"iqget"}},
		{"all fields", Filter{Names: []string{"message"}, Types: []string{"chat"}, JID: "juliet@localhost"}, []string{"chat"}},
	}
	order := []string{"chat", "normal", "available", "away", "iqget"}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := &collect{}
			s := NewFilter(out, tc.f)
			s.Write(&Record{Kind: KindStreamOpen})
			s.Write(&Record{Kind: KindNote})
			var got []string
			for _, k := range order {
				before := len(out.recs)
				s.Write(rec(t, ClientToServer, stanzas[k]))
				if len(out.recs) > before {
					got = append(got, k)
				}
			}
			if len(out.recs)-len(got) != 2 {
				t.Errorf("non-stanza records were filtered")
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("got %v want %v", got, tc.want)
				}
			}
		})
	}
}
