package store

import "time"

// Limits are the per-user bounds a store enforces, so that one client cannot fill the
// disk; adding beyond them fails with ErrFull. A zero field means its default.
type Limits struct {
	Offline     int // messages queued for one user (default MaxOffline)
	RosterItems int // contacts in one roster, hidden pending requests included (default MaxRosterItems)
}

// withDefaults fills zero (or negative) fields with the defaults.
func (l Limits) withDefaults() Limits {
	if l.Offline <= 0 {
		l.Offline = MaxOffline
	}
	if l.RosterItems <= 0 {
		l.RosterItems = MaxRosterItems
	}
	return l
}

// Options configure a store. Every store takes the same options and ignores the ones that
// do not apply to it; stores in other packages read them with ApplyOptions.
type Options struct {
	Limits      Limits
	LockTimeout time.Duration // Bolt: how long to wait for another process's file lock
	// ClaimLease is how long a claim of ClaimOffline hides its messages when it is not
	// settled (its server died, or a bug): then they are claimable again (default
	// DefaultClaimLease). It must outlast a delivery: the writes to one client.
	ClaimLease time.Duration
}

// DefaultClaimLease is the default Options.ClaimLease: longer than the switch's write
// timeout and its grace period together.
const DefaultClaimLease = time.Minute

// RenewAfter is the fraction of the lease (1/RenewAfter) that must have passed since a
// claim was made or last renewed for a settle that is not final to renew it again; every
// store applies it, so that a delivery confirming chunk after chunk renews about once per
// quarter lease, not per chunk.
const RenewAfter = 4

// WithClaimLease sets Options.ClaimLease.
func WithClaimLease(d time.Duration) Option {
	return func(o *Options) { o.ClaimLease = d }
}

// Option sets one of the Options.
type Option func(*Options)

// WithLimits sets the per-user limits (default MaxOffline and MaxRosterItems).
func WithLimits(l Limits) Option {
	return func(o *Options) { o.Limits = l }
}

// WithLockTimeout sets how long OpenBolt waits for the file lock held by another process
// before failing with ErrLocked (default DefaultLockTimeout).
func WithLockTimeout(d time.Duration) Option {
	return func(o *Options) { o.LockTimeout = d }
}

// ApplyOptions returns the options with opts applied and every unset value defaulted.
func ApplyOptions(opts []Option) Options {
	o := Options{LockTimeout: DefaultLockTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	o.Limits = o.Limits.withDefaults()
	if o.ClaimLease <= 0 {
		o.ClaimLease = DefaultClaimLease
	}
	if o.LockTimeout <= 0 {
		// bbolt waits forever with a zero timeout; never hang.
		o.LockTimeout = DefaultLockTimeout
	}
	return o
}
