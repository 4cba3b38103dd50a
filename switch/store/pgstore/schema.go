package pgstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// migrations are the schema's versions, in order: migrations[i] brings a database at
// version i to version i+1. A released migration is never edited; a change is a new one.
// Each runs in the transaction that records the new version, so a crash leaves the
// database at the old version or the new one, never between.
var migrations = []string{
	// 1: accounts (salted SCRAM keys only, never a password), rosters, offline queues.
	// Usernames and JIDs are text: the store refuses keys that are not UTF-8 without NUL,
	// the same rule for every store. Deleting an account deletes its roster and queue.
	`CREATE TABLE accounts (
		username      text PRIMARY KEY,
		salt          bytea,
		iterations    bigint NOT NULL,
		sha1_stored   bytea,
		sha1_server   bytea,
		sha256_stored bytea,
		sha256_server bytea,
		name          text NOT NULL,
		email         text NOT NULL,
		created       timestamptz NOT NULL
	);
	CREATE TABLE roster_items (
		username       text NOT NULL REFERENCES accounts ON DELETE CASCADE,
		jid            text NOT NULL,
		name           text NOT NULL,
		groups         text[],
		subscription   text NOT NULL CHECK (subscription IN ('none', 'to', 'from', 'both')),
		ask_out        boolean NOT NULL,
		pending_in     boolean NOT NULL,
		pending_stanza bytea,
		PRIMARY KEY (username, jid)
	);
	CREATE TABLE offline_messages (
		id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		username text NOT NULL REFERENCES accounts ON DELETE CASCADE,
		sender   text NOT NULL,
		stamp    timestamptz NOT NULL,
		stanza   bytea
	);
	CREATE INDEX offline_messages_username ON offline_messages (username, id);`,
	// 2: offline messages are claimed for a delivery and deleted once it is confirmed
	// (ClaimOffline): a claim is a lease, so that a node that died does not hold them.
	`ALTER TABLE offline_messages ADD COLUMN claimed_until timestamptz;`,
}

// SchemaVersion is the schema version this program creates and reads.
var SchemaVersion = len(migrations)

// migrationLock is the key of the advisory lock that serialises migrations, so that nodes
// starting at once do not race to create the same tables ("STANZA" in ASCII).
const migrationLock = 0x5354414e5a41

// migrate brings the database to SchemaVersion in one transaction. It refuses a database
// whose schema is newer than this program.
func migrate(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrationLock)); err != nil {
		return dbErr("lock for migration", err)
	}
	// One row at most: the primary key is a constant.
	_, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		one     boolean PRIMARY KEY DEFAULT true CHECK (one),
		version integer NOT NULL
	)`)
	if err != nil {
		return dbErr("create schema_version", err)
	}
	have := 0
	err = tx.QueryRow(ctx, "SELECT version FROM schema_version").Scan(&have)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return dbErr("read schema_version", err)
	}
	if have > len(migrations) {
		return fmt.Errorf("pgstore: the database's schema version is %d, this program knows up to %d: use a newer stanzascope", have, len(migrations))
	}
	if have == len(migrations) {
		return nil
	}
	for v := have; v < len(migrations); v++ {
		if _, err := tx.Exec(ctx, migrations[v]); err != nil {
			return dbErr(fmt.Sprintf("migrate to schema version %d", v+1), err)
		}
	}
	_, err = tx.Exec(ctx, `INSERT INTO schema_version (version) VALUES ($1)
		ON CONFLICT (one) DO UPDATE SET version = EXCLUDED.version`, len(migrations))
	return dbErr("write schema_version", err)
}
