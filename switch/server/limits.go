package server

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"sync"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// Limits on what one client address can make the server do: connections open at once,
// login attempts and registrations per minute, and failed authentications per minute
// before each further one is answered only after a delay. The address is the client's:
// the peer's address, or behind a trusted proxy the one its PROXY header gives
// (proxyproto.go), never the proxy's for everyone. An IPv6 client counts by its /64,
// which one host or one home network usually holds whole. There is no account lockout:
// an attacker could use one to lock a user out; failures slow down the address they come
// from instead.

// Defaults of the limits per client address and per account (Config).
const (
	DefaultMaxConnsPerIP          = 128
	DefaultLoginsPerMinute        = 120
	DefaultRegistrationsPerMinute = 20
	DefaultAuthFailuresPerMinute  = 10
	DefaultMaxSessionsPerAccount  = 32
	DefaultAuthFailureDelay       = 5 * time.Second
)

// clientKey is what the limits per address count by: the address itself for IPv4, its
// /64 for IPv6.
func clientKey(a netip.Addr) netip.Addr {
	a = a.Unmap()
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.Addr()
		}
	}
	return a
}

// connCounts counts the connections open per client address.
type connCounts struct {
	mu sync.Mutex
	n  map[netip.Addr]int
}

// add counts one more connection from a unless limit (> 0) are open already; it reports
// whether it did.
func (cc *connCounts) add(a netip.Addr, limit int) bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if limit > 0 && cc.n[a] >= limit {
		return false
	}
	if cc.n == nil {
		cc.n = make(map[netip.Addr]int)
	}
	cc.n[a]++
	return true
}

func (cc *connCounts) remove(a netip.Addr) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.n[a] <= 1 {
		delete(cc.n, a)
	} else {
		cc.n[a]--
	}
}

// rateLimit allows each client address perMinute events a minute, up to perMinute at
// once (a token bucket). Addresses that have not used it for a minute are forgotten
// (their bucket is full again), so it holds the addresses active in the last minute.
type rateLimit struct {
	perMinute int // <= 0: no limit
	mu        sync.Mutex
	m         map[netip.Addr]*bucket
	sweepAt   int // sweep forgotten addresses when the map grows to this size
}

type bucket struct {
	tokens float64
	at     time.Time
}

// take spends one event of a at now. It reports whether a may do it, and if not, how long
// until it may.
func (r *rateLimit) take(a netip.Addr, now time.Time) (ok bool, wait time.Duration) {
	if r.perMinute <= 0 {
		return true, 0
	}
	burst := float64(r.perMinute)
	perToken := time.Minute / time.Duration(r.perMinute)
	r.mu.Lock()
	defer r.mu.Unlock()
	b := r.m[a]
	if b == nil {
		if r.m == nil {
			r.m = make(map[netip.Addr]*bucket)
		}
		if len(r.m) >= r.sweepAt {
			r.sweep(now)
		}
		b = &bucket{tokens: burst, at: now}
		r.m[a] = b
	}
	b.tokens = math.Min(burst, b.tokens+float64(now.Sub(b.at))/float64(perToken))
	b.at = now
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) * float64(perToken))
	}
	b.tokens--
	return true, 0
}

// sweep forgets the addresses whose bucket is full again, and sets when to sweep next:
// when the map has doubled, so that sweeping costs a constant per address added.
func (r *rateLimit) sweep(now time.Time) {
	burst := float64(r.perMinute)
	perToken := float64(time.Minute / time.Duration(r.perMinute))
	for a, b := range r.m {
		if b.tokens+float64(now.Sub(b.at))/perToken >= burst {
			delete(r.m, a)
		}
	}
	r.sweepAt = max(1024, 2*len(r.m))
}

// limits are the server's tables of what each client address did.
type limits struct {
	conns         connCounts
	logins        rateLimit
	registrations rateLimit
	authFailures  rateLimit
	refused       refusals
}

func newLimits(cfg *Config) *limits {
	return &limits{
		logins:        rateLimit{perMinute: cfg.LoginsPerMinute, sweepAt: 1024},
		registrations: rateLimit{perMinute: cfg.RegistrationsPerMinute, sweepAt: 1024},
		authFailures:  rateLimit{perMinute: cfg.AuthFailuresPerMinute, sweepAt: 1024},
	}
}

// errTooMany answers a login or registration past the rate of its address: wait and try
// again (RFC 6120 section 8.3.3.18, type wait).
var errTooMany = inspect.NewStanzaError(inspect.CondResourceConstraint)

// tooMany is the text of a refusal for going past a rate: what, from where, and when to
// try again (rounded up to the second).
func tooMany(what string, a netip.Addr, wait time.Duration) string {
	return fmt.Sprintf("too many %s from %s: try again in %ds", what, a, int(math.Ceil(wait.Seconds())))
}

// loginAllowed spends one login attempt of the client's address and returns "" or the
// text of the refusal.
func (c *conn) loginAllowed() string {
	if ok, wait := c.srv.lim.logins.take(c.key, time.Now()); !ok {
		c.srv.cfg.Stats.RefusedLogins.Add(1)
		text := tooMany("logins", c.key, wait)
		c.srv.lim.refused.note(c.srv, "login attempts", text)
		return text
	}
	return ""
}

// registrationAllowed spends one registration of the client's address and returns "" or
// the text of the refusal.
func (c *conn) registrationAllowed() string {
	if ok, wait := c.srv.lim.registrations.take(c.key, time.Now()); !ok {
		c.srv.cfg.Stats.RefusedRegistrations.Add(1)
		text := tooMany("registrations", c.key, wait)
		c.srv.lim.refused.note(c.srv, "registrations", text)
		return text
	}
	return ""
}

// refusals aggregates the log lines of refusals: under a flood, one line per kind and
// interval says enough (the clients are told each time).
type refusals struct {
	mu    sync.Mutex
	kinds map[string]*refusalCount
}

type refusalCount struct {
	last time.Time // when a line of this kind was logged
	n    int       // refusals since
}

// refusalLogInterval bounds how often refusals of one kind are logged.
const refusalLogInterval = 10 * time.Second

// note counts one refusal of kind; the first of an interval is logged at once with its
// text and the count of those not logged before it.
func (r *refusals) note(s *Server, kind, text string) {
	r.mu.Lock()
	now := time.Now()
	if r.kinds == nil {
		r.kinds = make(map[string]*refusalCount)
	}
	k := r.kinds[kind]
	if k == nil {
		k = new(refusalCount)
		r.kinds[kind] = k
	}
	k.n++
	if !k.last.IsZero() && now.Sub(k.last) < refusalLogInterval {
		r.mu.Unlock()
		return
	}
	n := k.n
	k.n, k.last = 0, now
	r.mu.Unlock()
	s.logf("switch: limit: %d %s refused since the last line (at most one line per %v); the last: %s", n, kind, refusalLogInterval, text)
}

// authFailed notes a failed authentication from the client's address; past
// AuthFailuresPerMinute it waits Config.AuthFailureDelay before the failure is answered
// (or until ctx ends). Only this connection waits: the account is not locked, and its
// owner logs in from elsewhere as usual.
func (c *conn) authFailed(ctx context.Context) {
	if ok, _ := c.srv.lim.authFailures.take(c.key, time.Now()); ok {
		return
	}
	c.srv.cfg.Stats.DelayedAuthFailures.Add(1)
	c.srv.lim.refused.note(c.srv, "failed authentications answered late", fmt.Sprintf("failed authentication from %s past %d a minute: answered after %v", c.key, c.srv.cfg.AuthFailuresPerMinute, c.srv.cfg.AuthFailureDelay))
	t := time.NewTimer(c.srv.cfg.AuthFailureDelay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
