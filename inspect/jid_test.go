package inspect

import (
	"errors"
	"strings"
	"testing"
)

func TestParseJID(t *testing.T) {
	cases := []struct {
		in, want string
		bare     bool
	}{
		{"Mr_Praline@localhost/telnet", "mr_praline@localhost/telnet", false},
		{"JULIET@Example.COM", "juliet@example.com", true},
		{"example.com", "example.com", true},
		{"example.com.", "example.com", true},
		{"room@conference.example/Nick With Spaces", "room@conference.example/Nick With Spaces", false},
		{"a@b/c/d", "a@b/c/d", false},
		{"a@b/c@d", "a@b/c@d", false},
		{"[::1]", "[::1]", true},
		{"u@127.0.0.1", "u@127.0.0.1", true},
		{"ñ@Bücher.example/Ω", "ñ@bücher.example/Ω", false},
	}
	for _, tc := range cases {
		j, err := ParseJID(tc.in)
		if err != nil {
			t.Errorf("ParseJID(%q): %v", tc.in, err)
			continue
		}
		if j.String() != tc.want || j.IsBare() != tc.bare {
			t.Errorf("ParseJID(%q) = %q bare=%v, want %q bare=%v", tc.in, j, j.IsBare(), tc.want, tc.bare)
		}
		if j2, err := ParseJID(j.String()); err != nil || j2 != j {
			t.Errorf("not stable: %q -> %q (%v)", j, j2, err)
		}
	}
	bad := map[string]string{
		"":                               "empty domainpart",
		"@example.com":                   "empty localpart",
		"user@":                          "empty domainpart",
		"user@example.com/":              "empty resourcepart",
		"a@b@c":                          "domainpart",
		"a b@example.com":                "localpart",
		"a\"b@example.com":               "localpart",
		"[zz]":                           "IPv6",
		strings.Repeat("a", 1024) + "@b": "localpart",
		"\xff@b":                         "UTF-8",
	}
	for in, why := range bad {
		_, err := ParseJID(in)
		if err == nil || !errors.Is(err, ErrJID) || !strings.Contains(err.Error(), why) {
			t.Errorf("ParseJID(%q) = %v, want an ErrJID mentioning %q", in, err, why)
		}
	}
	j := MustJID("a@b/c")
	if j.Bare().String() != "a@b" || j.WithResource("d").String() != "a@b/d" || j.IsZero() || !(JID{}).IsZero() {
		t.Error("helpers")
	}
}
