package store

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// claimTable holds the claims of ClaimOffline for a store in this process (Memory, Bolt):
// which queued messages, by key, are claimed, and until when. Claims are not written to
// disk: a crash forgets them, and the messages are claimable again after the restart,
// which is what a crash before the delivery was confirmed must give.
type claimTable struct {
	mu    sync.Mutex
	lease time.Duration
	until map[string]map[uint64]time.Time // username -> message key -> end of its lease
	now   func() time.Time
}

func newClaimTable(lease time.Duration) *claimTable {
	return &claimTable{lease: lease, until: map[string]map[uint64]time.Time{}, now: time.Now}
}

// claim claims for user the keys that are free (never claimed, released, or whose lease
// ran out), in the order given, and returns them with the end of their lease.
func (c *claimTable) claim(user string, keys []uint64) (claimed []uint64, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	until = now.Add(c.lease)
	u := c.until[user]
	for _, k := range keys {
		if end, ok := u[k]; ok && now.Before(end) {
			continue
		}
		if u == nil {
			u = map[uint64]time.Time{}
			c.until[user] = u
		}
		u[k] = until
		claimed = append(claimed, k)
	}
	return claimed, until
}

// release ends the claim of user's keys that is the one ending at until (a claim whose
// lease ran out may have been taken by another since).
func (c *claimTable) release(user string, keys []uint64, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	u := c.until[user]
	for _, k := range keys {
		if end, ok := u[k]; ok && end.Equal(until) {
			delete(u, k)
		}
	}
	if len(u) == 0 {
		delete(c.until, user)
	}
}

// renew extends, to a lease from now, the claim of user's keys that is the one ending at
// until, and returns its new end. It fails with ErrClaimLost when one of keys[from:] is not
// held by that claim any more (its lease ran out and another claim or a take got it);
// the keys still held are renewed all the same, so that the final release finds them.
func (c *claimTable) renew(user string, keys []uint64, from int, until time.Time) (time.Time, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	next := c.now().Add(c.lease)
	u := c.until[user]
	var lost error
	for i, k := range keys {
		if end, ok := u[k]; ok && end.Equal(until) {
			u[k] = next
		} else if i >= from {
			lost = ErrClaimLost
		}
	}
	return next, lost
}

// isFree reports whether user's key is not claimed now.
func (c *claimTable) isFree(user string, key uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	end, ok := c.until[user][key]
	return !ok || !c.now().Before(end)
}

// settleFunc is the SettleFunc of a claim of keys: del deletes the delivered keys not
// deleted yet (an error leaves them, and they are delivered again); a call that is not
// final renews the claim (an error wrapping ErrClaimLost when it was lost); the final call
// ends every key's claim that is still this one. Calls after the final one do nothing.
// The lockers, if any, are held around the delete and the release together.
func (c *claimTable) settleFunc(user string, keys []uint64, until time.Time, del func(ctx context.Context, keys []uint64) error, lockers ...sync.Locker) SettleFunc {
	var mu sync.Mutex
	deleted, ended := 0, false
	renewed := time.Now() // the claim's start or last renewal, on this process's clock
	return func(ctx context.Context, delivered int, final bool) (err error) {
		mu.Lock()
		defer mu.Unlock()
		if ended {
			return nil
		}
		for _, l := range lockers {
			l.Lock()
			defer l.Unlock()
		}
		delivered = min(max(delivered, 0), len(keys))
		if delivered > deleted {
			if err = del(ctx, keys[deleted:delivered]); err == nil {
				deleted = delivered
			}
		}
		if final {
			ended = true
			c.release(user, keys, until)
			return err
		}
		if time.Since(renewed) < c.lease/RenewAfter {
			return err // renewed a moment ago (RenewAfter)
		}
		var lost error
		renewed = time.Now()
		until, lost = c.renew(user, keys, max(delivered, deleted), until)
		if lost != nil {
			return fmt.Errorf("store: offline messages of %q: %w", user, lost)
		}
		return err
	}
}

// noSettle settles a claim of no messages.
func noSettle(context.Context, int, bool) error { return nil }
