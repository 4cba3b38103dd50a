package pgstore

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// releaseChannel is the PostgreSQL notification channel on which a settle that released
// offline messages names their user (pg_notify, sent when its transaction commits), for
// the WaitOffline of every node sharing the database.
const releaseChannel = "stanzascope_offline_released"

// Bounds of the pause before the listener connects again after it lost its connection.
const (
	listenRetryMin = 100 * time.Millisecond
	listenRetryMax = 5 * time.Second
)

// releases is a Store's side of releaseChannel: one connection of its own (not of the
// pool: it stays in LISTEN) whose notifications wake the WaitOffline calls waiting for
// that user.
type releases struct {
	mu      sync.Mutex
	waiters map[string]*waitSet // by username
	stop    context.CancelFunc
	done    chan struct{} // closed when the listener has ended
}

// waitSet is the WaitOffline calls waiting for one user: ch is closed at the next
// notification for the user, n counts the calls.
type waitSet struct {
	ch     chan struct{}
	n      int
	asleep int // of the n, those past their look at the table (for tests)
}

// watch returns a channel closed at the next notification for user (or when the listener
// connects again: it may have missed one), and the function to call when done with it.
func (r *releases) watch(user string) (*waitSet, func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w := r.waiters[user]
	if w == nil {
		w = &waitSet{ch: make(chan struct{})}
		r.waiters[user] = w
	}
	w.n++
	return w, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		if w.n--; w.n == 0 && r.waiters[user] == w {
			delete(r.waiters, user)
		}
	}
}

// sleep counts a WaitOffline call of w that starts (d 1) or stops (-1) waiting.
func (r *releases) sleep(w *waitSet, d int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	w.asleep += d
}

// waiting returns how many WaitOffline calls wait for a release of user's messages.
func (r *releases) waiting(user string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if w := r.waiters[user]; w != nil {
		return w.asleep
	}
	return 0
}

// wake closes the channel of user, or every channel when all is set.
func (r *releases) wake(user string, all bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for u, w := range r.waiters {
		if all || u == user {
			close(w.ch)
			delete(r.waiters, u)
		}
	}
}

// listen keeps a connection listening on releaseChannel until ctx ends, connecting again
// after a pause when it is lost. ready is closed once the first attempt is listening or
// has failed. Waiters do not depend on it alone: each also wakes when the lease it saw
// runs out.
func (s *Store) listen(ctx context.Context, cfg *pgx.ConnConfig, ready chan struct{}) {
	defer close(s.rel.done)
	settled := sync.OnceFunc(func() { close(ready) })
	pause := listenRetryMin
	for first := true; ; first = false {
		if s.listenOnce(ctx, cfg, first, settled) {
			pause = listenRetryMin // it was listening: the database is back
		}
		settled()
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		pause = min(2*pause, listenRetryMax)
	}
}

// listenOnce connects, listens and hands out notifications until the connection fails or
// ctx ends. It reports whether it got as far as listening, and calls listening then.
func (s *Store) listenOnce(ctx context.Context, cfg *pgx.ConnConfig, first bool, listening func()) bool {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+releaseChannel); err != nil {
		return false
	}
	listening()
	if !first {
		// Releases while it was not listening were not heard: every waiter looks again.
		s.rel.wake("", true)
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return true
		}
		s.rel.wake(n.Payload, false)
	}
}

// WaitOffline waits while every offline message of the user is claimed (see
// store.Store): it is woken by the notification of a settle that released some of the
// user's messages, on any node, or when the last lease it found runs out.
func (s *Store) WaitOffline(ctx context.Context, username string) (bool, error) {
	// Watch first: a release committed after the look below is heard.
	w, done := s.rel.watch(username)
	defer done()
	var stored, free int
	var left float64 // seconds until the last lease ends, by the database's clock
	if err := ctx.Err(); err != nil {
		return false, err
	}
	// The look is not cut short when ctx ends (a session that ends at once after its
	// login): pgx would close the pool's connection under it, and a login would pay for
	// a new one. It is one indexed query, bounded by OpTimeout.
	err := s.do(context.WithoutCancel(ctx), func(ctx context.Context) error {
		return dbErr("look at offline claims", s.pool.QueryRow(ctx, `SELECT count(*),
				count(*) FILTER (WHERE claimed_until IS NULL OR claimed_until <= now()),
				COALESCE(EXTRACT(EPOCH FROM max(claimed_until) - now()), 0)::float8
			FROM offline_messages WHERE username = $1`, username).Scan(&stored, &free, &left))
	})
	switch {
	case err != nil:
		return false, err
	case stored == 0:
		return false, nil
	case free > 0:
		return true, nil
	}
	s.rel.sleep(w, 1)
	defer s.rel.sleep(w, -1)
	t := time.NewTimer(time.Duration(left * float64(time.Second)))
	defer t.Stop()
	select {
	case <-w.ch:
		return true, nil
	case <-t.C:
		return true, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}
