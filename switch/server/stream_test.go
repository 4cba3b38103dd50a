package server

import "testing"

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct {
		v            string
		major, minor int
		ok           bool
	}{
		{"1.0", 1, 0, true},
		{"1.1", 1, 1, true},
		{"01.00", 1, 0, true},
		{"1.10", 1, 10, true},
		{"2.0", 2, 0, true},
		{"0.9", 0, 9, true},
		{"1.0abc", 0, 0, false},
		{"1", 0, 0, false},
		{"1.", 0, 0, false},
		{".0", 0, 0, false},
		{"1.0.0", 0, 0, false},
		{"+1.0", 0, 0, false},
		{"1.-0", 0, 0, false},
		{" 1.0", 0, 0, false},
		{"1.0 ", 0, 0, false},
		{"99999999999999999999.0", 0, 0, false},
		{"", 0, 0, false},
	} {
		major, minor, ok := parseVersion(tc.v)
		if ok != tc.ok || ok && (major != tc.major || minor != tc.minor) {
			t.Errorf("parseVersion(%q) = %d, %d, %v; want %d, %d, %v", tc.v, major, minor, ok, tc.major, tc.minor, tc.ok)
		}
	}
}
