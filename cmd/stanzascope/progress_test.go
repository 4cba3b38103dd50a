package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// bigLog writes a slixmpp log of at least n bytes (the sample session, again and again).
func bigLog(t *testing.T, n int) string {
	t.Helper()
	sample, err := os.ReadFile("../../inspect/logs/testdata/slixmpp.log")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "big.log")
	data := bytes.Repeat(sample, n/len(sample)+1)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestProgress: reading a big file with a terminal on stderr redraws a progress line
// there and erases it at the end; stdout gets only the records. Without a terminal on
// stderr there is no progress line.
func TestProgress(t *testing.T) {
	oldMin, oldEvery, oldTerm := progressMin, progressEvery, progressTerminal
	defer func() { progressMin, progressEvery, progressTerminal = oldMin, oldEvery, oldTerm }()
	progressMin, progressEvery = 1<<20, 0 // every read redraws
	path := bigLog(t, 4<<20)

	for _, terminal := range []bool{true, false} {
		progressTerminal = func(w io.Writer) bool { return terminal }
		var out, errb bytes.Buffer
		if code := run(context.Background(), []string{"inspect", path, "--format", "json"}, &out, &errb); code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		if strings.Contains(out.String(), "inspect:") || strings.Contains(out.String(), "\r") {
			t.Fatal("progress in the output")
		}
		e := errb.String()
		if !terminal {
			if strings.Contains(e, "\r") || strings.Contains(e, "stanzas/s") {
				t.Errorf("a progress line without a terminal: %q", e)
			}
			continue
		}
		for _, want := range []string{"\rinspect: ", " MiB of 4 MiB (", "%), ", " stanzas/s", " left\x1b[K", "\r\x1b[Kinspect: "} {
			if !strings.Contains(e, want) {
				t.Errorf("stderr lacks %q: %.300q", want, e)
			}
		}
		if !strings.HasSuffix(e, "errors\n") {
			t.Errorf("the summary is not the last line: %.300q", e[max(0, len(e)-300):])
		}
	}
	// A small file gets no progress line, even on a terminal.
	progressTerminal = func(io.Writer) bool { return true }
	progressMin = 1 << 30
	var errb bytes.Buffer
	run(context.Background(), []string{"inspect", path, "--format", "json"}, io.Discard, &errb)
	if strings.Contains(errb.String(), "\r") {
		t.Errorf("progress for a file under the threshold: %.200q", errb.String())
	}
}

func TestClockAndSize(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "0:00", 61 * time.Second: "1:01", 3723 * time.Second: "1:02:03"} {
		if got := clockOf(d); got != want {
			t.Errorf("clockOf(%v) = %s, want %s", d, got, want)
		}
	}
	for n, want := range map[int64]string{12: "12 bytes", 3 << 10: "3 KiB", 50 << 20: "50 MiB", 3 << 29: "1.5 GiB"} {
		if got := sizeOf(n); got != want {
			t.Errorf("sizeOf(%d) = %s, want %s", n, got, want)
		}
	}
}
