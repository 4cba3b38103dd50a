package replay

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stanzascope/stanzascope/inspect"
)

// summary writes a step's result compactly: "=" a matched stanza, "-" a missing one, "+"
// an unexpected one, "~" one that differs; "A" marks the answer to a request.
func summary(r StepResult) string {
	var parts []string
	pair := func(mark string, p Pair) string {
		switch {
		case p.Replayed == nil:
			return mark + "-" + p.Recorded.Sig.String()
		case p.Recorded == nil:
			return mark + "+" + p.Replayed.Sig.String()
		case len(p.Diff) > 0:
			return mark + "~" + p.Recorded.Sig.String() + "→" + p.Replayed.Sig.String()
		}
		return mark + "=" + p.Replayed.Sig.String()
	}
	if !r.Sent {
		parts = append(parts, "unsent")
	}
	if r.Answer != nil {
		parts = append(parts, pair("A", *r.Answer))
	}
	for _, p := range r.Others {
		parts = append(parts, pair("", p))
	}
	s := strings.Join(parts, ", ")
	if r.Differs {
		s = "DIFF " + s
	}
	return s
}

// The recorded session the tracker tests replay: after the login, a roster get, a
// presence (its echo recorded after the next step), a message to self, a request that
// the server answers with an error, a roster push answered by the client, and the close.
var trackerSession = session(
	"c2s <iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>",
	"s2c <iq type='result' id='r1'><query xmlns='jabber:iq:roster'/></iq>",
	"c2s <presence/>",
	"c2s <message to='alice@localhost/rec' type='chat'><body>hi</body></message>",
	"s2c <presence from='alice@localhost/rec'/>",
	"s2c <message from='alice@localhost/rec' type='chat'><body>hi</body></message>",
	"c2s <iq type='get' id='t1' to='localhost'><time xmlns='urn:xmpp:time'/></iq>",
	"s2c <iq type='error' id='t1'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
	"c2s <iq type='set' id='r2'><query xmlns='jabber:iq:roster'><item jid='bob@localhost'/></query></iq>",
	"s2c <iq type='set' id='push1'><query xmlns='jabber:iq:roster'><item jid='bob@localhost'/></query></iq>",
	"s2c <iq type='result' id='r2'/>",
	"c2s <iq type='result' id='push1'/>",
	"c2s </stream:stream>",
	"s2c </stream:stream>",
)

// Events of a replay: "send N" sends step N, "recv XML" a stanza of the replayed server,
// "close" the end of its stream, "giveup N" stops waiting up to step N.
func TestTracker(t *testing.T) {
	const (
		roster = "s2c <iq type='result' id='r1'><query xmlns='jabber:iq:roster'/></iq>"
		pres   = "<presence from='alice@localhost/rec'/>"
		msg    = "<message from='alice@localhost/rec' type='chat'><body>hi</body></message>"
		push   = "<iq type='set' id='P9'><query xmlns='jabber:iq:roster'><item jid='bob@localhost'/></query></iq>"
	)
	happy := []string{"send 0", "send 1", "recv <iq type='result' id='r1'><query xmlns='jabber:iq:roster'/></iq>", "send 2", "send 3",
		"recv " + pres, "recv " + msg, "send 4",
		"recv <iq type='error' id='t1'><error><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
		"send 5", "recv " + push, "recv <iq type='result' id='r2'/>", "send 6", "send 7", "close"}
	_ = roster
	tests := []struct {
		name   string
		events []string
		want   []string // summary per step
	}{
		{"as recorded", happy, []string{
			"", "A=iq result (query jabber:iq:roster)", "", "=presence available, =message chat", "A=iq error (service-unavailable)",
			"A=iq result, =iq set (query jabber:iq:roster)", "", "=stream close"}},
		{"the presence echo comes before the next step is sent",
			replace(replace(replace(happy, "recv "+pres), "recv "+msg), "send 3", "recv "+pres, "send 3", "recv "+msg), []string{
				"", "A=iq result (query jabber:iq:roster)", "", "=presence available, =message chat", "A=iq error (service-unavailable)",
				"A=iq result, =iq set (query jabber:iq:roster)", "", "=stream close"}},
		{"an answer differs",
			replace(happy, "recv <iq type='error' id='t1'>", "recv <iq type='result' id='t1'><time xmlns='urn:xmpp:time'/></iq>"), []string{
				"", "A=iq result (query jabber:iq:roster)", "", "=presence available, =message chat",
				"DIFF A~iq error (service-unavailable)→iq result (time urn:xmpp:time)",
				"A=iq result, =iq set (query jabber:iq:roster)", "", "=stream close"}},
		{"a bounce instead of the message, and an extra presence",
			replace(happy, "recv "+msg, "recv <message type='error' from='alice@localhost/rec'><error><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>",
				"recv <presence type='unavailable' from='x@localhost'/>"), []string{
				"", "A=iq result (query jabber:iq:roster)", "",
				"DIFF =presence available, ~message chat→message error (item-not-found), +presence unavailable",
				"A=iq error (service-unavailable)", "A=iq result, =iq set (query jabber:iq:roster)", "", "=stream close"}},
		{"no answer, no push: the client's answer to it is not sent",
			replace(replace(happy, "recv <iq type='result' id='r2'/>"), "recv "+push), []string{
				"", "A=iq result (query jabber:iq:roster)", "", "=presence available, =message chat", "A=iq error (service-unavailable)",
				"DIFF A-iq result, -iq set (query jabber:iq:roster)", "DIFF unsent", "=stream close"}},
		{"late: the echo arrives after a later step",
			replace(replace(happy, "recv "+pres), "send 5", "recv "+pres, "send 5"), []string{
				"", "A=iq result (query jabber:iq:roster)", "", "=presence available, =message chat", "A=iq error (service-unavailable)",
				"A=iq result, =iq set (query jabber:iq:roster)", "", "=stream close"}},
		{"the server closes early",
			[]string{"send 0", "send 1", "close"}, []string{
				"", "DIFF A-iq result (query jabber:iq:roster), +stream close", "DIFF unsent", "DIFF unsent", "DIFF unsent", "DIFF unsent", "DIFF unsent", "DIFF unsent"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := scriptOf(t, trackerSession...)
			w := newRewriter(s.JID, s.JID, "", "", "alice", "pw")
			tr := newTracker(s.Steps, w)
			cur := 0
			for _, ev := range tt.events {
				verb, arg, _ := strings.Cut(ev, " ")
				switch verb {
				case "send":
					i, _ := strconv.Atoi(arg)
					if s.Steps[i].Kind == StepLogin {
						tr.sent(i, "")
						cur = i
						continue
					}
					_, id, skip := w.rewrite(s.Steps[i])
					if skip != "" {
						tr.notSent(i, skip)
						continue
					}
					tr.sent(i, id)
					cur = i
				case "recv":
					el, err := inspect.ParseElement([]byte(arg), nil)
					if err != nil {
						t.Fatal(err)
					}
					tr.received(cur, el, []byte(arg))
				case "close":
					tr.closed(cur, []byte("</stream:stream>"))
				case "giveup":
					i, _ := strconv.Atoi(arg)
					tr.giveUp(i)
				}
			}
			res := tr.results()
			var got []string
			for _, r := range res {
				got = append(got, summary(r))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("results:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// replace returns events with the first event that starts with old replaced by news
// (none: removed).
func replace(events []string, old string, news ...string) []string {
	out := append([]string(nil), events...)
	for i, e := range out {
		if strings.HasPrefix(e, old) {
			return slices.Concat(out[:i], news, out[i+1:])
		}
	}
	panic("no event " + old)
}

func TestTrackerWaiting(t *testing.T) {
	s := scriptOf(t, trackerSession...)
	w := newRewriter(s.JID, s.JID, "", "", "alice", "pw")
	tr := newTracker(s.Steps, w)
	tr.sent(0, "")
	if !tr.satisfied(0) {
		t.Fatal("the login step recorded nothing after it")
	}
	tr.sent(1, "r1")
	if tr.satisfied(1) {
		t.Fatal("satisfied before the roster answer")
	}
	tr.received(1, parse(t, "<iq type='result' id='r1'/>"), nil)
	tr.sent(2, "")
	tr.sent(3, "")
	tr.received(3, parse(t, "<presence/>"), nil)
	if tr.satisfied(3) {
		t.Fatal("satisfied without the message")
	}
	tr.giveUp(3)
	if !tr.satisfied(3) {
		t.Fatal("still waiting after giving up")
	}
	tr.sent(4, "t1")
	if tr.satisfied(4) {
		t.Fatal("giving up on step 3 gave up on step 4")
	}
	// What was given up on still matches when it comes.
	tr.received(4, parse(t, "<message type='chat'/>"), nil)
	if r := tr.results()[3]; r.Differs {
		t.Errorf("step 3: %s", summary(r))
	}
}
