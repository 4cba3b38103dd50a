// Package store keeps the switch's durable data: accounts (as salted SCRAM keys, never
// passwords), rosters with subscription states, and offline messages. Store is the small
// interface the server uses; Bolt (one file) and Memory are here, PostgreSQL is in
// switch/store/pgstore, and all of them pass the suite in switch/store/storetest.
package store

import (
	"context"
	"errors"
	"time"
)

// Errors returned by every Store.
var (
	ErrNotFound = errors.New("store: not found")
	ErrExists   = errors.New("store: already exists")
	// ErrClaimLost is what a SettleFunc returns when it renews a claim that is no longer
	// held: its lease ran out and another claim (or a take) got the messages.
	ErrClaimLost = errors.New("store: offline claim lost: its lease ran out and another delivery has the messages")
)

// Keys are the SCRAM keys for one hash (RFC 5802 section 3): what the server needs to
// verify a client without knowing its password.
type Keys struct {
	StoredKey []byte
	ServerKey []byte
}

// Credentials are an account's salted password verifiers.
type Credentials struct {
	Salt       []byte
	Iterations int
	SHA1       Keys
	SHA256     Keys
}

// Account is a registered user. Username is the normalised localpart.
type Account struct {
	Username string
	Creds    Credentials
	Name     string // from the registration form, optional
	Email    string
	Created  time.Time
}

// Subscription states of a roster item (RFC 6121 section 2.1.2.5).
const (
	SubNone = "none"
	SubTo   = "to"
	SubFrom = "from"
	SubBoth = "both"
)

// RosterItem is one contact in a user's roster, with the full RFC 6121 subscription state.
type RosterItem struct {
	JID           string // bare JID of the contact
	Name          string
	Groups        []string
	Subscription  string // SubNone, SubTo, SubFrom, SubBoth
	AskOut        bool   // the user asked to subscribe to the contact, no answer yet ("ask='subscribe'")
	PendingIn     bool   // the contact asked to subscribe to the user, no answer yet
	PendingStanza []byte // the subscribe request to redeliver while PendingIn (may be nil)
}

// OfflineMessage is a message kept for a user who was offline.
type OfflineMessage struct {
	Stanza []byte    // the message as routed (from stamped by the server)
	From   string    // full JID of the sender
	Stamp  time.Time // when the server received it
}

// SettleFunc settles a claim of ClaimOffline as its delivery goes. settle(ctx, n, false)
// confirms the first n messages of the claim, those the client was written: they are
// deleted (as far as an earlier call did not delete them), and the claim on the others is
// renewed: it holds them for a whole lease (Store.ClaimLease) from now (unless it was
// made or renewed less than a RenewAfter-th of the lease ago: a delivery confirming
// chunk after chunk does not rewrite its claim at each). A delivery confirms
// a small chunk at a time, so that a crash delivers again at most what was written since
// the last confirmation, and renews at least every third of a lease while it goes on
// (settle(ctx, 0, false) only renews), so that no other delivery gets the messages while
// it still writes them. When the claim on the others is no longer held (the lease ran out
// before a renewal and another claim or a take got them), it returns an error wrapping
// ErrClaimLost: the delivery must write none of them (the other one does); what it
// confirmed is deleted all the same. settle(ctx, n, true) confirms the first n and ends the
// claim: the others, as far as this claim still holds them, are released for the next
// delivery; later calls do nothing. A call with a smaller n than an earlier one deletes
// nothing more. It does what it can when ctx ends or the database fails: what it could not
// delete is delivered again later.
type SettleFunc func(ctx context.Context, delivered int, final bool) error

// Store is the switch's storage. Every method is safe for concurrent use and durable when it
// returns nil: a crash afterwards loses nothing it acknowledged. A store that cannot reach
// its database returns an error wrapping ErrUnavailable. Times come back in UTC, to the
// microsecond; free text (names, groups, e-mail, a sender) comes back as valid UTF-8, with
// U+FFFD for invalid bytes and NUL.
type Store interface {
	CreateAccount(ctx context.Context, a Account) error // ErrExists if the username is taken
	Account(ctx context.Context, username string) (Account, error)
	SetCredentials(ctx context.Context, username string, c Credentials) error
	// DeleteAccount removes the account with its roster and offline messages.
	DeleteAccount(ctx context.Context, username string) error

	Roster(ctx context.Context, username string) ([]RosterItem, error) // empty, not an error, for none
	RosterItem(ctx context.Context, username, jid string) (RosterItem, error)
	PutRosterItem(ctx context.Context, username string, item RosterItem) error
	DeleteRosterItem(ctx context.Context, username, jid string) error
	// UpdateRoster reads the roster items named by keys, calls fn with them and stores what
	// fn left in the slots (only what changed), all in one transaction: no other update
	// of these items comes between the read and the write, which is how both ends of a
	// subscription change together. Equal keys share one slot. When fn returns an error,
	// nothing is stored and UpdateRoster returns that error as it is. Otherwise it fails,
	// storing nothing, with ErrNotFound for an item given to a user without an account,
	// ErrInvalid for a bad key or item, ErrFull beyond the roster limit.
	//
	// fn may be called more than once (a networked store retries a transaction that lost
	// a conflict), so it must have no effects outside the slots; and it runs inside the
	// transaction, so it must not call the store.
	UpdateRoster(ctx context.Context, keys []RosterKey, fn func(slots []*RosterSlot) error) error

	// AddOffline queues a message for the user; ErrNotFound without an account, ErrFull
	// when the user's queue holds Limits.Offline messages (counted in the store, so the
	// limit holds across restarts and across servers sharing the store).
	AddOffline(ctx context.Context, username string, m OfflineMessage) error
	// TakeOffline returns the user's stored messages, oldest first, and deletes them. Two
	// concurrent calls never both return one message, nor return a claimed one.
	TakeOffline(ctx context.Context, username string) ([]OfflineMessage, error)
	// ClaimOffline returns the user's stored messages, oldest first, claimed for one
	// delivery: they stay stored (and count toward the limit), and no other ClaimOffline
	// or TakeOffline returns them until the claim is settled or its lease
	// (Options.ClaimLease, renewed by each settle that is not final) runs out. settle(ctx, n, false) deletes the first n messages
	// (those the client was written) as the delivery goes; settle(ctx, n, true) does that
	// and releases the others for the next delivery: call it once at the end, with 0 too.
	// A crash before a message's confirmation loses nothing: the next claim after the
	// lease, or after a restart, returns the messages not confirmed again, so a message is
	// delivered at least once, and never deleted before its delivery was seen to succeed.
	// settle is never nil when err is nil.
	ClaimOffline(ctx context.Context, username string) (msgs []OfflineMessage, settle SettleFunc, err error)
	// WaitOffline waits while the user's offline messages are all claimed by other
	// deliveries (of this process, of another node sharing the database, or of one that
	// died and left its lease to run out), so that a delivery that found them claimed
	// gets them as soon as their claim ends with messages left, instead of at the next
	// login. It returns false at once when the user has no messages stored, true at once
	// when one is not claimed, and otherwise true when one of the user's claims was
	// released (settled final with messages not confirmed: each store tells every
	// waiter, across nodes for a shared database) or when the last lease it saw runs out,
	// whichever comes first; ctx's error when ctx ends first. True says that a
	// ClaimOffline now may find messages, not that it will: a caller claims, and waits
	// again while there are messages.
	WaitOffline(ctx context.Context, username string) (bool, error)
	// ClaimLease is how long a claim holds its messages after it was made or renewed
	// (Options.ClaimLease): a delivery renews it more often than that.
	ClaimLease() time.Duration

	Close() error
}
