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
		out  []string // each must be on stdout; none: stdout must be empty
		err  []string // each must be on stderr; none: stderr must be empty
	}{
		{"version", []string{"version"}, 0, []string{"stanzascope "}, nil},
		{"version extra arg", []string{"version", "x"}, 2, nil,
			[]string{"stanzascope version: version takes no arguments\n", "(see: stanzascope version --help)\n"}},
		{"unknown command", []string{"frobnicate"}, 2, nil,
			[]string{`stanzascope: unknown command "frobnicate"`, "usage: stanzascope [command]", "commands:", "  inspect "}},
		{"unknown flag", []string{"version", "--nope"}, 2, nil,
			[]string{"stanzascope version: unknown flag: --nope\n", "(see: stanzascope version --help)\n"}},
		{"help", []string{"--help"}, 0, []string{"usage: stanzascope [command]", "commands:", "  proxy ", "  switch ", "  inspect "}, nil},
		{"help command", []string{"help"}, 0, []string{"usage: stanzascope [command]", "commands:"}, nil},
		{"command help", []string{"version", "--help"}, 0, nil, []string{"usage: stanzascope version\n", "flags:"}},
		{"inspect help", []string{"inspect", "--help"}, 0, nil, []string{"usage: stanzascope inspect FILE|-", "--format", "--filter-jid"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tc.args, &out, &errb)
			if code != tc.code {
				t.Fatalf("exit code %d, want %d (stderr %q)", code, tc.code, errb.String())
			}
			check := func(stream, got string, want []string) {
				if len(want) == 0 && got != "" {
					t.Errorf("%s should be empty: %q", stream, got)
				}
				for _, w := range want {
					if !strings.Contains(got, w) {
						t.Errorf("%s %q does not contain %q", stream, got, w)
					}
				}
			}
			check("stdout", out.String(), tc.out)
			check("stderr", errb.String(), tc.err)
		})
	}
}
