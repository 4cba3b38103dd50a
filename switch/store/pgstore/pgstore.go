// Package pgstore is a store.Store on PostgreSQL, for several switch nodes sharing one
// database. It passes the same conformance suite (switch/store/storetest) as the Bolt and
// Memory stores.
//
// The schema is created and migrated by Open, versioned in a schema_version table. Both
// ends of a subscription change in one transaction (UpdateRoster locks the account rows of
// the users involved, in a fixed order, so concurrent updates neither interleave nor
// deadlock); offline messages are claimed for a delivery with a lease (claimed_until, set
// by an UPDATE ... FOR UPDATE SKIP LOCKED), so two nodes never claim one message at once,
// and deleted only when the delivery is confirmed; a release of claimed messages is told
// to every node by a notification (LISTEN/NOTIFY, see WaitOffline). Accounts hold salted
// SCRAM keys only.
//
// It is a package of its own so that programs and tests that do not need PostgreSQL do not
// build the driver (github.com/jackc/pgx/v5).
package pgstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/stanzascope/stanzascope/switch/store"
)

// Defaults for what the connection URL does not say.
const (
	// DefaultConnectTimeout bounds one connection attempt (the URL's connect_timeout
	// overrides it): an unreachable database fails a login in seconds, not minutes.
	DefaultConnectTimeout = 5 * time.Second
	// OpTimeout bounds one store operation, retries included, so that a database that
	// stops answering turns into ErrUnavailable instead of a hung session.
	OpTimeout = 15 * time.Second
	// maxAttempts bounds the retries of a transaction that lost a conflict.
	maxAttempts = 5
)

// Store is a store.Store in a PostgreSQL database. It is safe for concurrent use; several
// processes may use one database at the same time.
type Store struct {
	pool   *pgxpool.Pool
	limits store.Limits
	lease  time.Duration // how long a claim of ClaimOffline hides its messages unsettled
	closed atomic.Bool
	rel    releases // the listener of releaseChannel, for WaitOffline
}

var _ store.Store = (*Store)(nil)

// IsURL reports whether s is a PostgreSQL connection URL (postgres:// or postgresql://),
// as opposed to a database file path.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

var kvPassword = regexp.MustCompile(`password=('[^']*'|[^ ]*)`)

// Redact returns the connection string with its password replaced, for logs and messages.
func Redact(conn string) string {
	if IsURL(conn) {
		if u, err := url.Parse(conn); err == nil {
			if q := u.Query(); q.Has("password") {
				q.Set("password", "xxxxx")
				u.RawQuery = q.Encode()
			}
			return u.Redacted()
		}
		return "postgres://(unparsable URL)"
	}
	return kvPassword.ReplaceAllString(conn, "password=xxxxx")
}

// Open connects to the database named by conn (a postgres:// URL or a key=value string,
// as libpq takes them, including pool_max_conns), creates or migrates the schema, and
// returns the store. Of the options, it uses Limits. An unreachable database fails with an
// error wrapping store.ErrUnavailable.
func Open(ctx context.Context, conn string, opts ...store.Option) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(conn)
	if err != nil {
		// pgx's message redacts the password.
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	if cfg.ConnConfig.ConnectTimeout <= 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	o := store.ApplyOptions(opts)
	s := &Store{pool: pool, limits: o.Limits, lease: o.ClaimLease}
	if err := s.inTx(ctx, "open", func(ctx context.Context, tx pgx.Tx) error { return migrate(ctx, tx) }); err != nil {
		pool.Close()
		return nil, err
	}
	lctx, stop := context.WithCancel(context.Background())
	s.rel = releases{waiters: map[string]*waitSet{}, stop: stop, done: make(chan struct{})}
	ready := make(chan struct{})
	go s.listen(lctx, cfg.ConnConfig.Copy(), ready)
	// Listening before the first WaitOffline: a release is heard from the start. A
	// listener that cannot connect yet tries again; waiters rely on the leases meanwhile.
	select {
	case <-ready:
	case <-ctx.Done():
	}
	return s, nil
}

// Close closes the connections, waiting for operations in progress. Later calls return
// store.ErrClosed; Close is idempotent.
func (s *Store) Close() error {
	s.closed.Store(true)
	s.rel.stop()
	<-s.rel.done
	s.pool.Close()
	return nil
}

// dbError is an error from the database or the driver, as opposed to one of the store's
// own errors or an error returned by an UpdateRoster fn, which pass through unchanged.
type dbError struct {
	op  string
	err error
}

func (e *dbError) Error() string { return e.op + ": " + e.err.Error() }
func (e *dbError) Unwrap() error { return e.err }

// dbErr wraps err (if not nil) as an error of the database during op.
func dbErr(op string, err error) error {
	if err == nil {
		return nil
	}
	return &dbError{op: op, err: err}
}

// start checks the caller's context and the closed flag, and returns the context for one
// operation, bounded by OpTimeout.
func (s *Store) start(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("pgstore: %w", err)
	}
	if s.closed.Load() {
		return nil, nil, store.ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, OpTimeout)
	return ctx, cancel, nil
}

// result turns what an operation returned into the store's errors: the caller's own
// cancellation as it is, a database that cannot be reached as store.ErrUnavailable, the
// store's and fn's errors unchanged.
func (s *Store) result(parent context.Context, err error) error {
	var de *dbError
	if err == nil || !errors.As(err, &de) {
		return err
	}
	switch {
	case s.closed.Load():
		return fmt.Errorf("%w (%s)", store.ErrClosed, de.op)
	case parent.Err() != nil:
		return fmt.Errorf("pgstore: %s: %w", de.op, parent.Err())
	case unavailable(de.err):
		return fmt.Errorf("%w: %s: %w", store.ErrUnavailable, de.op, de.err)
	}
	return fmt.Errorf("pgstore: %w", de)
}

// unavailable reports whether err means that the database could not be reached or could
// not serve: no connection, a connection lost, a timeout, a server shutting down or out of
// resources.
func unavailable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// 08: connection exception; 53: insufficient resources; 57: operator
		// intervention (shutdown, cannot connect now, statement timeout).
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "53") || strings.HasPrefix(pe.Code, "57")
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || pgconn.Timeout(err) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// retryable reports whether a transaction failed only because a concurrent one won a
// conflict, so that running it again can succeed.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01") // serialization failure, deadlock
}

// do runs one statement-level operation with the store's context and error rules.
func (s *Store) do(ctx context.Context, fn func(ctx context.Context) error) error {
	octx, cancel, err := s.start(ctx)
	if err != nil {
		return err
	}
	defer cancel()
	return s.result(ctx, fn(octx))
}

// inTx runs fn in a read-committed transaction, committing when it returns nil and
// retrying (a bounded number of times) when it lost a conflict.
func (s *Store) inTx(ctx context.Context, op string, fn func(ctx context.Context, tx pgx.Tx) error) error {
	return s.do(ctx, func(ctx context.Context) error {
		var err error
		for range maxAttempts {
			err = s.tryTx(ctx, op, fn)
			if !retryable(err) {
				return err
			}
		}
		return err
	})
}

func (s *Store) tryTx(ctx context.Context, op string, fn func(ctx context.Context, tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return dbErr(op, err)
	}
	if err := fn(ctx, tx); err != nil {
		tx.Rollback(ctx)
		return err
	}
	return dbErr(op+": commit", tx.Commit(ctx))
}

// lockAccounts locks the account rows of users against concurrent changes of their rosters
// and queues, in username order so that two transactions never wait for each other, and
// returns the set of users that have an account. FOR NO KEY UPDATE does not block the
// foreign-key checks of other users' writes.
func lockAccounts(ctx context.Context, tx pgx.Tx, users []string) (map[string]bool, error) {
	rows, err := tx.Query(ctx, `SELECT username FROM accounts WHERE username = ANY($1)
		ORDER BY username FOR NO KEY UPDATE`, users)
	if err != nil {
		return nil, dbErr("lock accounts", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, dbErr("lock accounts", err)
	}
	have := make(map[string]bool, len(names))
	for _, n := range names {
		have[n] = true
	}
	return have, nil
}

// CreateAccount stores a new account; store.ErrExists if the username is taken.
func (s *Store) CreateAccount(ctx context.Context, a store.Account) error {
	if err := store.NormalizeAccount(&a); err != nil {
		return err
	}
	return s.do(ctx, func(ctx context.Context) error {
		tag, err := s.pool.Exec(ctx, `INSERT INTO accounts (username, salt, iterations,
			sha1_stored, sha1_server, sha256_stored, sha256_server, name, email, created)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (username) DO NOTHING`,
			a.Username, a.Creds.Salt, a.Creds.Iterations, a.Creds.SHA1.StoredKey, a.Creds.SHA1.ServerKey,
			a.Creds.SHA256.StoredKey, a.Creds.SHA256.ServerKey, a.Name, a.Email, a.Created)
		if err != nil {
			return dbErr("create account", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: account %q", store.ErrExists, a.Username)
		}
		return nil
	})
}

// Account returns the account named username, or store.ErrNotFound.
func (s *Store) Account(ctx context.Context, username string) (store.Account, error) {
	a := store.Account{Username: username}
	if !store.ValidKey(username) {
		return a, fmt.Errorf("%w: account %q", store.ErrNotFound, username)
	}
	err := s.do(ctx, func(ctx context.Context) error {
		c := &a.Creds
		err := s.pool.QueryRow(ctx, `SELECT salt, iterations, sha1_stored, sha1_server,
			sha256_stored, sha256_server, name, email, created FROM accounts WHERE username = $1`, username).
			Scan(&c.Salt, &c.Iterations, &c.SHA1.StoredKey, &c.SHA1.ServerKey, &c.SHA256.StoredKey,
				&c.SHA256.ServerKey, &a.Name, &a.Email, &a.Created)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: account %q", store.ErrNotFound, username)
		}
		return dbErr("read account", err)
	})
	if err != nil {
		return store.Account{}, err
	}
	a.Created = a.Created.UTC()
	return a, nil
}

// SetCredentials replaces the account's credentials; store.ErrNotFound if it does not
// exist.
func (s *Store) SetCredentials(ctx context.Context, username string, c store.Credentials) error {
	if !store.ValidKey(username) {
		return fmt.Errorf("%w: account %q", store.ErrNotFound, username)
	}
	return s.do(ctx, func(ctx context.Context) error {
		tag, err := s.pool.Exec(ctx, `UPDATE accounts SET salt = $2, iterations = $3, sha1_stored = $4,
			sha1_server = $5, sha256_stored = $6, sha256_server = $7 WHERE username = $1`,
			username, c.Salt, c.Iterations, c.SHA1.StoredKey, c.SHA1.ServerKey, c.SHA256.StoredKey, c.SHA256.ServerKey)
		if err != nil {
			return dbErr("set credentials", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: account %q", store.ErrNotFound, username)
		}
		return nil
	})
}

// DeleteAccount removes the account with its roster and offline messages (one statement:
// the foreign keys cascade); store.ErrNotFound if it does not exist.
func (s *Store) DeleteAccount(ctx context.Context, username string) error {
	if !store.ValidKey(username) {
		return fmt.Errorf("%w: account %q", store.ErrNotFound, username)
	}
	return s.do(ctx, func(ctx context.Context) error {
		tag, err := s.pool.Exec(ctx, `DELETE FROM accounts WHERE username = $1`, username)
		if err != nil {
			return dbErr("delete account", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: account %q", store.ErrNotFound, username)
		}
		return nil
	})
}

const itemColumns = `jid, name, groups, subscription, ask_out, pending_in, pending_stanza`

func scanItem(row pgx.CollectableRow) (store.RosterItem, error) {
	var it store.RosterItem
	err := row.Scan(&it.JID, &it.Name, &it.Groups, &it.Subscription, &it.AskOut, &it.PendingIn, &it.PendingStanza)
	return it, err
}

// Roster returns the user's roster sorted by JID; empty for a user without contacts or
// without an account.
func (s *Store) Roster(ctx context.Context, username string) ([]store.RosterItem, error) {
	items := []store.RosterItem{}
	if !store.ValidKey(username) {
		return items, nil
	}
	err := s.do(ctx, func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, `SELECT `+itemColumns+` FROM roster_items WHERE username = $1`, username)
		if err != nil {
			return dbErr("read roster", err)
		}
		items, err = pgx.AppendRows(items, rows, scanItem)
		return dbErr("read roster", err)
	})
	if err != nil {
		return nil, err
	}
	// Byte order, as the other stores sort, whatever the database's collation.
	slices.SortFunc(items, func(a, b store.RosterItem) int { return cmp.Compare(a.JID, b.JID) })
	return items, nil
}

// RosterItem returns one contact of the user's roster, or store.ErrNotFound.
func (s *Store) RosterItem(ctx context.Context, username, jid string) (store.RosterItem, error) {
	var it store.RosterItem
	notFound := fmt.Errorf("%w: roster item %q of %q", store.ErrNotFound, jid, username)
	if !store.ValidKey(username) || !store.ValidKey(jid) {
		return it, notFound
	}
	err := s.do(ctx, func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, `SELECT `+itemColumns+` FROM roster_items WHERE username = $1 AND jid = $2`, username, jid)
		if err != nil {
			return dbErr("read roster item", err)
		}
		it, err = pgx.CollectExactlyOneRow(rows, scanItem)
		if errors.Is(err, pgx.ErrNoRows) {
			return notFound
		}
		return dbErr("read roster item", err)
	})
	return it, err
}

// PutRosterItem adds or replaces a contact (keyed by item.JID); store.ErrNotFound if the
// user has no account, store.ErrInvalid for a bad item, store.ErrFull for a new contact
// beyond the roster limit.
func (s *Store) PutRosterItem(ctx context.Context, username string, item store.RosterItem) error {
	if err := store.NormalizeItem(&item); err != nil {
		return err
	}
	if store.CheckKeys([]store.RosterKey{{User: username, JID: item.JID}}) != nil {
		// The item is valid, so the username is not: no such account.
		return fmt.Errorf("%w: account %q", store.ErrNotFound, username)
	}
	return s.UpdateRoster(ctx, []store.RosterKey{{User: username, JID: item.JID}}, func(sl []*store.RosterSlot) error {
		sl[0].Exists, sl[0].Item = true, item
		return nil
	})
}

// DeleteRosterItem removes a contact; store.ErrNotFound if it is not in the roster.
func (s *Store) DeleteRosterItem(ctx context.Context, username, jid string) error {
	notFound := fmt.Errorf("%w: roster item %q of %q", store.ErrNotFound, jid, username)
	if !store.ValidKey(username) || !store.ValidKey(jid) {
		return notFound
	}
	return s.do(ctx, func(ctx context.Context) error {
		// UpdateRoster reads items FOR UPDATE, so a delete cannot slip between its read
		// and its write.
		tag, err := s.pool.Exec(ctx, `DELETE FROM roster_items WHERE username = $1 AND jid = $2`, username, jid)
		if err != nil {
			return dbErr("delete roster item", err)
		}
		if tag.RowsAffected() == 0 {
			return notFound
		}
		return nil
	})
}

// UpdateRoster runs fn on the items of keys and stores what changed, in one transaction
// that holds the account rows of the users involved (see store.Store.UpdateRoster). A
// transaction that loses a conflict is retried, running fn again.
func (s *Store) UpdateRoster(ctx context.Context, keys []store.RosterKey, fn func([]*store.RosterSlot) error) error {
	if err := store.CheckKeys(keys); err != nil {
		return err
	}
	users := make([]string, 0, len(keys))
	for _, k := range keys {
		users = append(users, k.User)
	}
	slices.Sort(users)
	users = slices.Compact(users)
	return s.inTx(ctx, "update roster", func(ctx context.Context, tx pgx.Tx) error {
		have, err := lockAccounts(ctx, tx, users)
		if err != nil {
			return err
		}
		return store.UpdateRosterTx(&rosterTx{ctx: ctx, tx: tx, have: have}, keys, s.limits.RosterItems, fn)
	})
}

// rosterTx is the store.RosterTx of a transaction that holds the users' account rows.
type rosterTx struct {
	ctx  context.Context
	tx   pgx.Tx
	have map[string]bool
}

func (t *rosterTx) HasAccount(user string) (bool, error) { return t.have[user], nil }

func (t *rosterTx) Item(k store.RosterKey) (store.RosterItem, bool, error) {
	rows, err := t.tx.Query(t.ctx, `SELECT `+itemColumns+` FROM roster_items
		WHERE username = $1 AND jid = $2 FOR UPDATE`, k.User, k.JID)
	if err != nil {
		return store.RosterItem{}, false, dbErr("read roster item", err)
	}
	it, err := pgx.CollectExactlyOneRow(rows, scanItem)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.RosterItem{}, false, nil
	}
	return it, err == nil, dbErr("read roster item", err)
}

func (t *rosterTx) Count(user string) (int, error) {
	var n int
	err := t.tx.QueryRow(t.ctx, `SELECT count(*) FROM roster_items WHERE username = $1`, user).Scan(&n)
	return n, dbErr("count roster items", err)
}

func (t *rosterTx) Put(user string, it store.RosterItem) error {
	_, err := t.tx.Exec(t.ctx, `INSERT INTO roster_items (username, `+itemColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (username, jid) DO UPDATE SET name = EXCLUDED.name, groups = EXCLUDED.groups,
			subscription = EXCLUDED.subscription, ask_out = EXCLUDED.ask_out,
			pending_in = EXCLUDED.pending_in, pending_stanza = EXCLUDED.pending_stanza`,
		user, it.JID, it.Name, it.Groups, it.Subscription, it.AskOut, it.PendingIn, it.PendingStanza)
	return dbErr("write roster item", err)
}

func (t *rosterTx) Delete(k store.RosterKey) error {
	_, err := t.tx.Exec(t.ctx, `DELETE FROM roster_items WHERE username = $1 AND jid = $2`, k.User, k.JID)
	return dbErr("delete roster item", err)
}

// AddOffline appends a message to the user's offline queue; store.ErrNotFound if the user
// has no account, store.ErrFull if the queue holds Limits.Offline messages. The account
// row is locked while counting, so concurrent adds cannot pass the limit together.
func (s *Store) AddOffline(ctx context.Context, username string, m store.OfflineMessage) error {
	if !store.ValidKey(username) {
		return fmt.Errorf("%w: account %q", store.ErrNotFound, username)
	}
	store.NormalizeMessage(&m)
	return s.inTx(ctx, "add offline message", func(ctx context.Context, tx pgx.Tx) error {
		have, err := lockAccounts(ctx, tx, []string{username})
		if err != nil {
			return err
		}
		if !have[username] {
			return fmt.Errorf("%w: account %q", store.ErrNotFound, username)
		}
		// A statement of its own after the lock: it sees every add committed before.
		tag, err := tx.Exec(ctx, `INSERT INTO offline_messages (username, sender, stamp, stanza)
			SELECT $1, $2, $3, $4 WHERE (SELECT count(*) FROM offline_messages WHERE username = $1) < $5`,
			username, m.From, m.Stamp, m.Stanza, s.limits.Offline)
		if err != nil {
			return dbErr("add offline message", err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: %d offline messages for %q", store.ErrFull, s.limits.Offline, username)
		}
		return nil
	})
}

// TakeOffline returns the user's offline messages that are not claimed, oldest first, and
// deletes them, in one statement. Rows another node is taking or claiming at the same
// moment are skipped, not waited for, so each message goes to exactly one taker.
func (s *Store) TakeOffline(ctx context.Context, username string) ([]store.OfflineMessage, error) {
	if !store.ValidKey(username) {
		return nil, nil
	}
	msgs, _, err := s.offlineRows(ctx, "take offline messages", `DELETE FROM offline_messages WHERE id IN (
			SELECT id FROM offline_messages WHERE username = $1 AND (claimed_until IS NULL OR claimed_until <= now())
			ORDER BY id FOR UPDATE SKIP LOCKED)
		RETURNING id, sender, stamp, stanza`, []any{username}, nil)
	return msgs, err
}

// ClaimOffline returns the user's offline messages that are not claimed, oldest first,
// claimed until settled (see store.Store): their claimed_until is set to the end of the
// lease, in one statement that skips rows another node is claiming at the same moment.
// The claim is a lease in the table, not an open transaction: a delivery waits on a
// client, and must not hold a connection of the pool meanwhile. A node that dies leaves
// the lease to run out; then the messages are claimable again.
//
// The claimed_until a claim set is its mark: a later claim of the same rows can only be
// made after it passed (claimed_until <= now()), and sets a later one, so the settle
// renews and releases only the rows whose claimed_until is still the one this claim set
// last, never those another node claimed since.
func (s *Store) ClaimOffline(ctx context.Context, username string) ([]store.OfflineMessage, store.SettleFunc, error) {
	noSettle := func(context.Context, int, bool) error { return nil }
	if !store.ValidKey(username) {
		return nil, noSettle, nil
	}
	var until time.Time
	msgs, ids, err := s.offlineRows(ctx, "claim offline messages", `UPDATE offline_messages
		SET claimed_until = now() + make_interval(secs => $2)
		WHERE id IN (
			SELECT id FROM offline_messages WHERE username = $1 AND (claimed_until IS NULL OR claimed_until <= now())
			ORDER BY id FOR UPDATE SKIP LOCKED)
		RETURNING id, sender, stamp, stanza, claimed_until`, []any{username, s.lease.Seconds()}, &until)
	if err != nil || len(msgs) == 0 {
		return nil, noSettle, err
	}
	var mu sync.Mutex
	deleted, ended := 0, false
	renewed := time.Now() // the claim's start or last renewal, on this node's clock
	return msgs, func(ctx context.Context, delivered int, final bool) error {
		mu.Lock()
		defer mu.Unlock()
		if ended {
			return nil
		}
		delivered = min(max(delivered, 0), len(ids))
		del := ids[deleted:max(delivered, deleted)]
		rest := ids[max(delivered, deleted):]
		var lost error
		start := time.Now()
		renew := !final && start.Sub(renewed) >= s.lease/store.RenewAfter
		err := s.do(ctx, func(ctx context.Context) error {
			batch := &pgx.Batch{}
			if len(del) > 0 {
				batch.Queue(`DELETE FROM offline_messages WHERE id = ANY($1)`, del)
			}
			if final && len(rest) > 0 {
				// The WaitOffline calls for the user, on every node, hear of it when
				// this commits: a session that found the messages claimed gets them now.
				batch.Queue(`WITH released AS (
						UPDATE offline_messages SET claimed_until = NULL WHERE id = ANY($1) AND claimed_until = $2 RETURNING 1)
					SELECT pg_notify($3, $4) WHERE EXISTS (SELECT 1 FROM released)`, rest, until, releaseChannel, username)
			} else if renew {
				// Every row of the claim still held, deleted ones aside, gets the new end;
				// the claim is lost when a row of the rest is another's or free (a
				// statement sees the rows as they were before its own update).
				batch.Queue(`WITH renewed AS (
						UPDATE offline_messages SET claimed_until = now() + make_interval(secs => $3)
						WHERE id = ANY($1) AND claimed_until = $2 RETURNING claimed_until)
					SELECT (SELECT max(claimed_until) FROM renewed),
						EXISTS (SELECT 1 FROM offline_messages WHERE id = ANY($4) AND claimed_until IS DISTINCT FROM $2)`,
					ids, until, s.lease.Seconds(), rest)
			}
			if batch.Len() == 0 {
				return nil
			}
			br := s.pool.SendBatch(ctx, batch)
			if len(del) > 0 {
				if _, err := br.Exec(); err != nil {
					br.Close()
					return dbErr("settle offline messages", err)
				}
			}
			if !renew {
				var err error
				if final && len(rest) > 0 {
					_, err = br.Exec()
				}
				return dbErr("settle offline messages", errors.Join(err, br.Close()))
			}
			var next *time.Time
			var other bool
			if err := br.QueryRow().Scan(&next, &other); err != nil {
				br.Close()
				return dbErr("renew offline claim", err)
			}
			if err := br.Close(); err != nil {
				return dbErr("renew offline claim", err)
			}
			renewed = start // the renewal's now() is no earlier
			if next != nil {
				until = *next // one statement: one now()
			}
			if other {
				lost = fmt.Errorf("store: offline messages of %q: %w", username, store.ErrClaimLost)
			}
			return nil
		})
		if err == nil {
			deleted = max(delivered, deleted)
		}
		ended = ended || final
		return cmp.Or(err, lost)
	}, nil
}

// ClaimLease is how long a claim of ClaimOffline holds its messages unrenewed.
func (s *Store) ClaimLease() time.Duration { return s.lease }

// offlineRows runs a statement that returns offline messages (id, sender, stamp, stanza,
// and claimed_until when until is not nil: one value for all, which it stores there) and
// gives them in arrival order, with their ids.
func (s *Store) offlineRows(ctx context.Context, what, sql string, args []any, until *time.Time) ([]store.OfflineMessage, []int64, error) {
	type row struct {
		id    int64
		m     store.OfflineMessage
		until time.Time
	}
	var got []row
	err := s.do(ctx, func(ctx context.Context) error {
		rows, err := s.pool.Query(ctx, sql, args...)
		if err != nil {
			return dbErr(what, err)
		}
		got, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (row, error) {
			var x row
			dest := []any{&x.id, &x.m.From, &x.m.Stamp, &x.m.Stanza}
			if until != nil {
				dest = append(dest, &x.until)
			}
			err := r.Scan(dest...)
			x.m.Stamp = x.m.Stamp.UTC()
			return x, err
		})
		return dbErr(what, err)
	})
	if err != nil || len(got) == 0 {
		return nil, nil, err
	}
	if until != nil {
		*until = got[0].until
	}
	// RETURNING has no order; the ids are arrival order.
	slices.SortFunc(got, func(a, b row) int { return cmp.Compare(a.id, b.id) })
	msgs := make([]store.OfflineMessage, len(got))
	ids := make([]int64, len(got))
	for i, r := range got {
		msgs[i], ids[i] = r.m, r.id
	}
	return msgs, ids, nil
}
