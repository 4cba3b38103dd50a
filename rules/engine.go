package rules

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/stanzascope/stanzascope/inspect"
)

// Engine applies the rules of a set of files to stanzas. Apply is safe for concurrent use,
// including while Reload swaps in new rules: each call sees one whole rule set.
type Engine struct {
	paths  []string
	cur    atomic.Pointer[compiled]
	reload sync.Mutex // one Reload at a time
	inj    *injected  // the injections made lately, kept across reloads
}

// compiled is an immutable rule set with its lookup index.
type compiled struct {
	rules []*rule
	// Per direction (index 0: c2s, 1: s2c): the rules that can match an element name, in
	// file order, so a stanza looks only at rules whose cheap conditions can hold.
	byName    [2]map[string][]*rule
	anyName   [2][]*rule // rules with no element condition (for names no rule lists)
	keepalive [2][]*rule
}

// RuleCount is how often one rule matched since the engine was created (counts carry over
// a reload for rules that keep their name).
type RuleCount struct {
	Name  string
	File  string
	Line  int
	Count uint64
	// OverBudget is how many stanzas the rule did not match, or did not act on, because
	// the stanza's XPath budget ran out.
	OverBudget uint64
}

// Load reads and compiles the rule files. The error, if any, is a *FileErrors listing every
// problem in every file.
func Load(paths ...string) (*Engine, error) {
	e := &Engine{paths: append([]string(nil), paths...), inj: newInjected()}
	c, err := loadFiles(e.paths)
	if err != nil {
		return nil, err
	}
	e.cur.Store(c)
	return e, nil
}

// New returns an engine over rule sets already parsed (for tests and `rules test`); it has
// no files to reload.
func New(sets ...*RuleSet) (*Engine, error) {
	c, err := compile(sets)
	if err != nil {
		return nil, err
	}
	e := &Engine{inj: newInjected()}
	e.cur.Store(c)
	return e, nil
}

// Paths returns the files the engine was loaded from.
func (e *Engine) Paths() []string { return append([]string(nil), e.paths...) }

// Len returns the number of rules in force.
func (e *Engine) Len() int { return len(e.cur.Load().rules) }

// Reload re-reads the files. On any problem it keeps the rules in force and returns why.
func (e *Engine) Reload() error {
	e.reload.Lock()
	defer e.reload.Unlock()
	if len(e.paths) == 0 {
		return errors.New("rules: nothing to reload: the engine was not loaded from files")
	}
	c, err := loadFiles(e.paths)
	if err != nil {
		return err
	}
	old := e.cur.Load()
	prev := make(map[string]uint64, len(old.rules))
	for _, r := range old.rules {
		prev[r.name] = r.hits.Load()
	}
	for _, r := range c.rules {
		r.hits.Store(prev[r.name])
	}
	e.cur.Store(c)
	return nil
}

// Counts returns every rule's match count, in rule order.
func (e *Engine) Counts() []RuleCount {
	c := e.cur.Load()
	out := make([]RuleCount, len(c.rules))
	for i, r := range c.rules {
		out[i] = RuleCount{Name: r.name, File: r.file, Line: r.line, Count: r.hits.Load(), OverBudget: r.overBudget.Load()}
	}
	return out
}

func loadFiles(paths []string) (*compiled, error) {
	var all []Problem
	var sets []*RuleSet
	for _, p := range paths {
		data, err := readFile(p)
		if err != nil {
			all = append(all, Problem{File: p, Msg: err.Error()})
			continue
		}
		rs, err := Parse(p, data)
		var fe *FileErrors
		if errors.As(err, &fe) {
			all = append(all, fe.Problems...)
			continue
		} else if err != nil {
			all = append(all, Problem{File: p, Msg: err.Error()})
			continue
		}
		sets = append(sets, rs)
	}
	if len(all) > 0 {
		return nil, &FileErrors{Problems: all}
	}
	return compile(sets)
}

// readFile reads a rule file, refusing anything too large without reading it all.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("file larger than %d bytes", maxFileSize)
	}
	return data, nil
}

// compile merges rule sets in order, refusing a rule name used in two files (counts and
// logs identify rules by name), and builds the index.
func compile(sets []*RuleSet) (*compiled, error) {
	c := &compiled{}
	seen := map[string]*rule{}
	var ps []Problem
	for _, s := range sets {
		for _, r := range s.rules {
			if prev, dup := seen[r.name]; dup {
				ps = append(ps, Problem{File: r.file, Line: r.line, Col: r.col,
					Msg: fmt.Sprintf("rule name %q already used in %s at line %d", r.name, prev.file, prev.line)})
				continue
			}
			seen[r.name] = r
			c.rules = append(c.rules, r)
		}
	}
	if len(ps) > 0 {
		return nil, &FileErrors{Problems: ps}
	}
	for d, dir := range []inspect.Direction{inspect.ClientToServer, inspect.ServerToClient} {
		c.byName[d] = map[string][]*rule{}
		for _, r := range c.rules {
			if r.dir != inspect.DirNone && r.dir != dir {
				continue
			}
			switch {
			case r.keepalive:
				c.keepalive[d] = append(c.keepalive[d], r)
			case r.elements == nil:
				c.anyName[d] = append(c.anyName[d], r)
				for name := range c.byName[d] {
					c.byName[d][name] = append(c.byName[d][name], r)
				}
			default:
				for _, name := range r.elements {
					if _, ok := c.byName[d][name]; !ok {
						// A new name starts with the any-name rules seen so far, which
						// precede this rule in file order.
						c.byName[d][name] = append([]*rule(nil), c.anyName[d]...)
					}
					list := c.byName[d][name]
					if len(list) == 0 || list[len(list)-1] != r {
						c.byName[d][name] = append(list, r)
					}
				}
			}
		}
	}
	return c, nil
}

// candidates returns the rules that may match a record, in order.
func (c *compiled) candidates(dir inspect.Direction, rec *inspect.Record) []*rule {
	d := 0
	switch dir {
	case inspect.ClientToServer:
	case inspect.ServerToClient:
		d = 1
	default:
		return nil
	}
	switch rec.Kind {
	case inspect.KindStanza:
		if list, ok := c.byName[d][rec.Name]; ok {
			return list
		}
		return c.anyName[d]
	case inspect.KindWhitespace:
		return c.keepalive[d]
	}
	return nil
}

// Apply runs the rules on one stanza (or whitespace keep-alive) and says what to do with it.
// Rules are tried in order; the first that matches applies its actions and ends the search,
// unless it says `continue`; drop and reject always end it. Apply never changes in.Record
// or its cached tree.
//
// Bytes stanzascope produced itself (in.Record.Origin is OriginProxy: injections, its own
// stream headers and errors) never meet the rules, so no rule acts on its own output; and
// a stanza that answers an injection (see injected) makes no injection in turn.
func (e *Engine) Apply(in Input) Outcome {
	c := e.cur.Load()
	if c == nil || in.Record == nil || in.Record.Origin == inspect.OriginProxy {
		return Outcome{}
	}
	cands := c.candidates(in.Dir, in.Record)
	if len(cands) == 0 {
		return Outcome{}
	}
	return applyRules(cands, in, e.inj)
}

// applyRules is Apply once some rule may match. The view lives on the stack until a rule
// matches, so stanzas no rule wants cost no allocation beyond what the conditions need.
// A panic in a condition or an action (a bug) forwards the stanza unchanged with a tag
// that says so, rather than taking the proxy down.
func applyRules(cands []*rule, in Input, inj *injected) (out Outcome) {
	defer func() {
		if p := recover(); p != nil {
			out = Outcome{Tags: []inspect.Tag{{Label: fmt.Sprintf("rules failed (%v): forwarded unchanged", p), Color: "red"}}}
		}
	}()
	v := view{in: in, inj: inj}
	vp := &v
	var s *state
	for _, r := range cands {
		if !r.match(vp) {
			continue
		}
		if s == nil {
			s = &state{view: v}
			vp = &s.view
		}
		r.hits.Add(1)
		s.out.Matched = append(s.out.Matched, r.name)
		s.cont = false
		s.acting = r
		for _, a := range r.actions {
			a.apply(s)
		}
		s.acting = nil
		if s.stop || !s.cont {
			break
		}
	}
	if s == nil {
		if len(v.overBudget) > 0 {
			return Outcome{OverBudget: v.overBudget, Tags: []inspect.Tag{budgetTag(v.overBudget)}}
		}
		return Outcome{}
	}
	if s.changed && s.out.Verdict == Forward {
		s.out.Replaced = s.work.AppendXML(nil, s.contentNS())
	}
	if len(s.overBudget) > 0 {
		s.out.OverBudget = s.overBudget
		s.out.Tags = append(s.out.Tags, budgetTag(s.overBudget))
	}
	if s.answered {
		s.out.AnswersInjection = true
		s.out.Tags = append(s.out.Tags, answerTag)
	}
	return s.out
}

// budgetTag is how the record says that rules were cut short by the XPath budget.
func budgetTag(names []string) inspect.Tag {
	return inspect.Tag{Label: fmt.Sprintf("xpath budget (%d steps) exceeded: %s", maxXPathSteps, strings.Join(names, ", ")), Color: "red"}
}
