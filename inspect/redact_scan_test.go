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
