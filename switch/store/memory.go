package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Memory is a Store kept in memory, for tests and for a switch started without a database.
// "Durable" means only until the process ends. Values are copied in and out.
type Memory struct {
	mu       sync.Mutex
	closed   bool
	limits   Limits
	accounts map[string]Account
	rosters  map[string]map[string]RosterItem // username -> contact JID -> item
	offline  map[string][]queued
	seq      uint64 // the key of the last message queued
	claims   *claimTable
}

// queued is a message in a Memory queue, with its key for the claims.
type queued struct {
	key uint64
	m   OfflineMessage
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty Memory store. Of the options, it uses Limits and ClaimLease.
func NewMemory(opts ...Option) *Memory {
	o := ApplyOptions(opts)
	return &Memory{
		limits:   o.Limits,
		accounts: map[string]Account{},
		rosters:  map[string]map[string]RosterItem{},
		offline:  map[string][]queued{},
		claims:   newClaimTable(o.ClaimLease),
	}
}

// lock takes the mutex after checking ctx and the closed flag; on success the caller must
// unlock.
func (m *Memory) lock(ctx context.Context) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	return nil
}

// CreateAccount stores a new account; ErrExists if the username is taken. A zero Created
// is set to the current time.
func (m *Memory) CreateAccount(ctx context.Context, a Account) error {
	if err := NormalizeAccount(&a); err != nil {
		return err
	}
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if _, ok := m.accounts[a.Username]; ok {
		return fmt.Errorf("%w: account %q", ErrExists, a.Username)
	}
	m.accounts[a.Username] = cloneAccount(a)
	return nil
}

// Account returns the account named username, or ErrNotFound.
func (m *Memory) Account(ctx context.Context, username string) (Account, error) {
	if err := m.lock(ctx); err != nil {
		return Account{}, err
	}
	defer m.mu.Unlock()
	a, ok := m.accounts[username]
	if !ok {
		return Account{}, fmt.Errorf("%w: account %q", ErrNotFound, username)
	}
	return cloneAccount(a), nil
}

// SetCredentials replaces the account's credentials (password change); ErrNotFound if the
// account does not exist.
func (m *Memory) SetCredentials(ctx context.Context, username string, c Credentials) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	a, ok := m.accounts[username]
	if !ok {
		return fmt.Errorf("%w: account %q", ErrNotFound, username)
	}
	a.Creds = cloneCredentials(c)
	m.accounts[username] = a
	return nil
}

// DeleteAccount removes the account with its roster and offline messages; ErrNotFound if
// it does not exist.
func (m *Memory) DeleteAccount(ctx context.Context, username string) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if _, ok := m.accounts[username]; !ok {
		return fmt.Errorf("%w: account %q", ErrNotFound, username)
	}
	delete(m.accounts, username)
	delete(m.rosters, username)
	delete(m.offline, username)
	return nil
}

// Roster returns the user's roster sorted by JID; empty for a user without contacts or
// without an account.
func (m *Memory) Roster(ctx context.Context, username string) ([]RosterItem, error) {
	if err := m.lock(ctx); err != nil {
		return nil, err
	}
	defer m.mu.Unlock()
	items := make([]RosterItem, 0, len(m.rosters[username]))
	for _, it := range m.rosters[username] {
		items = append(items, cloneItem(it))
	}
	slices.SortFunc(items, func(a, b RosterItem) int { return cmp.Compare(a.JID, b.JID) })
	return items, nil
}

// RosterItem returns one contact of the user's roster, or ErrNotFound.
func (m *Memory) RosterItem(ctx context.Context, username, jid string) (RosterItem, error) {
	if err := m.lock(ctx); err != nil {
		return RosterItem{}, err
	}
	defer m.mu.Unlock()
	it, ok := m.rosters[username][jid]
	if !ok {
		return RosterItem{}, fmt.Errorf("%w: roster item %q of %q", ErrNotFound, jid, username)
	}
	return cloneItem(it), nil
}

// PutRosterItem adds or replaces a contact (keyed by item.JID); ErrNotFound if the user has
// no account, ErrInvalid for an empty JID or unknown subscription ("" means SubNone),
// ErrFull for a new contact beyond MaxRosterItems.
func (m *Memory) PutRosterItem(ctx context.Context, username string, item RosterItem) error {
	if err := NormalizeItem(&item); err != nil {
		return err
	}
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if _, ok := m.accounts[username]; !ok {
		return fmt.Errorf("%w: account %q", ErrNotFound, username)
	}
	r := m.rosters[username]
	if _, ok := r[item.JID]; !ok && len(r) >= m.limits.RosterItems {
		return fmt.Errorf("%w: roster of %q has %d items", ErrFull, username, len(r))
	}
	m.put(username, item)
	return nil
}

// put stores a copy of item in username's roster; the caller holds mu and checked it.
func (m *Memory) put(username string, item RosterItem) {
	r := m.rosters[username]
	if r == nil {
		r = map[string]RosterItem{}
		m.rosters[username] = r
	}
	r[item.JID] = cloneItem(item)
}

// UpdateRoster runs fn on the items of keys and stores what changed, under the store's
// one lock (see Store.UpdateRoster).
func (m *Memory) UpdateRoster(ctx context.Context, keys []RosterKey, fn func([]*RosterSlot) error) error {
	if err := CheckKeys(keys); err != nil {
		return err
	}
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	return UpdateRosterTx(memoryTx{m}, keys, m.limits.RosterItems, fn)
}

// memoryTx is the RosterTx of Memory; its caller holds mu.
type memoryTx struct{ m *Memory }

func (t memoryTx) HasAccount(user string) (bool, error) {
	_, ok := t.m.accounts[user]
	return ok, nil
}

func (t memoryTx) Item(k RosterKey) (RosterItem, bool, error) {
	it, ok := t.m.rosters[k.User][k.JID]
	return cloneItem(it), ok, nil
}

func (t memoryTx) Count(user string) (int, error) { return len(t.m.rosters[user]), nil }

func (t memoryTx) Put(user string, it RosterItem) error {
	t.m.put(user, it)
	return nil
}

func (t memoryTx) Delete(k RosterKey) error {
	delete(t.m.rosters[k.User], k.JID)
	return nil
}

// DeleteRosterItem removes a contact; ErrNotFound if it is not in the roster.
func (m *Memory) DeleteRosterItem(ctx context.Context, username, jid string) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if _, ok := m.rosters[username][jid]; !ok {
		return fmt.Errorf("%w: roster item %q of %q", ErrNotFound, jid, username)
	}
	delete(m.rosters[username], jid)
	return nil
}

// AddOffline appends a message to the user's offline queue; ErrNotFound if the user has no
// account, ErrFull if MaxOffline messages are already queued.
func (m *Memory) AddOffline(ctx context.Context, username string, msg OfflineMessage) error {
	if err := m.lock(ctx); err != nil {
		return err
	}
	defer m.mu.Unlock()
	if _, ok := m.accounts[username]; !ok {
		return fmt.Errorf("%w: account %q", ErrNotFound, username)
	}
	if n := len(m.offline[username]); n >= m.limits.Offline {
		return fmt.Errorf("%w: %d offline messages for %q", ErrFull, n, username)
	}
	NormalizeMessage(&msg)
	m.seq++
	m.offline[username] = append(m.offline[username], queued{key: m.seq, m: cloneMessage(msg)})
	return nil
}

// TakeOffline returns the user's offline messages that are not claimed, oldest first, and
// deletes them. It returns no messages and no error when there are none.
func (m *Memory) TakeOffline(ctx context.Context, username string) ([]OfflineMessage, error) {
	msgs, settle, err := m.ClaimOffline(ctx, username)
	if err != nil {
		return nil, err
	}
	return msgs, settle(context.WithoutCancel(ctx), len(msgs), true)
}

// ClaimOffline returns the user's offline messages that are not claimed, oldest first,
// claimed until settled (see Store).
func (m *Memory) ClaimOffline(ctx context.Context, username string) ([]OfflineMessage, SettleFunc, error) {
	if err := m.lock(ctx); err != nil {
		return nil, nil, err
	}
	defer m.mu.Unlock()
	q := m.offline[username]
	keys := make([]uint64, len(q))
	for i, e := range q {
		keys[i] = e.key
	}
	keys, until := m.claims.claim(username, keys)
	if len(keys) == 0 {
		return nil, noSettle, nil
	}
	msgs := make([]OfflineMessage, 0, len(keys))
	for _, e := range q {
		if len(msgs) < len(keys) && e.key == keys[len(msgs)] {
			msgs = append(msgs, cloneMessage(e.m))
		}
	}
	return msgs, m.claims.settleFunc(username, keys, until, func(ctx context.Context, del []uint64) error {
		m.mu.Lock() // not lock(ctx): a closing session still deletes what it delivered
		defer m.mu.Unlock()
		q := m.offline[username]
		kept := q[:0]
		for _, e := range q {
			// Keys grow in queue order; some of del may be gone already (another claim,
			// after this one's lease ran out, delivered them).
			for len(del) > 0 && del[0] < e.key {
				del = del[1:]
			}
			if len(del) > 0 && e.key == del[0] {
				del = del[1:]
				continue
			}
			kept = append(kept, e)
		}
		if len(kept) == 0 {
			delete(m.offline, username)
		} else {
			m.offline[username] = kept
		}
		return nil
	}), nil
}

// WaitOffline waits while every offline message of the user is claimed (see Store).
func (m *Memory) WaitOffline(ctx context.Context, username string) (bool, error) {
	if err := m.lock(ctx); err != nil {
		return false, err
	}
	q := m.offline[username]
	keys := make([]uint64, len(q))
	for i, e := range q {
		keys[i] = e.key
	}
	m.mu.Unlock()
	return m.claims.wait(ctx, username, keys)
}

// ClaimLease is how long a claim of ClaimOffline holds its messages unrenewed.
func (m *Memory) ClaimLease() time.Duration { return m.claims.lease }

// Close marks the store closed; later calls return ErrClosed. Close is idempotent.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}
