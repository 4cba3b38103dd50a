package loadgen

import (
	"strings"
	"testing"
)

func FuzzReadAccounts(f *testing.F) {
	f.Add("alice secret\nbob\n")
	f.Fuzz(func(t *testing.T, s string) {
		accts, err := ReadAccounts(strings.NewReader(s), "def", 5)
		if err != nil {
			return
		}
		if len(accts) > 5 {
			t.Fatalf("%d accounts, max 5", len(accts))
		}
		for _, a := range accts {
			if a.Username == "" || a.Password == "" || strings.ContainsAny(a.Username, "@\n") {
				t.Fatalf("bad account %+v", a)
			}
		}
	})
}

func FuzzParseVmRSS(f *testing.F) {
	f.Add("Name:\tx\nVmRSS:\t  1234 kB\n")
	f.Fuzz(func(t *testing.T, s string) {
		if n, err := parseVmRSS([]byte(s)); err == nil && n < 0 {
			t.Fatalf("negative RSS %d", n)
		}
	})
}
