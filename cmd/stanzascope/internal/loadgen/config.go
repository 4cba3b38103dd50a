package loadgen

import (
	"errors"
	"fmt"
	"io"
	"math"
	"time"
)

// Bounds on what one run may ask for: the duration is kept short, and every client holds
// a file descriptor (20,000 is the per-process limit on the machines this runs on).
const (
	MaxClients  = 20000
	MaxDuration = 10 * time.Minute
	MaxHold     = 10 * time.Minute
	MaxWindow   = 100000
)

// Defaults for zero Config fields.
const (
	DefaultWindow      = 100
	DefaultGrace       = 5 * time.Second
	DefaultLoginTimout = 30 * time.Second
	DefaultConcurrency = 64
	DefaultPassword    = "bench-password-1"
	DefaultPrefix      = "bench"
	DefaultResource    = "bench"
)

// Account is a username (the localpart) and its password.
type Account struct {
	Username string
	Password string
}

// Config describes one run.
type Config struct {
	Target string // HOST:PORT to connect to
	// Targets, when set, replaces Target: the clients are split between these servers
	// (nodes of one cluster serving the same domain), the two clients of a pair on two
	// different ones (see SameTarget), so that their messages cross between the servers.
	Targets []string
	// SameTarget is the share of the pairs (0 to 1) whose two clients are on the same
	// target when there are several; 0 puts every pair across two.
	SameTarget float64
	Domain     string // the XMPP domain to log in to

	Clients  int
	Rate     float64       // messages per second over all clients; 0 means as fast as possible
	Duration time.Duration // how long messages are sent

	// Accounts are the credentials, one per client. When empty, accounts are named
	// Prefix+index with Password.
	Accounts []Account
	Prefix   string
	Password string
	Register bool // create the accounts first with in-band registration (XEP-0077)
	// RegisterOnly stops after the registration: no login, no messages.
	RegisterOnly bool

	TLS      bool // STARTTLS before logging in
	Insecure bool // do not verify the server's certificate (implied for loopback targets)
	// Mechanism forces a SASL mechanism; empty picks the best offered of SCRAM-SHA-256,
	// SCRAM-SHA-1 and PLAIN.
	Mechanism string

	// Window bounds a client's messages not yet delivered or bounced; a client waits
	// (rate: skips) while it is full, so a slow server cannot make queues grow without
	// bound.
	Window int
	// Grace is how long after the last send the run waits for the remaining messages
	// before counting them as lost.
	Grace time.Duration
	// LoginTimeout bounds each client's login (registration and login separately).
	LoginTimeout time.Duration
	// Concurrency is the number of logins (and registrations) in flight at once.
	Concurrency int

	// Idle, when > 0, replaces the message run: Idle clients log in and hold their
	// connections for Hold, and WatchPID's resident memory is read before and after.
	Idle     int
	Hold     time.Duration
	WatchPID int

	// Offline, when > 0, replaces the message run: the even clients log in and each sends
	// Offline messages to its pair's account, which is not logged in; then the odd
	// clients log in and get them (how fast a server keeps and hands out offline
	// messages).
	Offline int

	// Progress, when set, receives a live line once a second (a terminal).
	Progress io.Writer
}

func (c *Config) setDefaults() {
	if c.Window == 0 {
		c.Window = DefaultWindow
		if c.Rate > 0 && c.Clients > 0 {
			// Paced: allow two seconds of a client's messages in flight before skipping.
			c.Window = min(MaxWindow, max(DefaultWindow, int(2*c.Rate/float64(c.Clients))))
		}
	}
	if c.Grace == 0 {
		c.Grace = DefaultGrace
	}
	if c.LoginTimeout == 0 {
		c.LoginTimeout = DefaultLoginTimout
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.Password == "" {
		c.Password = DefaultPassword
	}
}

// Validate checks c (after defaults) and returns a description of the first problem.
func (c *Config) Validate() error {
	c.setDefaults()
	n := c.Clients
	if c.Idle > 0 {
		n = c.Idle
	}
	switch {
	case c.Target == "" && len(c.Targets) == 0:
		return errors.New("no target")
	case c.SameTarget < 0 || c.SameTarget > 1:
		return errors.New("the share of pairs on one target must be between 0 and 1")
	case c.Domain == "":
		return errors.New("no domain")
	case c.Idle < 0:
		return errors.New("idle connections must not be negative")
	case c.Idle == 0 && (c.Clients < 2 || c.Clients%2 != 0):
		return fmt.Errorf("clients must be an even number of at least 2 (they are paired), not %d", c.Clients)
	case n > MaxClients:
		return fmt.Errorf("at most %d clients (each holds a file descriptor), not %d", MaxClients, n)
	case c.Idle == 0 && (c.Duration <= 0 || c.Duration > MaxDuration):
		return fmt.Errorf("duration must be positive and at most %v, not %v", MaxDuration, c.Duration)
	case c.Idle > 0 && (c.Hold < 0 || c.Hold > MaxHold):
		return fmt.Errorf("hold must be between 0 and %v, not %v", MaxHold, c.Hold)
	case c.Offline < 0 || c.Offline > MaxOffline:
		return fmt.Errorf("offline messages per pair must be between 0 and %d", MaxOffline)
	case c.Offline > 0 && c.Idle > 0:
		return errors.New("an offline run and an idle run are two runs: give one")
	case c.Rate < 0:
		return errors.New("rate must not be negative")
	case c.Window < 1 || c.Window > MaxWindow:
		return fmt.Errorf("window must be between 1 and %d", MaxWindow)
	case c.Grace < 0 || c.Grace > time.Minute:
		return errors.New("grace must be between 0 and 1m")
	case c.Concurrency < 1 || c.Concurrency > 4096:
		return errors.New("concurrency must be between 1 and 4096")
	case len(c.Accounts) > 0 && len(c.Accounts) < n:
		return fmt.Errorf("%d accounts given for %d clients", len(c.Accounts), n)
	}
	if c.RegisterOnly && !c.Register {
		return errors.New("register-only needs register")
	}
	switch c.Mechanism {
	case "", mechSHA256, mechSHA1, mechPlain:
	default:
		return fmt.Errorf("unknown SASL mechanism %q (SCRAM-SHA-256, SCRAM-SHA-1 or PLAIN)", c.Mechanism)
	}
	return nil
}

// targets returns the servers the clients connect to.
func (c *Config) targets() []string {
	if len(c.Targets) > 0 {
		return c.Targets
	}
	return []string{c.Target}
}

// targetOf returns the server client i connects to. Clients 2k and 2k+1 are pair k: on
// targets k and k+1 (modulo their number), or both on target k for the share SameTarget
// of the pairs, spread evenly over them.
func (c *Config) targetOf(i int) string {
	t := c.targets()
	k := i / 2
	if i%2 == 1 && !pairSame(k, c.SameTarget) {
		return t[(k+1)%len(t)]
	}
	return t[k%len(t)]
}

// pairSame reports whether pair k is one of the share s of pairs kept on one target.
func pairSame(k int, s float64) bool {
	return math.Floor(float64(k+1)*s) > math.Floor(float64(k)*s)
}

// account returns the credentials of client i.
func (c *Config) account(i int) Account {
	if i < len(c.Accounts) {
		return c.Accounts[i]
	}
	return Account{Username: fmt.Sprintf("%s%d", c.Prefix, i), Password: c.Password}
}
