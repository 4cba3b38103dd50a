package server

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stanzascope/stanzascope/switch/store"
)

// lateCommit is a store whose roster transactions commit late: the first one after armed
// runs its fn (the change decides what it delivers), then the hook runs while the store
// still holds the state before the change (as a reader beside an open transaction of
// PostgreSQL or Bolt sees it), and only then is what fn left stored. fn runs once.
type lateCommit struct {
	store.Store
	mu   sync.Mutex
	hook func()
}

var errHold = errors.New("held until after the hook")

func (s *lateCommit) UpdateRoster(ctx context.Context, keys []store.RosterKey, fn func(slots []*store.RosterSlot) error) error {
	s.mu.Lock()
	hook := s.hook
	s.hook = nil
	s.mu.Unlock()
	if hook == nil {
		return s.Store.UpdateRoster(ctx, keys, fn)
	}
	var decided []store.RosterSlot
	err := s.Store.UpdateRoster(ctx, keys, func(slots []*store.RosterSlot) error {
		if err := fn(slots); err != nil {
			return err
		}
		decided = decided[:0]
		for _, sl := range slots {
			decided = append(decided, *sl)
		}
		return errHold // nothing stored yet
	})
	if !errors.Is(err, errHold) {
		return err
	}
	hook()
	return s.Store.UpdateRoster(ctx, keys, func(slots []*store.RosterSlot) error {
		for i, sl := range slots {
			*sl = decided[i]
		}
		return nil
	})
}

// TestSubscribeWhileContactLogsIn: a subscription request is decided while its contact is
// offline, and the contact logs in and reads her roster before the request is stored. Who
// gets the request must be looked up after the commit (sender.deliverResources): decided
// before it, the request reached no one — her login had read the roster without it — and
// waited for her next login (d442227: TestWebSlixmpp lost such a request under -race).
func TestSubscribeWhileContactLogsIn(t *testing.T) {
	st := &lateCommit{Store: store.NewMemory()}
	ts := startServer(t, func(c *Config) { c.Store = st })
	registerRaw(t, ts.addr, "jane", "pw")
	registerRaw(t, ts.addr, "dana", "pw")
	jane := legacyLogin(t, ts.addr, "jane", "pw", "Home")
	jane.send("<presence/>")
	syncWith(jane, "jane@localhost/Home")

	var dana *rawClient
	st.mu.Lock()
	st.hook = func() {
		// Between jane's decision and its commit: dana comes online; her initial presence
		// reads her roster, which has no request yet.
		dana = legacyLogin(t, ts.addr, "dana", "pw", "Home")
		dana.send("<presence/>")
		syncWith(dana, "dana@localhost/Home")
	}
	st.mu.Unlock()
	jane.send("<presence to='dana@localhost' type='subscribe'/>")
	syncWith(jane, "jane@localhost/Home")
	if dana == nil {
		t.Fatal("the subscription request ran no roster transaction")
	}
	dana.expect("<presence from='jane@localhost' to='dana@localhost' type='subscribe'/>")
}
