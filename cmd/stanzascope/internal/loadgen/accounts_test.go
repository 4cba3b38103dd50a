package loadgen

import (
	"strings"
	"testing"
)

func TestReadAccounts(t *testing.T) {
	in := "# comment\n\nalice secret one\nbob@example.org\tpw\ncarol\n  dave   x  \n"
	got, err := ReadAccounts(strings.NewReader(in), "def", 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []Account{{"alice", "secret one"}, {"bob", "pw"}, {"carol", "def"}, {"dave", "x"}}
	if len(got) != len(want) {
		t.Fatalf("%+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if got, _ := ReadAccounts(strings.NewReader(in), "def", 2); len(got) != 2 {
		t.Errorf("max not applied: %d", len(got))
	}
	if _, err := ReadAccounts(strings.NewReader("@example.org pw\n"), "def", 10); err == nil {
		t.Error("empty username accepted")
	}
	if _, err := ReadAccounts(strings.NewReader(strings.Repeat("x", MaxAccountLine+10)), "def", 10); err == nil {
		t.Error("overlong line accepted")
	}
}

func TestParseVmRSS(t *testing.T) {
	n, err := parseVmRSS([]byte("Name:\tx\nVmRSS:\t   1234 kB\nThreads: 1\n"))
	if err != nil || n != 1234*1024 {
		t.Fatalf("%d %v", n, err)
	}
	if _, err := parseVmRSS([]byte("Name: x\n")); err == nil {
		t.Fatal("missing VmRSS accepted")
	}
	if _, err := ReadRSS(1 << 30); err == nil {
		t.Fatal("no such process accepted")
	}
}
