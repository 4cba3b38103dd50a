package ca

import (
	"strings"
	"testing"
)

// FuzzNormalise checks that any name a client sends either yields a plain ASCII host name
// or an error, never a panic.
func FuzzNormalise(f *testing.F) {
	for _, s := range []string{"localhost", "Example.ORG.", "bücher.example", "::1", "a..b", "x/y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := normalise(s)
		if err != nil {
			return
		}
		if out == "" || len(out) > 253 || strings.ContainsAny(out, " /<>") {
			t.Fatalf("normalise(%q) = %q", s, out)
		}
	})
}
