package rules

import (
	"strings"
	"testing"

	"github.com/stanzascope/stanzascope/inspect"
)

// record frames raw with the real stream reader, as the proxy would, in a jabber:client
// stream.
func record(t testing.TB, raw string) *inspect.Record {
	t.Helper()
	rd := inspect.NewFragmentReader(strings.NewReader(raw), nil, inspect.Limits{})
	for {
		ev, err := rd.Next()
		if err != nil {
			t.Fatalf("framing %q: %v", raw, err)
		}
		if ev.Kind == inspect.KindStanza || ev.Kind == inspect.KindWhitespace {
			r := ev.Record()
			if r.Header == nil {
				r.Header = rd.Header()
			}
			return r
		}
	}
}

// engine compiles a rule file given as text.
func engine(t testing.TB, src string) *Engine {
	t.Helper()
	rs, err := Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("parse:\n%v", err)
	}
	e, err := New(rs)
	if err != nil {
		t.Fatalf("new: %v", err)
	}
	return e
}

func c2s(t testing.TB, raw string) Input {
	return Input{Dir: inspect.ClientToServer, Record: record(t, raw)}
}

func s2c(t testing.TB, raw string) Input {
	return Input{Dir: inspect.ServerToClient, Record: record(t, raw)}
}
