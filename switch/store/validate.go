package store

import (
	"context"
	"errors"
	"fmt"
)

// More errors returned by the stores of this package.
var (
	// ErrInvalid means an argument can never be stored (empty key, unknown subscription).
	ErrInvalid = errors.New("store: invalid argument")
	// ErrClosed means the store was used after Close.
	ErrClosed = errors.New("store: closed")
	// ErrFull means a per-user limit (MaxOffline, MaxRosterItems) was reached; the server
	// answers with a stanza error such as resource-constraint instead of storing more.
	ErrFull = errors.New("store: limit reached")
)

// Limits on keys, so that a hostile client cannot create huge records through them. They
// match the RFC 7622 bounds on a localpart (1023 bytes) and a whole JID (3071 bytes).
const (
	MaxUsername = 1023
	MaxJID      = 3071
)

// Per-user limits, so that one client cannot fill the disk: offline messages queued for
// one user and contacts in one roster. Adding beyond them fails with ErrFull.
const (
	MaxOffline     = 1000
	MaxRosterItems = 1000
)

// limits are the effective per-user limits of a store; tests lower them.
type limits struct {
	offline, roster int
}

var defaultLimits = limits{offline: MaxOffline, roster: MaxRosterItems}

func checkUsername(u string) error {
	if u == "" || len(u) > MaxUsername {
		return fmt.Errorf("%w: username length %d out of range 1..%d", ErrInvalid, len(u), MaxUsername)
	}
	return nil
}

func checkJID(j string) error {
	if j == "" || len(j) > MaxJID {
		return fmt.Errorf("%w: JID length %d out of range 1..%d", ErrInvalid, len(j), MaxJID)
	}
	return nil
}

// normalizeItem checks a roster item and fills the default subscription.
func normalizeItem(it *RosterItem) error {
	if err := checkJID(it.JID); err != nil {
		return err
	}
	switch it.Subscription {
	case "":
		it.Subscription = SubNone
	case SubNone, SubTo, SubFrom, SubBoth:
	default:
		return fmt.Errorf("%w: subscription %q", ErrInvalid, it.Subscription)
	}
	return nil
}

// ctxErr reports a cancelled context before any work is done.
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}
