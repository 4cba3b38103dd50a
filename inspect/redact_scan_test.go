package inspect

import (
	"bytes"
	"testing"
)

// FuzzMayNestSecret holds mayNestSecret, which looks for each word by a rare byte of it, to
// the plain test it replaces: whether raw contains any of the words.
func FuzzMayNestSecret(f *testing.F) {
	for _, s := range []string{
		"<iq type='set'><query xmlns='jabber:iq:register'><password>x</password></query></iq>",
		"<message to='bob@localhost' type='chat'><body>Hello, Bob! kw g</body></message>",
		"passwor dpassword digest fiel field toke token wgfk",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		want := false
		for _, w := range []string{"password", "digest", "field", "token"} {
			want = want || bytes.Contains(raw, []byte(w))
		}
		if got := mayNestSecret(raw); got != want {
			t.Fatalf("mayNestSecret(%q) = %v, want %v", raw, got, want)
		}
	})
}

// FuzzRedactShortcut holds Redact, which returns a plain message, presence or iq without
// the words of mayNestSecret before it scans anything, to redactScan, which scans.
func FuzzRedactShortcut(f *testing.F) {
	for _, s := range []string{
		"<message to='bob@localhost' type='chat'><body>Hello, Bob!</body></message>",
		"<presence/>",
		"<iq\ttype='set'><query xmlns='jabber:iq:register'><password>x</password></query></iq>",
		"<message><x xmlns='jabber:x:conference' password='p'/></message>",
		"<iqx><password>x</password></iqx>",
		"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldABy</auth>",
		"<message",
		"<message><!-- --><token>t</token></message>",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, gotChanged := Redact(raw, nil)
		want, wantChanged := redactScan(raw, nil)
		if gotChanged != wantChanged || !bytes.Equal(got, want) {
			t.Fatalf("Redact(%q) = %q %v, redactScan %q %v", raw, got, gotChanged, want, wantChanged)
		}
	})
}

// BenchmarkRedactMessage is the redactor's work for a chat message with nothing to redact,
// the most common record of the traffic.
func BenchmarkRedactMessage(b *testing.B) {
	r := rec(b, ClientToServer, "<message to='dana@localhost' type='chat' id='m1'><body>I wish to complain about this parrot, which I purchased not half an hour ago.</body></message>")
	b.ReportAllocs()
	for b.Loop() {
		if _, changed := RedactRecord(r); changed {
			b.Fatal("changed")
		}
	}
}
