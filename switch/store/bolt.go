package store

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// ErrLocked is returned by OpenBolt when another process holds the database open.
var ErrLocked = errors.New("store: database is locked by another process")

// Bucket layout. accounts maps username -> account record; rosters and offline hold one
// nested bucket per username, keyed by contact JID and by an 8-byte big-endian sequence
// number (so cursor order is arrival order) respectively.
var (
	bucketMeta     = []byte("meta")
	bucketAccounts = []byte("accounts")
	bucketRosters  = []byte("rosters")
	bucketOffline  = []byte("offline")
	keyFormat      = []byte("format")
)

// schemaVersion is the layout version written in the meta bucket.
const schemaVersion = 1

// DefaultLockTimeout is how long OpenBolt waits for another process to release the file.
const DefaultLockTimeout = time.Second

// Bolt is a Store in one bbolt file. Every mutating method is one fsync'd transaction, so
// what it acknowledged survives a crash or kill -9.
type Bolt struct {
	db      *bolt.DB
	path    string
	limits  Limits
	damaged atomic.Pointer[error] // set once a transaction found the file damaged
	claims  *claimTable           // the claims of ClaimOffline (in memory: a crash forgets them)
	// claimMu orders, per user (striped), the look and claim of ClaimOffline against the
	// delete and release of a settle, so that no claim sees a message that a settle is
	// deleting.
	claimMu [64]sync.Mutex
}

// claimLock is the mutex of username's claims.
func (b *Bolt) claimLock(username string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(username))
	return &b.claimMu[h.Sum32()%uint32(len(b.claimMu))]
}

var _ Store = (*Bolt)(nil)

// OpenBolt opens or creates the database file at path, creating missing parent directories
// with mode 0700 and the file with mode 0600. It fails with ErrLocked if another process
// has the file open, and with a clear error for a file that is not a database of ours.
// An existing file is checked first (see checkFile): a damaged one fails with ErrDamaged,
// naming the file and what to do, and is left as it was. Of the options, it uses Limits
// and LockTimeout.
func OpenBolt(path string, opts ...Option) (*Bolt, error) {
	cfg := ApplyOptions(opts)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: create directory for %s: %w", path, err)
	}
	// Check a file that exists before opening it for writing: bbolt panics on some damaged
	// files, and a write (bbolt commits at open) must not make the damage worse.
	if fi, err := os.Stat(path); err == nil && fi.Size() > 0 {
		if err := checkFile(path, cfg.LockTimeout); err != nil {
			return nil, err
		}
	}
	db, err := openFile(path, &bolt.Options{Timeout: cfg.LockTimeout})
	if err != nil {
		return nil, err
	}
	b := &Bolt{db: db, path: path, limits: cfg.Limits, claims: newClaimTable(cfg.ClaimLease)}
	if err := b.init(); err != nil {
		db.Close()
		return nil, err
	}
	return b, nil
}

// init creates the top-level buckets and checks the layout version.
func (b *Bolt) init() error {
	err := b.db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketMeta, bucketAccounts, bucketRosters, bucketOffline} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		v := meta.Get(keyFormat)
		if v == nil {
			return meta.Put(keyFormat, []byte(strconv.Itoa(schemaVersion)))
		}
		n, err := strconv.Atoi(string(v))
		if err != nil || n != schemaVersion {
			return fmt.Errorf("database layout version %q, this program reads %d", v, schemaVersion)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: initialise %s: %w", b.path, err)
	}
	return nil
}

// Path returns the database file's path.
func (b *Bolt) Path() string { return b.path }

// WaitOffline waits while every offline message of the user is claimed (see Store).
func (b *Bolt) WaitOffline(ctx context.Context, username string) (bool, error) {
	var keys []uint64
	err := b.view(ctx, func(tx *bolt.Tx) error {
		if q := userBucket(tx, bucketOffline, username); q != nil {
			return q.ForEach(func(k, _ []byte) error {
				keys = append(keys, binary.BigEndian.Uint64(k))
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return false, err
	}
	return b.claims.wait(ctx, username, keys)
}

// ClaimLease is how long a claim of ClaimOffline holds its messages unrenewed.
func (b *Bolt) ClaimLease() time.Duration { return b.claims.lease }

// Close releases the file and its lock. Later calls return ErrClosed; Close is idempotent.
func (b *Bolt) Close() error {
	if err := b.db.Close(); err != nil {
		return fmt.Errorf("store: close %s: %w", b.path, err)
	}
	return nil
}

// update runs fn in one read-write (fsync'd) transaction.
func (b *Bolt) update(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	return b.run(ctx, b.db.Update, fn)
}

// view runs fn in one read-only transaction.
func (b *Bolt) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	return b.run(ctx, b.db.View, fn)
}

// run runs fn in a transaction begun by tx (View or Update). A panic of bbolt (a page it
// finds damaged) or a fault reading the mapped file (truncated under us) becomes an
// ErrDamaged error, and every later call fails with it too: a write into a damaged file
// could make the damage worse, and a transaction that panicked may still hold bbolt's
// writer lock.
func (b *Bolt) run(ctx context.Context, tx func(func(*bolt.Tx) error) error, fn func(tx *bolt.Tx) error) error {
	if err := ctxErr(ctx); err != nil {
		return err
	}
	if err := b.damaged.Load(); err != nil {
		return *err
	}
	err := safely(b.path, func() error { return closedErr(tx(fn)) })
	if errors.Is(err, ErrDamaged) {
		b.damaged.CompareAndSwap(nil, &err)
	}
	return err
}

func closedErr(err error) error {
	if errors.Is(err, berrors.ErrDatabaseNotOpen) {
		return ErrClosed
	}
	return err
}

// CreateAccount stores a new account; ErrExists if the username is taken. A zero Created
// is set to the current time.
func (b *Bolt) CreateAccount(ctx context.Context, a Account) error {
	if err := NormalizeAccount(&a); err != nil {
		return err
	}
	v, err := encodeAccount(a)
	if err != nil {
		return fmt.Errorf("store: encode account %q: %w", a.Username, err)
	}
	return b.update(ctx, func(tx *bolt.Tx) error {
		accts := tx.Bucket(bucketAccounts)
		if accts.Get([]byte(a.Username)) != nil {
			return fmt.Errorf("%w: account %q", ErrExists, a.Username)
		}
		return accts.Put([]byte(a.Username), v)
	})
}

// Account returns the account named username, or ErrNotFound.
func (b *Bolt) Account(ctx context.Context, username string) (Account, error) {
	var a Account
	err := b.view(ctx, func(tx *bolt.Tx) error {
		var err error
		a, err = getAccount(tx, username)
		return err
	})
	return a, err
}

func getAccount(tx *bolt.Tx, username string) (Account, error) {
	v := tx.Bucket(bucketAccounts).Get([]byte(username))
	if v == nil {
		return Account{}, fmt.Errorf("%w: account %q", ErrNotFound, username)
	}
	a, err := decodeAccount(v)
	if err != nil {
		return Account{}, fmt.Errorf("store: account %q: %w", username, err)
	}
	return a, nil
}

// hasAccount reports an ErrNotFound error when username has no account.
func hasAccount(tx *bolt.Tx, username string) error {
	if username == "" || tx.Bucket(bucketAccounts).Get([]byte(username)) == nil {
		return fmt.Errorf("%w: account %q", ErrNotFound, username)
	}
	return nil
}

// SetCredentials replaces the account's credentials; ErrNotFound if it does not exist.
func (b *Bolt) SetCredentials(ctx context.Context, username string, c Credentials) error {
	return b.update(ctx, func(tx *bolt.Tx) error {
		a, err := getAccount(tx, username)
		if err != nil {
			return err
		}
		a.Creds = c
		v, err := encodeAccount(a)
		if err != nil {
			return fmt.Errorf("store: encode account %q: %w", username, err)
		}
		return tx.Bucket(bucketAccounts).Put([]byte(username), v)
	})
}

// DeleteAccount removes the account, its roster and its offline messages in one
// transaction; ErrNotFound if it does not exist.
func (b *Bolt) DeleteAccount(ctx context.Context, username string) error {
	return b.update(ctx, func(tx *bolt.Tx) error {
		if err := hasAccount(tx, username); err != nil {
			return err
		}
		key := []byte(username)
		for _, name := range [][]byte{bucketRosters, bucketOffline} {
			err := tx.Bucket(name).DeleteBucket(key)
			if err != nil && !errors.Is(err, berrors.ErrBucketNotFound) {
				return fmt.Errorf("store: delete %s of %q: %w", name, username, err)
			}
		}
		return tx.Bucket(bucketAccounts).Delete(key)
	})
}

// Roster returns the user's roster sorted by JID; empty for a user without contacts or
// without an account.
func (b *Bolt) Roster(ctx context.Context, username string) ([]RosterItem, error) {
	items := []RosterItem{}
	err := b.view(ctx, func(tx *bolt.Tx) error {
		r := userBucket(tx, bucketRosters, username)
		if r == nil {
			return nil
		}
		return r.ForEach(func(k, v []byte) error {
			it, err := decodeItem(v)
			if err != nil {
				return fmt.Errorf("store: roster of %q, %q: %w", username, k, err)
			}
			items = append(items, it)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	// Keys are already in byte order; sort anyway so the order does not depend on it.
	slices.SortFunc(items, func(a, b RosterItem) int { return cmp.Compare(a.JID, b.JID) })
	return items, nil
}

// userBucket returns the nested bucket of username under parent, or nil.
func userBucket(tx *bolt.Tx, parent []byte, username string) *bolt.Bucket {
	if username == "" {
		return nil
	}
	return tx.Bucket(parent).Bucket([]byte(username))
}

// createUserBucket returns the nested bucket of username under parent (what names it in
// errors), creating it if needed; ErrNotFound if the user has no account.
func createUserBucket(tx *bolt.Tx, parent []byte, username, what string) (*bolt.Bucket, error) {
	if err := hasAccount(tx, username); err != nil {
		return nil, err
	}
	bk, err := tx.Bucket(parent).CreateBucketIfNotExists([]byte(username))
	if err != nil {
		return nil, fmt.Errorf("store: %s of %q: %w", what, username, err)
	}
	return bk, nil
}

// RosterItem returns one contact of the user's roster, or ErrNotFound.
func (b *Bolt) RosterItem(ctx context.Context, username, jid string) (RosterItem, error) {
	var it RosterItem
	err := b.view(ctx, func(tx *bolt.Tx) error {
		var v []byte
		if r := userBucket(tx, bucketRosters, username); r != nil && jid != "" {
			v = r.Get([]byte(jid))
		}
		if v == nil {
			return fmt.Errorf("%w: roster item %q of %q", ErrNotFound, jid, username)
		}
		var err error
		if it, err = decodeItem(v); err != nil {
			return fmt.Errorf("store: roster of %q, %q: %w", username, jid, err)
		}
		return nil
	})
	return it, err
}

// PutRosterItem adds or replaces a contact (keyed by item.JID); ErrNotFound if the user has
// no account, ErrInvalid for an empty JID or unknown subscription ("" means SubNone),
// ErrFull for a new contact beyond MaxRosterItems.
func (b *Bolt) PutRosterItem(ctx context.Context, username string, item RosterItem) error {
	if err := NormalizeItem(&item); err != nil {
		return err
	}
	v, err := encodeItem(item)
	if err != nil {
		return fmt.Errorf("store: encode roster item: %w", err)
	}
	return b.update(ctx, func(tx *bolt.Tx) error {
		r, err := createUserBucket(tx, bucketRosters, username, "roster")
		if err != nil {
			return err
		}
		if r.Get([]byte(item.JID)) == nil {
			// Only a new contact can exceed the limit; counting walks the bucket's pages,
			// cheap next to the fsync of the commit.
			if n := r.Stats().KeyN; n >= b.limits.RosterItems {
				return fmt.Errorf("%w: roster of %q has %d items", ErrFull, username, n)
			}
		}
		return r.Put([]byte(item.JID), v)
	})
}

// DeleteRosterItem removes a contact; ErrNotFound if it is not in the roster.
func (b *Bolt) DeleteRosterItem(ctx context.Context, username, jid string) error {
	return b.update(ctx, func(tx *bolt.Tx) error {
		r := userBucket(tx, bucketRosters, username)
		if r == nil || jid == "" || r.Get([]byte(jid)) == nil {
			return fmt.Errorf("%w: roster item %q of %q", ErrNotFound, jid, username)
		}
		return r.Delete([]byte(jid))
	})
}

// UpdateRoster runs fn on the items of keys and stores what changed in one fsync'd
// transaction (see Store.UpdateRoster). bbolt has one writer at a time, so fn runs once.
func (b *Bolt) UpdateRoster(ctx context.Context, keys []RosterKey, fn func([]*RosterSlot) error) error {
	if err := CheckKeys(keys); err != nil {
		return err
	}
	return b.update(ctx, func(tx *bolt.Tx) error {
		return UpdateRosterTx(boltTx{tx}, keys, b.limits.RosterItems, fn)
	})
}

// boltTx is the RosterTx of Bolt: one read-write transaction.
type boltTx struct{ tx *bolt.Tx }

func (t boltTx) HasAccount(user string) (bool, error) {
	return hasAccount(t.tx, user) == nil, nil
}

func (t boltTx) Item(k RosterKey) (RosterItem, bool, error) {
	r := userBucket(t.tx, bucketRosters, k.User)
	if r == nil {
		return RosterItem{}, false, nil
	}
	v := r.Get([]byte(k.JID))
	if v == nil {
		return RosterItem{}, false, nil
	}
	it, err := decodeItem(v)
	if err != nil {
		return RosterItem{}, false, fmt.Errorf("store: roster of %q, %q: %w", k.User, k.JID, err)
	}
	return it, true, nil
}

func (t boltTx) Count(user string) (int, error) {
	if r := userBucket(t.tx, bucketRosters, user); r != nil {
		return r.Stats().KeyN, nil
	}
	return 0, nil
}

func (t boltTx) Put(user string, it RosterItem) error {
	v, err := encodeItem(it)
	if err != nil {
		return fmt.Errorf("store: encode roster item: %w", err)
	}
	r, err := createUserBucket(t.tx, bucketRosters, user, "roster")
	if err != nil {
		return err
	}
	return r.Put([]byte(it.JID), v)
}

func (t boltTx) Delete(k RosterKey) error {
	if r := userBucket(t.tx, bucketRosters, k.User); r != nil {
		return r.Delete([]byte(k.JID))
	}
	return nil
}

// AddOffline appends a message to the user's offline queue; ErrNotFound if the user has no
// account, ErrFull if MaxOffline messages are already queued.
func (b *Bolt) AddOffline(ctx context.Context, username string, m OfflineMessage) error {
	NormalizeMessage(&m)
	v, err := encodeMessage(m)
	if err != nil {
		return fmt.Errorf("store: encode offline message: %w", err)
	}
	return b.update(ctx, func(tx *bolt.Tx) error {
		q, err := createUserBucket(tx, bucketOffline, username, "offline queue")
		if err != nil {
			return err
		}
		// The queue's sequence counts every message ever queued since the bucket was
		// made; only when it reaches the limit are the messages left counted (a claim
		// settled may have deleted some, not all).
		if n := q.Sequence(); n >= uint64(b.limits.Offline) {
			if n := q.Stats().KeyN; n >= b.limits.Offline {
				return fmt.Errorf("%w: %d offline messages for %q", ErrFull, n, username)
			}
		}
		seq, err := q.NextSequence()
		if err != nil {
			return fmt.Errorf("store: offline queue of %q: %w", username, err)
		}
		return q.Put(binary.BigEndian.AppendUint64(nil, seq), v)
	})
}

// TakeOffline returns the user's offline messages that are not claimed, oldest first,
// and deletes them. It returns no messages and no error when there are none.
func (b *Bolt) TakeOffline(ctx context.Context, username string) ([]OfflineMessage, error) {
	msgs, settle, err := b.ClaimOffline(ctx, username)
	if err != nil {
		return nil, err
	}
	return msgs, settle(context.WithoutCancel(ctx), len(msgs), true)
}

// ClaimOffline returns the user's offline messages that are not claimed, oldest first,
// claimed until settled (see Store). The claim is read in a read-only transaction (most
// logins find no queue, and then cost no fsync); settling deletes what was delivered in
// one write transaction.
func (b *Bolt) ClaimOffline(ctx context.Context, username string) ([]OfflineMessage, SettleFunc, error) {
	mu := b.claimLock(username)
	mu.Lock()
	defer mu.Unlock()
	var keys []uint64
	var msgs []OfflineMessage
	err := b.view(ctx, func(tx *bolt.Tx) error {
		q := userBucket(tx, bucketOffline, username)
		if q == nil {
			return nil
		}
		return q.ForEach(func(k, v []byte) error {
			key := binary.BigEndian.Uint64(k)
			if !b.claims.isFree(username, key) {
				return nil
			}
			m, err := decodeMessage(v)
			if err != nil {
				return fmt.Errorf("store: offline message %x of %q: %w", k, username, err)
			}
			keys, msgs = append(keys, key), append(msgs, m)
			return nil
		})
	})
	if err != nil || len(keys) == 0 {
		return nil, noSettle, err
	}
	// Under claimLock nobody claimed them since the look (they were free then).
	got, until := b.claims.claim(username, keys)
	if len(got) != len(keys) {
		return nil, noSettle, fmt.Errorf("store: offline queue of %q: claimed %d of %d free messages", username, len(got), len(keys))
	}
	return msgs, b.claims.settleFunc(username, got, until, func(ctx context.Context, del []uint64) error {
		// Held until the claim is released too (settleFunc releases after del returns,
		// and claimLock is taken again around both below).
		return b.update(ctx, func(tx *bolt.Tx) error {
			q := userBucket(tx, bucketOffline, username)
			if q == nil {
				return nil // the account was deleted meanwhile
			}
			for _, k := range del {
				if err := q.Delete(binary.BigEndian.AppendUint64(nil, k)); err != nil {
					return fmt.Errorf("store: offline queue of %q: %w", username, err)
				}
			}
			// The emptied queue stays: its sequence goes on, so that a key never names
			// two messages (a claim holds keys).
			return nil
		})
	}, mu), nil
}
