package proxy

import (
	"io"
	"testing"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/rules"
)

// TestHookKeepalive: whitespace keep-alives go through the hook too, so a rule can drop or
// hide them; without such a rule they pass unchanged.
func TestHookKeepalive(t *testing.T) {
	hook := HookFunc(func(in rules.Input) rules.Outcome {
		if in.Record.Kind != inspect.KindWhitespace || in.Dir != inspect.ClientToServer {
			return rules.Outcome{}
		}
		if string(in.Record.Raw) == "\n" {
			return rules.Outcome{Verdict: rules.Drop, Matched: []string{"no-newlines"}}
		}
		return rules.Outcome{Hide: true}
	})
	got := make(chan string, 1)
	tp := startProxy(t, Config{Upstream: politeServer(t, got), Hook: hook}, false)
	c := dial(t, tp.addr)
	io.WriteString(c, clientHeader)
	readUntil(t, c, "</stream:features>")
	io.WriteString(c, "<presence id='a'/>\n<presence id='b'/> <presence id='c'/></stream:stream>")
	readAll(t, c)
	want := clientHeader + "<presence id='a'/><presence id='b'/> <presence id='c'/></stream:stream>"
	if s := <-got; s != want {
		t.Fatalf("upstream got\n%s\nwant\n%s", s, want)
	}
	tp.stop()
	var ws []string
	for _, r := range tp.sink.all() {
		if r.Kind == inspect.KindWhitespace && r.Dir == inspect.ClientToServer {
			ws = append(ws, string(r.Verdict))
		}
	}
	if len(ws) != 1 || ws[0] != "dropped" {
		t.Fatalf("whitespace records %q, want one dropped (the hidden one not logged)", ws)
	}
}
