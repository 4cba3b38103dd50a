package scram

import (
	"errors"
	"testing"
	"unicode/utf8"
)

func TestParsePlain(t *testing.T) {
	cases := []struct {
		name, in           string
		authzid, user, pwd string
		want               error
	}{
		{"simple", "\x00juliet\x00r0m30", "", "juliet", "r0m30", nil},
		{"case mapped", "\x00Juliet\x00pw", "", "juliet", "pw", nil},
		{"authzid", "juliet@capulet.lit\x00juliet\x00pw", "juliet@capulet.lit", "juliet", "pw", nil},
		{"password with spaces", "\x00juliet\x00a b c", "", "juliet", "a b c", nil},
		{"other authzid", "romeo@montague.lit\x00juliet\x00pw", "", "", "", ErrInvalidAuthzid},
		{"no password", "\x00juliet\x00", "", "", "", ErrMalformed},
		{"no user", "\x00\x00pw", "", "", "", ErrMalformed},
		{"one field", "juliet", "", "", "", ErrMalformed},
		{"four fields", "\x00a\x00b\x00c", "", "", "", ErrMalformed},
		{"bad utf8", "\x00juliet\x00\xff", "", "", "", ErrMalformed},
		{"bad username", "\x00a b\x00pw", "", "", "", ErrNotAuthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			az, u, p, err := ParsePlain([]byte(tc.in))
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if az != tc.authzid || u != tc.user || p != tc.pwd {
				t.Errorf("got %q %q %q", az, u, p)
			}
		})
	}
}

func FuzzParsePlain(f *testing.F) {
	f.Add([]byte("\x00juliet\x00r0m30"))
	f.Add([]byte("juliet@capulet.lit\x00Juliet\x00pw"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		az, u, p, err := ParsePlain(msg)
		if err != nil {
			if az != "" || u != "" || p != "" {
				t.Fatal("values returned with an error")
			}
			return
		}
		if u == "" || p == "" || !utf8.ValidString(p) {
			t.Fatalf("bad success: %q %q %q", az, u, p)
		}
		if n, err := NormalizeUsername(u); err != nil || n != u {
			t.Fatalf("username %q not normalised", u)
		}
	})
}
