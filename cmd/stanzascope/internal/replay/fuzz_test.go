package replay

import (
	"bytes"
	"os"
	"testing"

	"github.com/stanzascope/stanzascope/inspect"
)

// FuzzReadLog reads arbitrary bytes as a JSON log, extracts every connection that logged
// in and replays it on paper: each step rewritten, and the recorded answers fed back as
// if a server sent them again. Nothing may panic, what is sent must parse, and a server
// that answers as recorded shows no difference.
func FuzzReadLog(f *testing.F) {
	real, err := os.ReadFile("testdata/slixmpp-switch.jsonl")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(real)
	f.Add([]byte(jsonLog(f, trackerSession...)))
	f.Add([]byte(jsonLog(f, session("c2s <message to='alice@localhost/rec'/>", "s2c <message from='x@y' type='error'><error/></message>")...)))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ReadLog(bytes.NewReader(data), 0)
		if err != nil {
			return
		}
		for _, c := range l.Connections() {
			_ = c.String()
			s, err := l.Script(c.ID)
			if err != nil {
				continue
			}
			_ = s.Accounts()
			replayOnPaper(t, s)
		}
	})
}

func replayOnPaper(t *testing.T, s *Script) {
	to := s.JID.WithResource("fuzz")
	w := newRewriter(s.JID, to, s.StreamID, "new-stream", to.Local, "pw")
	tr := newTracker(s.Steps, w)
	feed := func(cur int, e *Expect, id string) {
		if e.Sig == closeSig {
			tr.closed(cur, e.Raw)
			return
		}
		el, err := inspect.ParseElement(e.Raw, e.header)
		if err != nil {
			t.Fatalf("a recorded answer the script kept does not parse: %s", e.Raw)
		}
		if id != "" {
			el.SetAttr("id", id)
		}
		tr.received(cur, el, e.Raw)
	}
	for i, st := range s.Steps {
		if st.Kind == StepLogin {
			tr.sent(i, "")
		} else {
			out, id, skip := w.rewrite(st)
			if skip != "" {
				tr.notSent(i, skip)
				continue
			}
			if st.Kind == StepStanza {
				if _, err := inspect.ParseElement(out, nil); err != nil {
					t.Fatalf("step %d sends what does not parse: %s: %v", i, out, err)
				}
			}
			tr.sent(i, id)
			if st.Answer != nil {
				feed(i, st.Answer, id)
			}
		}
		for _, e := range st.Window {
			feed(i, e, "")
		}
	}
	for i, r := range tr.results() {
		if r.Sent && r.Differs {
			t.Fatalf("step %d differs though the server answered as recorded: %s", i, summary(r))
		}
	}
}
