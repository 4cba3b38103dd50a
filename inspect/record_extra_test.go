package inspect

import (
	"errors"
	"slices"
	"testing"
	"time"
)

// TestRecordExtraCopyOnWrite: copies of a record share its optional part, and a setter on
// one copy never changes what the other returns (the redactor sends a changed copy on
// while the producer's record goes to other outputs).
func TestRecordExtraCopyOnWrite(t *testing.T) {
	var r Record
	r.SetOriginal(nil)
	r.SetTags(nil)
	r.SetRuleOutcome(nil, nil)
	r.SetRuleOutcome([]Tag{}, []string{})
	r.SetViolations([]Violation{})
	r.SetRTT(0)
	r.SetErr(nil)
	r.SetNote("")
	if r.extra != nil {
		t.Fatal("setting zero values attached an optional part")
	}
	m := &Milestone{Kind: MilestoneBound, JID: "a@b/c"}
	r.SetOriginal([]byte("<a/>"))
	r.SetTags([]Tag{{Label: "one"}})
	r.SetRules([]string{"r1"})
	r.SetRTT(time.Second)
	r.SetMilestone(m)
	r.SetViolations([]Violation{{Condition: CondRestrictedXML}})
	r.SetNote("n")
	r.SetErr(errOne)

	c := r
	c.AddTag(Tag{Label: "two"})
	c.SetRules(append(slices.Clip(c.Rules()), "r2"))
	c.SetOriginal([]byte("<b/>"))
	c.SetRTT(2 * time.Second)
	c.SetMilestone(nil)
	c.SetViolations(nil)
	c.SetNote("m")
	c.SetErr(nil)

	if got := r.Tags(); len(got) != 1 || got[0].Label != "one" {
		t.Errorf("the original's tags changed: %+v", got)
	}
	if got := c.Tags(); len(got) != 2 || got[1].Label != "two" {
		t.Errorf("the copy's tags: %+v", got)
	}
	if !slices.Equal(r.Rules(), []string{"r1"}) || !slices.Equal(c.Rules(), []string{"r1", "r2"}) {
		t.Errorf("rules: original %v, copy %v", r.Rules(), c.Rules())
	}
	if string(r.Original()) != "<a/>" || string(c.Original()) != "<b/>" {
		t.Errorf("original: %q, copy %q", r.Original(), c.Original())
	}
	if r.RTT() != time.Second || c.RTT() != 2*time.Second {
		t.Errorf("rtt: original %v, copy %v", r.RTT(), c.RTT())
	}
	if r.Milestone() != m || c.Milestone() != nil {
		t.Errorf("milestone: original %v, copy %v", r.Milestone(), c.Milestone())
	}
	if len(r.Violations()) != 1 || c.Violations() != nil {
		t.Errorf("violations: original %v, copy %v", r.Violations(), c.Violations())
	}
	if r.Note() != "n" || c.Note() != "m" || r.Err() != errOne || c.Err() != nil {
		t.Errorf("note and error: original %q %v, copy %q %v", r.Note(), r.Err(), c.Note(), c.Err())
	}
}

// TestRedactorKeepsProducerExtra: the redactor's copy gets the redacted Original and the
// SASL description in a part of its own; the producer's record keeps its own.
func TestRedactorKeepsProducerExtra(t *testing.T) {
	raw := `<iq type='set' id='reg'><query xmlns='jabber:iq:register'><username>v</username><password>parrot</password></query></iq>`
	r := rec(t, ClientToServer, raw)
	r.SetOriginal([]byte(raw))
	r.SetTags([]Tag{{Label: "kept"}})
	var got *Record
	if err := NewRedactor(SinkFunc(func(c *Record) error { got = c; return nil })).Write(r); err != nil {
		t.Fatal(err)
	}
	if got == r || string(r.Original()) != raw {
		t.Fatalf("the producer's record changed: original %q", r.Original())
	}
	if string(got.Original()) == raw || len(got.Tags()) != 1 {
		t.Errorf("the redacted copy: original %q, tags %v", got.Original(), got.Tags())
	}
}

var errOne = errors.New("one")
