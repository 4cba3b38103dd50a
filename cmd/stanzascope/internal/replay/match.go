package replay

import (
	"cmp"
	"math"
	"slices"

	"github.com/stanzascope/stanzascope/inspect"
)

// StepResult is the outcome of one step: whether it was sent, and what the replayed
// server answered beside what the recorded one did.
type StepResult struct {
	Seq     uint64 `json:"seq,omitempty"` // the recorded client stanza's number in the log
	Stanza  string `json:"stanza"`        // what the step is (see Step.Describe)
	Phase   string `json:"phase"`         // pre-auth, pre-bind, login, session
	Sent    bool   `json:"sent"`
	NotSent string `json:"not_sent,omitempty"` // why it was not sent
	// Answer pairs the recorded and the replayed answer to an iq request.
	Answer *Pair `json:"answer,omitempty"`
	// Others pairs the rest of what the servers sent after this step: matched, missing
	// (only recorded) or unexpected (only replayed).
	Others  []Pair `json:"others,omitempty"`
	Differs bool   `json:"differs"`
}

// Pair is a server's stanza as recorded and as replayed; either side is nil when only
// the other server sent it.
type Pair struct {
	Recorded *Seen    `json:"recorded,omitempty"`
	Replayed *Seen    `json:"replayed,omitempty"`
	Diff     []string `json:"diff,omitempty"` // how the replayed one differs, field by field
}

// Differs reports whether the pair shows a difference.
func (p *Pair) Differs() bool {
	return p != nil && (p.Recorded == nil || p.Replayed == nil || len(p.Diff) > 0)
}

// Seen is one stanza of a server.
type Seen struct {
	Seq uint64 `json:"seq,omitempty"` // the record's number (recorded stanzas)
	Sig Sig    `json:"sig"`
	XML string `json:"xml"` // its bytes, credentials redacted
}

// tracker matches what the replayed server sends against what the recorded one sent.
// An answer to an iq request is found by the id the request was sent with. Anything
// else is matched by signature to a recorded stanza not matched yet, preferably one
// recorded after the step last sent, else after an earlier step (it came late), else
// after the next step (it came early, as a presence broadcast may); what matches nothing
// is unexpected and belongs to the step last sent.
type tracker struct {
	steps    []*Step
	res      []StepResult
	pending  []*pending
	answers  map[string]int // id sent -> index of the request step awaiting its answer
	answered map[int]bool   // request steps whose answer came
	gaveUp   map[int]bool   // request steps whose answer is no longer waited for
	w        *rewriter      // learns the ids of the server's requests
}

type pending struct {
	e       *Expect
	step    int
	matched bool
	gaveUp  bool
}

func newTracker(steps []*Step, w *rewriter) *tracker {
	t := &tracker{steps: steps, res: make([]StepResult, len(steps)), answers: map[string]int{},
		answered: map[int]bool{}, gaveUp: map[int]bool{}, w: w}
	for i, st := range steps {
		t.res[i] = StepResult{Seq: st.Seq, Stanza: st.Describe(), Phase: st.Phase.String()}
		if st.Kind == StepLogin {
			t.res[i].Phase = "login"
		}
		for _, e := range st.Window {
			t.pending = append(t.pending, &pending{e: e, step: i})
		}
	}
	return t
}

// sent notes that step i went out carrying id.
func (t *tracker) sent(i int, id string) {
	t.res[i].Sent = true
	if t.steps[i].Request {
		t.answers[id] = i
	}
}

// notSent notes that step i was not sent, and why.
func (t *tracker) notSent(i int, why string) { t.res[i].NotSent = why }

// received takes a stanza of the replayed server that arrived after step cur was sent.
func (t *tracker) received(cur int, el *inspect.Element, raw []byte) {
	sig := SigOf(el, inspect.NSClient)
	seen := &Seen{Sig: sig, XML: redacted(raw)}
	if el.Local == "iq" && el.Space == inspect.NSClient && (sig.Type == "result" || sig.Type == "error") {
		if i, ok := t.answers[el.Attr("id")]; ok {
			delete(t.answers, el.Attr("id"))
			t.answered[i] = true
			p := &Pair{Replayed: seen}
			if a := t.steps[i].Answer; a != nil {
				p.Recorded = recordedSeen(a)
				p.Diff = diff(a.Sig, sig)
			}
			t.res[i].Answer = p
			return
		}
	}
	if p := t.match(cur, sig); p != nil {
		p.matched = true
		if p.e.ID != "" {
			t.w.serverIDs[p.e.ID] = el.Attr("id")
		}
		t.res[p.step].Others = append(t.res[p.step].Others, Pair{Recorded: recordedSeen(p.e), Replayed: seen})
		return
	}
	t.res[cur].Others = append(t.res[cur].Others, Pair{Replayed: seen})
}

// closed takes the end of the replayed server's stream.
func (t *tracker) closed(cur int, raw []byte) {
	seen := &Seen{Sig: closeSig, XML: string(raw)}
	if p := t.match(cur, closeSig); p != nil {
		p.matched = true
		t.res[p.step].Others = append(t.res[p.step].Others, Pair{Recorded: recordedSeen(p.e), Replayed: seen})
		return
	}
	t.res[cur].Others = append(t.res[cur].Others, Pair{Replayed: seen})
}

// match finds the recorded stanza that a stanza with signature sig, arriving after step
// cur, stands for.
func (t *tracker) match(cur int, sig Sig) *pending {
	var late, early *pending
	for _, p := range t.pending {
		if p.matched || p.e.Sig != sig {
			continue
		}
		switch {
		case p.step == cur:
			return p
		case p.step < cur && late == nil:
			late = p
		case p.step == cur+1 && early == nil:
			early = p
		}
	}
	if late != nil {
		return late
	}
	return early
}

// satisfied reports whether everything the recorded server sent up to step i (and the
// answers to the requests up to it) has come, or is no longer waited for.
func (t *tracker) satisfied(i int) bool {
	for _, p := range t.pending {
		if p.step > i {
			break
		}
		if !p.matched && !p.gaveUp {
			return false
		}
	}
	for j := 0; j <= i; j++ {
		if t.awaitsAnswer(j) {
			return false
		}
	}
	return true
}

func (t *tracker) awaitsAnswer(j int) bool {
	st := t.steps[j]
	return st.Request && st.Answer != nil && t.res[j].Sent && !t.answered[j] && !t.gaveUp[j]
}

// giveUp stops waiting for what is missing up to step i; it can still match if it comes.
func (t *tracker) giveUp(i int) {
	for _, p := range t.pending {
		if p.step <= i {
			p.gaveUp = true
		}
	}
	for j := 0; j <= i; j++ {
		if t.awaitsAnswer(j) {
			t.gaveUp[j] = true
		}
	}
}

// results returns the outcome of every step: recorded stanzas never matched are missing
// from the step they were recorded after (unless that step was not sent: then nothing of
// its answers could be compared, and the step itself is the difference), and within a
// step a missing and an unexpected stanza of the same element are paired as one that
// differs.
func (t *tracker) results() []StepResult {
	for _, p := range t.pending {
		if !p.matched && t.res[p.step].Sent {
			t.res[p.step].Others = append(t.res[p.step].Others, Pair{Recorded: recordedSeen(p.e)})
		}
	}
	for i := range t.res {
		r := &t.res[i]
		st := t.steps[i]
		if st.Request && st.Answer != nil && r.Sent && r.Answer == nil {
			r.Answer = &Pair{Recorded: recordedSeen(st.Answer)}
		}
		// Recorded stanzas in their recorded order, then the unexpected ones as they came.
		slices.SortStableFunc(r.Others, func(a, b Pair) int { return cmp.Compare(recordedOrder(a), recordedOrder(b)) })
		r.Others = pairUp(r.Others)
		r.Differs = (!r.Sent && st.Kind != StepLogin) || r.Answer.Differs()
		for j := range r.Others {
			if r.Others[j].Differs() {
				r.Differs = true
			}
		}
	}
	return t.res
}

// pairUp joins, in order, a missing stanza with an unexpected one of the same element, so
// that "message chat" against "message error" reads as one difference.
func pairUp(ps []Pair) []Pair {
	consumed := make([]bool, len(ps))
	for i := range ps {
		if ps[i].Replayed != nil {
			continue
		}
		want := ps[i].Recorded.Sig
		for j := range ps {
			q := ps[j]
			if !consumed[j] && q.Recorded == nil && q.Replayed.Sig.Name == want.Name && q.Replayed.Sig.NS == want.NS {
				consumed[j] = true
				ps[i].Replayed = q.Replayed
				ps[i].Diff = diff(want, q.Replayed.Sig)
				break
			}
		}
	}
	out := make([]Pair, 0, len(ps))
	for i, p := range ps {
		if !consumed[i] {
			out = append(out, p)
		}
	}
	return out
}

func recordedOrder(p Pair) uint64 {
	if p.Recorded == nil {
		return math.MaxUint64
	}
	return p.Recorded.Seq
}

func recordedSeen(e *Expect) *Seen {
	return &Seen{Seq: e.Seq, Sig: e.Sig, XML: string(e.Raw)}
}

// redacted returns raw with its credentials redacted, as every output of stanzascope
// shows them.
func redacted(raw []byte) string {
	b, _ := inspect.Redact(raw, nil)
	return string(b)
}
