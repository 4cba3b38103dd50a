package main

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/stanzascope/stanzascope/inspect"
)

func TestOutputColorAuto(t *testing.T) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	o := addOutputFlags(fs, false)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	o.isTerminal = func(io.Writer) bool { return true }
	t.Setenv("NO_COLOR", "")
	t.Setenv("TERM", "xterm")
	if !o.useColor(nil) {
		t.Error("auto on a terminal should colour")
	}
	t.Setenv("NO_COLOR", "1")
	if o.useColor(nil) {
		t.Error("auto with NO_COLOR should not colour")
	}
	t.Setenv("NO_COLOR", "")
	t.Setenv("TERM", "dumb")
	if o.useColor(nil) {
		t.Error("auto on a dumb terminal should not colour")
	}
	o.color = "always"
	if !o.useColor(nil) {
		t.Error("always should colour even with NO_COLOR")
	}
	o.color, o.isTerminal = "auto", writerIsTerminal
	t.Setenv("NO_COLOR", "")
	if o.useColor(&bytes.Buffer{}) {
		t.Error("a buffer is not a terminal")
	}
}

func TestOutputPcapUnavailable(t *testing.T) {
	old := newPcapSink
	defer func() { newPcapSink = old }()
	newPcapSink = nil
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	o := addOutputFlags(fs, true)
	if err := fs.Parse([]string{"--pcap-out", "x.pcap"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := o.open(io.Discard); err == nil || !strings.Contains(err.Error(), "pcap output not available in this build") {
		t.Fatalf("err %v", err)
	}
	var got []*inspect.Record
	closed := false
	newPcapSink = func(path string) (inspect.Sink, io.Closer, error) {
		if path != "x.pcap" {
			return nil, nil, errors.New("wrong path")
		}
		return inspect.SinkFunc(func(r *inspect.Record) error { got = append(got, r); return nil }), closerFunc(func() error { closed = true; return nil }), nil
	}
	sink, closeFn, err := o.open(io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	sink.Write((&inspect.Record{Kind: inspect.KindNote}).WithNote("x"))
	if err := closeFn(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !closed {
		t.Fatalf("pcap sink got %d records, closed %v", len(got), closed)
	}
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// TestOutputTerminalOptions: on a terminal the pretty printer wraps at its width and shows
// a legend; --theme picks the colours; a file or a pipe gets neither wrapping nor legend.
func TestOutputTerminalOptions(t *testing.T) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	o := addOutputFlags(fs, false)
	if err := fs.Parse([]string{"--theme", "light", "--color", "always"}); err != nil {
		t.Fatal(err)
	}
	if err := o.validate(); err != nil {
		t.Fatal(err)
	}
	o.isTerminal = func(io.Writer) bool { return true }
	o.columns = func(io.Writer) int { return 72 }
	got := o.prettyOptions(nil)
	if got.Theme != inspect.ThemeLight || got.Columns != 72 || !got.Legend || !got.Color {
		t.Errorf("on a terminal: %+v", got)
	}
	o.isTerminal = func(io.Writer) bool { return false }
	if got := o.prettyOptions(nil); got.Columns != 0 || got.Legend {
		t.Errorf("not on a terminal: %+v", got)
	}
	t.Setenv("COLUMNS", "133")
	if n := terminalColumns(&bytes.Buffer{}); n != 133 {
		t.Errorf("COLUMNS=133 gives %d", n)
	}
	t.Setenv("COLUMNS", "")
	if n := terminalColumns(&bytes.Buffer{}); n != 0 {
		t.Errorf("a buffer has %d columns", n)
	}
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"inspect", "--theme", "sepia", "-"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "--theme must be dark or light") {
		t.Errorf("--theme sepia: exit %d, %s", code, errb.String())
	}
}
