package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
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
	// ErrUnavailable means the database could not be reached (a networked store whose
	// server is down or unreachable); nothing was changed. The server turns it into an
	// internal-server-error that says so, instead of answering as if data were missing.
	ErrUnavailable = errors.New("store: database unavailable")
)

// Limits on keys, so that a hostile client cannot create huge records through them. They
// match the RFC 7622 bounds on a localpart (1023 bytes) and a whole JID (3071 bytes).
const (
	MaxUsername = 1023
	MaxJID      = 3071
)

// Default per-user limits (see Limits): offline messages queued for one user and contacts
// in one roster.
const (
	MaxOffline     = 1000
	MaxRosterItems = 1000
)

func checkUsername(u string) error {
	if u == "" || len(u) > MaxUsername {
		return fmt.Errorf("%w: username length %d out of range 1..%d", ErrInvalid, len(u), MaxUsername)
	}
	if !ValidKey(u) {
		return fmt.Errorf("%w: username %q is not UTF-8 without NUL", ErrInvalid, u)
	}
	return nil
}

func checkJID(j string) error {
	if j == "" || len(j) > MaxJID {
		return fmt.Errorf("%w: JID length %d out of range 1..%d", ErrInvalid, len(j), MaxJID)
	}
	if !ValidKey(j) {
		return fmt.Errorf("%w: JID %q is not UTF-8 without NUL", ErrInvalid, j)
	}
	return nil
}

// ValidKey reports whether s can be a username or JID: RFC 7622 allows neither invalid
// UTF-8 nor NUL in a JID, and a database text column cannot hold them, so every store
// refuses them alike. A store answers a lookup of an invalid key with ErrNotFound.
func ValidKey(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// cleanText makes free text (a name, a group, an e-mail address) storable in every store:
// invalid UTF-8 and NUL become U+FFFD, as a JSON encoder does with invalid UTF-8, so that
// all stores return the same string. Valid text is returned as it is, without copying.
func cleanText(s string) string {
	if ValidKey(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// NormalizeAccount checks a new account and brings it to the form every store keeps (see
// Store): ErrInvalid for a bad username; a zero Created becomes the current time. For
// Store implementations.
func NormalizeAccount(a *Account) error {
	if err := checkUsername(a.Username); err != nil {
		return err
	}
	if a.Created.IsZero() {
		a.Created = time.Now()
	}
	a.Name, a.Email, a.Created = cleanText(a.Name), cleanText(a.Email), storedTime(a.Created)
	return nil
}

// NormalizeMessage brings an offline message to the form every store keeps (see Store).
// For Store implementations.
func NormalizeMessage(m *OfflineMessage) {
	m.From, m.Stamp = cleanText(m.From), storedTime(m.Stamp)
}

// NormalizeItem checks a roster item (ErrInvalid) and brings it to the form every store
// keeps (see Store), without changing the caller's slices: the default subscription filled
// in, text cleaned, empty slices nil. For Store implementations.
func NormalizeItem(it *RosterItem) error {
	if err := checkJID(it.JID); err != nil {
		return err
	}
	it.Name = cleanText(it.Name)
	// Empty and nil read back alike from every store.
	if len(it.Groups) == 0 {
		it.Groups = nil
	}
	if len(it.PendingStanza) == 0 {
		it.PendingStanza = nil
	}
	copied := false
	for i, g := range it.Groups {
		if c := cleanText(g); c != g {
			if !copied {
				// The caller's slice is not ours to change.
				it.Groups, copied = append([]string{}, it.Groups...), true
			}
			it.Groups[i] = c
		}
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

// storedTime is t as every store keeps it: UTC, to the microsecond (PostgreSQL's
// resolution), without a monotonic clock reading.
func storedTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// ctxErr reports a cancelled context before any work is done.
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}
