package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSeqSharedByOutputs: a record has the same number in the terminal and in the JSON
// log, and a filter does not renumber.
func TestSeqSharedByOutputs(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "log.jsonl")
	code, out, errOut := inspectCmd(t, "inspect", textbookC2S, "--color", "never", "--log", logPath, "--filter-name", "message")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	logged, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	var seq uint64
	for _, l := range strings.Split(strings.TrimSpace(string(logged)), "\n") {
		var m struct {
			Kind, Name string
			Seq        uint64
		}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		if m.Kind == "stanza" && m.Name == "message" {
			seq = m.Seq
			break
		}
	}
	if seq < 2 {
		t.Fatalf("message numbered %d in the log: the records before it must count\n%s", seq, logged)
	}
	if want := fmt.Sprintf("#%d #1 C->S stanza message", seq); !strings.Contains(out, want) {
		t.Errorf("terminal lacks %q:\n%s", want, out)
	}
}
