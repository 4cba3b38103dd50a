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
	// released holds, per user, a channel that the next release of one of the user's
	// claims closes: what WaitOffline waits on.
	released map[string]chan struct{}
	asleep   map[string]int // WaitOffline calls waiting for each user's release (for tests)
	now      func() time.Time
}

func newClaimTable(lease time.Duration) *claimTable {
	return &claimTable{lease: lease, until: map[string]map[uint64]time.Time{}, released: map[string]chan struct{}{}, asleep: map[string]int{}, now: time.Now}
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
	freed := false
	for _, k := range keys {
		if end, ok := u[k]; ok && end.Equal(until) {
			delete(u, k)
			freed = true
		}
	}
	if len(u) == 0 {
		delete(c.until, user)
	}
	if ch := c.released[user]; ch != nil && freed {
		close(ch)
		delete(c.released, user)
	}
}

// wait is WaitOffline for a store whose user has the messages keys (in any order): false
// at once for none, true at once when one of them is free, and otherwise true when one
// of the user's claims is released or the last of their leases runs out.
func (c *claimTable) wait(ctx context.Context, user string, keys []uint64) (bool, error) {
	if len(keys) == 0 {
		return false, nil
	}
	c.mu.Lock()
	now := c.now()
	u := c.until[user]
	var last time.Time
	for _, k := range keys {
		end, ok := u[k]
		if !ok || !now.Before(end) {
			c.mu.Unlock()
			return true, nil
		}
		if end.After(last) {
			last = end
		}
	}
	ch := c.released[user]
	if ch == nil {
		ch = make(chan struct{})
		c.released[user] = ch
	}
	c.asleep[user]++
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		if c.asleep[user]--; c.asleep[user] == 0 {
			delete(c.asleep, user)
		}
		c.mu.Unlock()
	}()
	t := time.NewTimer(last.Sub(now))
	defer t.Stop()
	select {
	case <-ch:
		return true, nil
	case <-t.C:
		return true, nil
	case <-ctx.Done():
		return false, ctx.Err()
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

// waiting returns how many WaitOffline calls wait for a release of user's claims.
func (c *claimTable) waiting(user string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.asleep[user]
}
