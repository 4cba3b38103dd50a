package rules

import (
	"bytes"
	"strings"

	"github.com/stanzascope/stanzascope/inspect"
)

// view is what conditions look at for one stanza. It caches the top-level attributes read
// from the raw bytes, so 50 rules asking for `type` scan the start tag once, and it builds
// the tree only when a condition or an action needs it.
type view struct {
	in   Input
	tree *inspect.Element // parsed original (cached in the Record), or nil
	bad  bool             // parsing failed: tree conditions never match
	work *inspect.Element // the changed copy once an action changed the stanza
	nav  *navigator       // reused by every XPath condition on this stanza
	text *string          // the original's string-value, for literal hints
	raw  rawState         // rawText of the original, for literal hints before parsing

	attrs [4]string // id, type, from, to: read lazily from the raw bytes
	have  uint8     // bit i set: attrs[i] is valid
	raws  [4][]byte // the same as written (a view on the record's bytes), for comparing
	// bit i set: raws[i] is known; bit i+4 set: it holds an entity reference, so the
	// bytes are not the value (compare attrs[i] instead)
	haveRaw uint8

	overBudget []string // the rules whose XPath the stanza's budget cut short, in order
	acting     *rule    // the rule whose actions are running
	inj        *injected
	answers    uint8 // answersInjection: 0 not asked yet, 1 no, 2 yes
}

// budgetSpent reports whether the stanza's XPath budget ran out.
func (v *view) budgetSpent() bool { return v.nav != nil && v.nav.overBudget() }

// noteBudget records that rule r did not match, or did not act, for lack of budget.
func (v *view) noteBudget(r *rule) {
	if n := len(v.overBudget); n == 0 || v.overBudget[n-1] != r.name {
		v.overBudget = append(v.overBudget, r.name)
		r.overBudget.Add(1)
	}
}

// actionBudget is called after an action's XPath evaluation: when the budget ran out, the
// action did nothing and the acting rule is noted.
func (v *view) actionBudget() {
	if v.budgetSpent() && v.acting != nil {
		v.noteBudget(v.acting)
	}
}

// cachedAttrs are in the order of inspect.TopID, TopType, TopFrom, TopTo.
var cachedAttrs = [4]string{"id", "type", "from", "to"}

// current returns the stanza as it stands (the changed copy, else the original), parsing
// it on first use; nil when it cannot be parsed.
func (v *view) current() *inspect.Element {
	if v.work != nil {
		return v.work
	}
	if v.tree == nil && !v.bad {
		el, err := v.in.Record.Element()
		if err != nil || el == nil {
			v.bad = true
			return nil
		}
		v.tree = el
	}
	return v.tree
}

// navigator returns a navigator on el, allocated once per stanza: every XPath evaluation
// on the stanza (conditions, action targets, templates) goes through it and spends its
// one budget.
func (v *view) navigator(el *inspect.Element) *navigator {
	if v.nav == nil {
		v.nav = newNavigator(el)
		return v.nav
	}
	return v.nav.reset(el)
}

// rawState caches rawText for one stanza.
type rawState uint8

const (
	rawUnknown  rawState = iota // not computed yet
	rawUsable                   // v.text holds the string-value, computed from the bytes
	rawUnusable                 // the bytes hold references or CDATA: use the tree
)

// hintMayHold reports whether a rule's literal hint may hold, from the raw bytes when they
// can tell (no tree is built), else from the tree. It is only asked before any change.
func (v *view) hintMayHold(lit string) bool {
	if v.raw == rawUnknown {
		v.raw = rawUnusable
		if t, ok := rawText(v.in.Record.Raw); ok {
			v.raw, v.text = rawUsable, &t
		}
	}
	if v.raw == rawUsable {
		return rawMayContain(v.in.Record.Raw, *v.text, lit)
	}
	el := v.current()
	return el != nil && v.mayContain(el, lit)
}

// mayContain is mayContain with the stanza's text computed once for all the rules.
func (v *view) mayContain(el *inspect.Element, lit string) bool {
	if el != v.tree {
		return mayContain(el, lit) // a changed copy: nothing cached
	}
	if v.text == nil {
		s := stringValue(el)
		v.text = &s
	}
	if strings.Contains(*v.text, lit) {
		return true
	}
	return attrContains(el, lit)
}

// name returns the local name of the stanza as it stands.
func (v *view) name() string {
	if v.work != nil {
		return v.work.Local
	}
	return v.in.Record.Name
}

// attr returns a top-level attribute of the stanza as it stands.
func (v *view) attr(local string) string {
	if v.work != nil {
		return v.work.Attr(local)
	}
	for i, a := range cachedAttrs {
		if a == local {
			if v.have&(1<<i) == 0 {
				v.attrs[i] = v.in.Record.Attr(local)
				v.have |= 1 << i
			}
			return v.attrs[i]
		}
	}
	return v.in.Record.Attr(local)
}

// Indexes of cachedAttrs.
const (
	attrID = iota
	attrType
	attrFrom
	attrTo
)

// rawAttr returns the cached attribute i of the original stanza as written, when those
// bytes are its value (no entity reference in them, nothing changed yet): conditions
// compare it without building a string, so that matching a stanza allocates nothing. The
// start tag is scanned once for the four cached attributes. ok false: ask attr.
func (v *view) rawAttr(i int) (b []byte, ok bool) {
	if v.work != nil {
		return nil, false
	}
	if v.haveRaw&0xf == 0 {
		v.scanRaw()
	}
	return v.raws[i], v.haveRaw&(1<<(i+4)) == 0
}

// scanRaw reads the cached attributes from the start tag of the original stanza, or takes
// them from where the Reader found them (inspect.Record.TopAttrRaw).
func (v *view) scanRaw() {
	v.haveRaw = 0xf
	r := v.in.Record
	if r.Kind != inspect.KindStanza && r.Kind != inspect.KindStreamOpen {
		return
	}
	if _, _, known := r.TopAttrRaw(inspect.TopID); known {
		// The Reader noted them while it framed the stanza: no second scan.
		for i := range cachedAttrs {
			v.raws[i], _, _ = r.TopAttrRaw(i)
			if bytes.IndexByte(v.raws[i], '&') >= 0 {
				v.haveRaw |= 1 << (i + 4)
			}
		}
		return
	}
	raw := r.Raw
	j := inspect.FirstStartTag(raw)
	if j < 0 {
		return
	}
	raw = raw[j:]
	var buf [8]inspect.TagAttr // most stanzas have few attributes: no allocation
	t, err := inspect.ScanStartTag(raw, buf[:0])
	if err != nil {
		// Not a start tag that scans (a reader in annotate mode frames past breaches):
		// read each attribute as Record.Attr does.
		for i, name := range cachedAttrs {
			v.raws[i], _ = inspect.RawAttr(raw, name)
			if bytes.IndexByte(v.raws[i], '&') >= 0 {
				v.haveRaw |= 1 << (i + 4)
			}
		}
		return
	}
	for _, a := range t.Attrs {
		i := -1
		switch string(a.Name(raw)) {
		case "id":
			i = attrID
		case "type":
			i = attrType
		case "from":
			i = attrFrom
		case "to":
			i = attrTo
		}
		if i >= 0 && v.raws[i] == nil { // the first one, as RawAttr
			v.raws[i] = a.Value(raw)
			if bytes.IndexByte(v.raws[i], '&') >= 0 {
				v.haveRaw |= 1 << (i + 4)
			}
		}
	}
}

// jidAttr reports whether p matches the address in attribute i (attrFrom, attrTo).
func (v *view) jidAttr(p *jidPattern, i int) bool {
	if b, ok := v.rawAttr(i); ok {
		return p.matchBytes(b)
	}
	return p.match(v.attr(cachedAttrs[i]))
}

// typeIn reports whether the stanza's type, with the RFC 6120/6121 defaults
// (stanzaType), is one of types.
func (v *view) typeIn(types []string) bool {
	b, ok := v.rawAttr(attrType)
	if !ok {
		return contains(types, v.stanzaType())
	}
	if len(b) == 0 {
		return contains(types, v.stanzaType()) // the default: a constant, no allocation
	}
	for _, t := range types {
		if string(b) == t {
			return true
		}
	}
	return false
}

// stanzaType returns the type attribute with RFC 6120/6121 defaults: a message without one
// is "normal", a presence without one is "available".
func (v *view) stanzaType() string {
	t := v.attr("type")
	if t == "" {
		switch v.name() {
		case "message":
			return "normal"
		case "presence":
			return "available"
		}
	}
	return t
}

// contentNS returns the stream's content namespace (jabber:client when unknown).
func (v *view) contentNS() string {
	if h := v.in.Record.Header; h != nil && h.ContentNS != "" {
		return h.ContentNS
	}
	return inspect.NSClient
}

// state is what actions work on: the view plus the outcome being built.
type state struct {
	view
	out      Outcome
	answered bool // an inject action was skipped: the stanza answers an injection
	changed  bool // the stanza was changed: serialise v.work into Outcome.Replaced
	stop     bool // dropped or rejected: no later rule applies
	cont     bool // the current rule said `continue`
}

// mutable returns the stanza as a tree the action may change: a deep copy of the original
// made on first use, so the Record's cached tree is never touched. It returns nil when the
// stanza cannot be parsed.
func (s *state) mutable() *inspect.Element {
	if s.work == nil {
		el := s.current()
		if el == nil {
			return nil
		}
		s.work = el.Copy()
	}
	return s.work
}

// replace makes el the stanza from now on.
func (s *state) replace(el *inspect.Element) {
	s.work = el
	s.changed = true
}

// data returns what templates see.
func (s *state) data() tmplData {
	return tmplData{
		ID: s.attr("id"), From: s.attr("from"), To: s.attr("to"), Type: s.attr("type"),
		Bound: s.in.BoundJID, stanza: s.current(), v: &s.view,
	}
}
