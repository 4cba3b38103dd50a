package rules

import (
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/stanzascope/stanzascope/inspect"
)

// maxRemembered bounds the injections an engine remembers; the oldest are forgotten first.
const maxRemembered = 4096

// injected remembers the stanzas the rules injected lately, by the direction they
// travelled and id, so that a stanza answering one (an iq result or error, a bounce, the
// server's delivery of an injected message: the same id, coming back from the side it was
// sent to) makes no injection in turn. Without it a rule that injects in answer to every
// stanza answers its own answers for as long as the connection lasts. The connection is
// not part of the key: the server may deliver an injection to another client, whose
// connection must not answer it either. Ids the engine gives are unique; an id written in
// a rule file may make a stranger's stanza with the same id look like an answer, which
// costs only that stanza's injections.
type injected struct {
	mu   sync.Mutex
	set  map[injKey]struct{}
	ring [maxRemembered]injKey
	next int // ring index of the next key; ring[next] is the oldest once full
	full bool
	some atomic.Bool // anything remembered: the lookup is skipped until then

	prefix string // of the ids given to injections without one (then a number per engine)
	seq    atomic.Uint64
}

type injKey struct {
	dir inspect.Direction // the direction the injection travelled
	id  string
}

func newInjected() *injected {
	return &injected{set: map[injKey]struct{}{}, prefix: "stanzascope-inject-"}
}

// newID returns an id for an injection written without one.
func (m *injected) newID() string {
	return m.prefix + strconv.FormatUint(m.seq.Add(1), 10)
}

// add remembers an injection.
func (m *injected) add(k injKey) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.set[k]; ok {
		return
	}
	if m.full {
		delete(m.set, m.ring[m.next])
	}
	m.ring[m.next] = k
	m.set[k] = struct{}{}
	if m.next++; m.next == maxRemembered {
		m.next, m.full = 0, true
	}
	m.some.Store(true)
}

// has reports whether k was injected (and not forgotten yet).
func (m *injected) has(k injKey) bool {
	if !m.some.Load() {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.set[k]
	return ok
}

// answersInjection reports whether the stanza carries the id of a stanza the rules
// injected toward the peer that sent it. It is asked only by inject actions, and computed
// once per stanza.
func (s *state) answersInjection() bool {
	if s.answers == 0 {
		s.answers = 1
		id := s.attr("id")
		if s.inj != nil && id != "" && s.inj.has(injKey{s.in.Dir.Reverse(), id}) {
			s.answers = 2
		}
	}
	return s.answers == 2
}

// answerTag is how the record says that an injection was not made.
var answerTag = inspect.Tag{Label: "answers an injected stanza: no inject", Color: "yellow"}
