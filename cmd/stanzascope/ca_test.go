package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestCACommand(t *testing.T) {
	dir := t.TempDir()
	for _, want := range []string{"created now", "existing"} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), []string{"ca", "--ca-dir", dir}, &out, &errb); code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		for _, s := range []string{want, dir + "/stanzascope-ca.pem", "SHA-256:", "update-ca-certificates", "--cafile"} {
			if !strings.Contains(out.String(), s) {
				t.Errorf("output lacks %q:\n%s", s, out.String())
			}
		}
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"ca", "extra"}, &out, &errb); code != 2 {
		t.Fatalf("extra argument: exit %d", code)
	}
}
