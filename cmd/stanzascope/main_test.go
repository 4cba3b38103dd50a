package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestRunExitCodes(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"version", []string{"version"}, 0, "stanzascope "},
		{"version extra arg", []string{"version", "x"}, 2, ""},
		{"unknown command", []string{"frobnicate"}, 2, ""},
		{"unknown flag", []string{"version", "--nope"}, 2, ""},
		{"help", []string{"--help"}, 0, "commands:"},
		{"command help", []string{"version", "--help"}, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tc.args, &out, &errb)
			if code != tc.code {
				t.Fatalf("exit code %d, want %d (stderr %q)", code, tc.code, errb.String())
			}
			if !strings.Contains(out.String(), tc.out) {
				t.Fatalf("stdout %q does not contain %q", out.String(), tc.out)
			}
		})
	}
}
