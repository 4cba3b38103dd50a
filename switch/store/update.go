package store

import (
	"bytes"
	"context"
	"fmt"
	"slices"
)

// RosterKey names one roster item: the contact JID in the roster of User.
type RosterKey struct {
	User string // the roster's owner (a username)
	JID  string // the contact's bare JID
}

// RosterSlot is one roster item inside Store.UpdateRoster. On entry it holds what is stored;
// what fn leaves in it is stored when fn returns nil.
type RosterSlot struct {
	Key RosterKey
	// HasAccount reports whether Key.User has an account. Without one the item can only
	// stay absent: setting Exists fails the update with ErrNotFound.
	HasAccount bool
	// Exists reports whether the item is stored. fn sets it to false to delete the item,
	// or to true to store Item.
	Exists bool
	// Item is the stored item, or, when none is, an empty one (subscription none) to fill.
	// Its JID is always stored as Key.JID.
	Item RosterItem
}

// UpdatePair runs fn on two roster items in one transaction (see Store.UpdateRoster):
// typically both ends of a subscription, a's item about b's owner and b's item about a's.
// When a == b, both arguments point to the same slot.
func UpdatePair(ctx context.Context, s Store, a, b RosterKey, fn func(a, b *RosterSlot) error) error {
	return s.UpdateRoster(ctx, []RosterKey{a, b}, func(sl []*RosterSlot) error { return fn(sl[0], sl[1]) })
}

// UpdateItem runs fn on one roster item in one transaction (see Store.UpdateRoster): a
// read, change and write that no concurrent update can come between.
func UpdateItem(ctx context.Context, s Store, k RosterKey, fn func(*RosterSlot) error) error {
	return s.UpdateRoster(ctx, []RosterKey{k}, func(sl []*RosterSlot) error { return fn(sl[0]) })
}

// RosterTx is what a Store implementation offers UpdateRosterTx, the UpdateRoster logic
// every store shares: reads and writes inside one of its transactions. UpdateRosterTx
// writes only after every check passed, so a store whose writes cannot fail needs no
// rollback.
type RosterTx interface {
	HasAccount(user string) (bool, error)
	// Item returns the stored item and true, or false when there is none.
	Item(k RosterKey) (RosterItem, bool, error)
	// Count returns the number of items in user's roster.
	Count(user string) (int, error)
	// Put stores a normalised item (a new one only below the limit: Count was checked).
	Put(user string, it RosterItem) error
	// Delete removes an item that exists.
	Delete(k RosterKey) error
}

// CheckKeys refuses an UpdateRoster with no keys or a key that cannot name anything
// (ErrInvalid). A Store implementation calls it before starting its transaction.
func CheckKeys(keys []RosterKey) error {
	if len(keys) == 0 {
		return fmt.Errorf("%w: UpdateRoster without keys", ErrInvalid)
	}
	for _, k := range keys {
		if err := checkUsername(k.User); err != nil {
			return err
		}
		if err := checkJID(k.JID); err != nil {
			return err
		}
	}
	return nil
}

// UpdateRosterTx is Store.UpdateRoster inside a store's transaction tx, for Store
// implementations: it reads the slots of keys, runs fn and writes what changed, checking
// accounts, items and the roster limit (items per user) before the first write.
func UpdateRosterTx(tx RosterTx, keys []RosterKey, limit int, fn func([]*RosterSlot) error) error {
	slots := make([]*RosterSlot, len(keys))
	before := make([]RosterSlot, len(keys))
	for i, k := range keys {
		if j := slices.Index(keys[:i], k); j >= 0 {
			slots[i] = slots[j] // the same item: one slot, so fn sees its own changes
			continue
		}
		has, err := tx.HasAccount(k.User)
		if err != nil {
			return err
		}
		it, ok, err := tx.Item(k)
		if err != nil {
			return err
		}
		if !ok {
			it = RosterItem{JID: k.JID, Subscription: SubNone}
		}
		slots[i] = &RosterSlot{Key: k, HasAccount: has, Exists: ok, Item: it}
		before[i] = *slots[i]
		before[i].Item = cloneItem(it)
	}
	if err := fn(slots); err != nil {
		return err
	}

	type write struct {
		del bool
		k   RosterKey
		it  RosterItem
	}
	var writes []write
	added := map[string]int{} // new items per user
	for i, k := range keys {
		if slices.Index(keys[:i], k) >= 0 {
			continue
		}
		sl, old := slots[i], before[i]
		if !sl.Exists {
			if old.Exists {
				writes = append(writes, write{del: true, k: k})
			}
			continue
		}
		if !old.HasAccount {
			return fmt.Errorf("%w: account %q", ErrNotFound, k.User)
		}
		it := sl.Item
		it.JID = k.JID
		if err := NormalizeItem(&it); err != nil {
			return err
		}
		if old.Exists && equalItem(old.Item, it) {
			continue
		}
		if !old.Exists {
			added[k.User]++
		}
		writes = append(writes, write{k: k, it: it})
	}
	for user, n := range added {
		have, err := tx.Count(user)
		if err != nil {
			return err
		}
		if have+n > limit {
			return fmt.Errorf("%w: roster of %q has %d items", ErrFull, user, have)
		}
	}
	for _, w := range writes {
		var err error
		if w.del {
			err = tx.Delete(w.k)
		} else {
			err = tx.Put(w.k.User, w.it)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// equalItem reports whether two normalised items store the same thing.
func equalItem(a, b RosterItem) bool {
	return a.JID == b.JID && a.Name == b.Name && a.Subscription == b.Subscription &&
		a.AskOut == b.AskOut && a.PendingIn == b.PendingIn &&
		slices.Equal(a.Groups, b.Groups) && bytes.Equal(a.PendingStanza, b.PendingStanza)
}
