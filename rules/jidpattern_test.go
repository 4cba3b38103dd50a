package rules

import "testing"

func TestJIDPattern(t *testing.T) {
	cases := []struct {
		pattern string
		jid     string
		want    bool
	}{
		{"*", "", true},
		{"*", "alice@localhost/res", true},
		{"localhost", "localhost", true},
		{"localhost", "LOCALHOST", true},
		{"localhost", "localhost/res", true},
		{"localhost", "alice@localhost", false},
		{"*@localhost", "alice@localhost", true},
		{"*@localhost", "alice@localhost/phone", true},
		{"*@localhost", "localhost", false},
		{"*@localhost", "alice@example.org", false},
		{"alice@localhost", "alice@localhost", true},
		{"alice@localhost", "Alice@LocalHost/x", true},
		{"alice@localhost", "bob@localhost", false},
		{"alice@localhost", "", false},
		{"alice@localhost/*", "alice@localhost/phone", true},
		{"alice@localhost/*", "alice@localhost", false},
		{"alice@localhost/phone", "alice@localhost/phone", true},
		{"alice@localhost/phone", "alice@localhost/Phone", false},
		{"alice@localhost/ph*", "alice@localhost/phone", true},
		{"a*e@*.example.org", "alice@chat.example.org", true},
		{"a*e@*.example.org", "alice@example.org", false},
		{"*.example.org", "conference.example.org", true},
		{"alice@*", "alice@anywhere", true},
		{"*@*/*", "a@b/c", true},
		{"*@*/*", "a@b", false},
		{"alice@localhost", "alice@localhost/a@b", true}, // '@' in the resource is not a separator
	}
	for _, tc := range cases {
		p, err := parseJIDPattern(tc.pattern)
		if err != nil {
			t.Fatalf("%q: %v", tc.pattern, err)
		}
		if got := p.match(tc.jid); got != tc.want {
			t.Errorf("pattern %q on %q = %v, want %v", tc.pattern, tc.jid, got, tc.want)
		}
	}
}

func TestJIDPatternErrors(t *testing.T) {
	for _, bad := range []string{"", "@localhost", "alice@", "alice@localhost/", "a@b@c", "al ice@x", "a<b", "/res"} {
		if _, err := parseJIDPattern(bad); err == nil {
			t.Errorf("pattern %q accepted", bad)
		}
	}
}

func TestGlob(t *testing.T) {
	cases := []struct {
		p, s string
		want bool
	}{
		{"", "", true}, {"*", "", true}, {"a*", "a", true}, {"*a", "ba", true}, {"a*b*c", "aXbYc", true},
		{"a*b*c", "aXbY", false}, {"**", "x", true}, {"abc", "ABC", true}, {"a?c", "abc", false},
	}
	for _, tc := range cases {
		if got := glob(tc.p, tc.s, true); got != tc.want {
			t.Errorf("glob(%q, %q) = %v", tc.p, tc.s, got)
		}
	}
}
