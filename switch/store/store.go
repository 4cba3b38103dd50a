// Package store keeps the switch's durable data: accounts (as salted SCRAM keys, never
// passwords), rosters with subscription states, and offline messages. Store is the small
// interface the server uses, so a networked database can replace the embedded one later.
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

// Store is the switch's storage. Every method is safe for concurrent use and durable when it
// returns nil: a crash afterwards loses nothing it acknowledged.
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

	AddOffline(ctx context.Context, username string, m OfflineMessage) error
	// TakeOffline returns the user's stored messages, oldest first, and deletes them.
	TakeOffline(ctx context.Context, username string) ([]OfflineMessage, error)

	Close() error
}
