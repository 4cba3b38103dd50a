package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// probeTimeout bounds the first connection that checks the target is there at all.
const probeTimeout = 5 * time.Second

// Probe checks that target accepts TCP connections and explains why not.
func Probe(ctx context.Context, target string) error {
	host, port, err := net.SplitHostPort(target)
	if err != nil || host == "" || port == "" {
		return fmt.Errorf("target %q is not HOST:PORT", target)
	}
	nc, err := dial(ctx, target, probeTimeout)
	if err != nil {
		var dnsErr *net.DNSError
		switch {
		case errors.As(err, &dnsErr):
			return fmt.Errorf("cannot resolve %s: %w", host, err)
		case errors.Is(err, syscall.ECONNREFUSED):
			return fmt.Errorf("connection to %s refused: is the server running on that port?", target)
		}
		return fmt.Errorf("cannot connect to %s: %w", target, err)
	}
	nc.Close()
	return nil
}

// Run performs the run cfg describes. It returns an error, and no result, only when the
// run could not take place at all (bad configuration, target unreachable, no client
// could log in); everything else, lost messages included, is in the Result.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	for _, t := range cfg.targets() {
		if err := Probe(ctx, t); err != nil {
			return nil, err
		}
	}
	n := cfg.Clients
	rate := "max"
	if cfg.Idle > 0 {
		n = cfg.Idle
		rate = "idle"
	} else if cfg.Rate > 0 {
		rate = strconv.FormatFloat(cfg.Rate, 'f', -1, 64)
	}
	res := &Result{Target: strings.Join(cfg.targets(), ","), Domain: cfg.Domain, Clients: n, Rate: rate, TLS: cfg.TLS}
	prog := newProgress(cfg.Progress)

	if cfg.Register {
		ph := runPhase(ctx, n, cfg.Concurrency, prog, "register", func(i int) error {
			c := &client{idx: i, acct: cfg.account(i), cfg: &cfg}
			return c.register(ctx)
		})
		res.Register = &ph
		if ph.OK == 0 {
			return nil, fmt.Errorf("no account could be registered: %s", ph.Errors[0])
		}
		if cfg.RegisterOnly {
			return res, nil
		}
	}

	var rssBefore int64
	var rssErr error
	if cfg.Idle > 0 && cfg.WatchPID > 0 {
		time.Sleep(500 * time.Millisecond) // let the server settle after registrations
		rssBefore, rssErr = ReadRSS(cfg.WatchPID)
	}

	clients := make([]*client, n)
	var mechMu sync.Mutex
	// An offline run logs the senders in (the even clients) and their receivers later.
	logins, stride := n, 1
	if cfg.Offline > 0 {
		logins, stride = n/2, 2
	}
	res.Login = runPhase(ctx, logins, cfg.Concurrency, prog, "login", func(i int) error {
		i *= stride
		c := &client{idx: i, acct: cfg.account(i), cfg: &cfg}
		mech, err := c.login(ctx)
		if err != nil {
			c.close()
			return err
		}
		clients[i] = c
		mechMu.Lock()
		res.Mechanism = mech
		mechMu.Unlock()
		return nil
	})
	if res.Login.OK == 0 {
		return nil, fmt.Errorf("no client could log in: %s", res.Login.Errors[0])
	}

	var closing atomic.Bool
	var readers sync.WaitGroup
	live := clients[:0:0]
	for _, c := range clients {
		if c != nil {
			live = append(live, c)
		}
	}
	var closeOnce sync.Once
	closeAll := func() {
		closeOnce.Do(func() {
			closing.Store(true)
			for _, c := range live {
				_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
				_ = c.write([]byte("</stream:stream>"))
				c.close()
			}
			readers.Wait()
		})
	}
	defer closeAll()

	if cfg.Idle > 0 {
		for _, c := range live {
			readers.Add(1)
			go func() { defer readers.Done(); c.readLoop(&closing) }()
		}
		res.Idle = holdIdle(ctx, &cfg, len(live), rssBefore, rssErr, prog)
		res.Dropped = droppedReasons(live)
		return res, nil
	}

	if cfg.Offline > 0 {
		senders := make([]*client, 0, n/2)
		for i := 0; i < n; i += 2 {
			senders = append(senders, clients[i])
		}
		res.Offline = runOffline(ctx, &cfg, senders, prog)
		return res, nil
	}

	m := runMessages(ctx, &cfg, clients, &closing, &readers, closeAll, prog)
	res.Messages = m
	res.Dropped = droppedReasons(live)
	return res, nil
}

// runPhase runs fn for every client index with at most conc at once.
func runPhase(ctx context.Context, n, conc int, prog *progress, name string, fn func(i int) error) Phase {
	cpu := startCPU()
	start := time.Now()
	var next, ok, failed atomic.Int64
	var mu sync.Mutex
	errs := errorTally{}
	stopProg := prog.run(func(el time.Duration) string {
		done := ok.Load()
		return fmt.Sprintf("%s: %d/%d ok, %d failed, %.0f/s", name, done, n, failed.Load(), float64(done)/el.Seconds())
	})
	var wg sync.WaitGroup
	for range min(conc, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := fn(i); err != nil {
					failed.Add(1)
					mu.Lock()
					errs.add(err)
					mu.Unlock()
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	stopProg()
	el := time.Since(start)
	ph := Phase{OK: int(ok.Load()), Failed: n - int(ok.Load()), Seconds: el.Seconds(), CPU: cpu.stop()}
	if ctx.Err() != nil && ph.Failed > int(failed.Load()) {
		errs[fmt.Sprintf("interrupted (%v)", ctx.Err())] += ph.Failed - int(failed.Load())
	}
	ph.Errors = errs.top(5)
	if el > 0 {
		ph.PerSec = float64(ph.OK) / el.Seconds()
	}
	return ph
}

// holdIdle keeps the logged-in connections for the hold time and reads the watched
// process's memory at its end.
func holdIdle(ctx context.Context, cfg *Config, conns int, before int64, rssErr error, prog *progress) *Idle {
	start := time.Now()
	stopProg := prog.run(func(el time.Duration) string {
		return fmt.Sprintf("holding %d idle connections: %.0fs of %v", conns, el.Seconds(), cfg.Hold)
	})
	select {
	case <-ctx.Done():
	case <-time.After(cfg.Hold):
	}
	stopProg()
	id := &Idle{Connections: conns, HoldSeconds: time.Since(start).Seconds(), PID: cfg.WatchPID}
	if cfg.WatchPID <= 0 {
		return id
	}
	if rssErr != nil {
		id.Error = rssErr.Error()
		return id
	}
	after, err := ReadRSS(cfg.WatchPID)
	if err != nil {
		id.Error = err.Error()
		return id
	}
	id.RSSBefore, id.RSSAfter = before, after
	if conns > 0 {
		id.PerConn = float64(after-before) / float64(conns)
	}
	return id
}

func droppedReasons(cs []*client) []string {
	t := errorTally{}
	for _, c := range cs {
		if p := c.dropErr.Load(); p != nil {
			t.add(*p)
		}
	}
	return t.top(5)
}

// histShards is the most histograms the receivers spread their records over.
const histShards = 64

// runMessages pairs the logged-in clients, sends for the duration, waits up to the grace
// period for what is still in flight and accounts for every message.
func runMessages(ctx context.Context, cfg *Config, clients []*client, closing *atomic.Bool, readers *sync.WaitGroup, closeAll func(), prog *progress) *Messages {
	var pairs []*client // senders, both sides of each pair
	for i := 0; i+1 < len(clients); i += 2 {
		a, b := clients[i], clients[i+1]
		if a == nil || b == nil {
			continue
		}
		a.peer, b.peer = b, a
		a.out, b.out = &Flow{}, &Flow{}
		a.in, b.in = b.out, a.out
		pairs = append(pairs, a, b)
	}
	hists := make([]Histogram, min(histShards, max(1, len(pairs))))
	for k, c := range pairs {
		c.hist = &hists[k%len(hists)]
		c.wake = make(chan struct{}, 1)
	}
	for _, c := range clients {
		if c != nil {
			readers.Add(1)
			go func() { defer readers.Done(); c.readLoop(closing) }()
		}
	}
	snapshot := func() *HistSnapshot {
		s := &HistSnapshot{}
		for i := range hists {
			hists[i].AddTo(s)
		}
		return s
	}
	live := func() Counts {
		var c Counts
		for _, s := range pairs {
			c.Add(s.out.Live())
		}
		return c
	}

	unsettled := 0
	if len(cfg.targets()) > 1 {
		unsettled = settlePairs(ctx, cfg, pairs)
	}

	var stop atomic.Bool
	stopCh := make(chan struct{})
	s := sender{start: time.Now(), stop: &stop, stopCh: stopCh, duration: cfg.Duration}
	cpu := startCPU()
	var prevDelivered int64
	prevHist := &HistSnapshot{}
	stopProg := prog.run(func(el time.Duration) string {
		c := live()
		h := snapshot()
		iv := h.Sub(prevHist)
		line := fmt.Sprintf("%5.1fs  sent %d  delivered %d  %d/s  p99 %.2f ms  errored %d  in flight %d",
			el.Seconds(), c.Sent, c.Delivered, c.Delivered-prevDelivered, float64(iv.Quantile(0.99))/1e6, c.Errored, c.Lost)
		prevDelivered, prevHist = c.Delivered, h
		return line
	})
	var senders sync.WaitGroup
	for k, c := range pairs {
		senders.Add(1)
		go func() {
			defer senders.Done()
			if cfg.Rate > 0 {
				c.sendPaced(s, NewPacer(cfg.Rate, k, len(pairs)))
			} else {
				c.sendMax(s)
			}
		}()
	}
	select {
	case <-ctx.Done():
	case <-time.After(cfg.Duration):
	}
	stop.Store(true)
	close(stopCh)
	senders.Wait()
	sendTime := time.Since(s.start)

	// Grace: wait for the messages still in flight, or count them lost.
	grace := time.NewTimer(cfg.Grace)
	tick := time.NewTicker(10 * time.Millisecond)
	for done := false; !done; {
		c := live()
		if c.Delivered+c.Errored >= c.Sent {
			break
		}
		select {
		case <-grace.C:
			done = true
		case <-ctx.Done():
			done = true
		case <-tick.C:
		}
	}
	grace.Stop()
	tick.Stop()
	stopProg()
	m := &Messages{CPU: cpu.stop(), Seconds: sendTime.Seconds(), Pairs: len(pairs) / 2, Unsettled: unsettled}

	// Close every connection and wait for the readers before reading the bitsets.
	closeAll()
	for _, c := range pairs {
		t := c.out.Tally()
		m.Counts.Add(t)
		m.Skipped += c.skipped.Load()
		if cfg.targetOf(c.idx) != cfg.targetOf(c.peer.idx) {
			m.Crossed += t.Delivered
		}
	}
	if m.Delivered > 0 {
		m.CrossedShare = float64(m.Crossed) / float64(m.Delivered)
	}
	m.Latency = latencyOf(snapshot())
	if sendTime > 0 {
		m.SentPerSec = float64(m.Sent) / sendTime.Seconds()
		m.DeliveredPerS = float64(m.Delivered) / sendTime.Seconds()
	}
	return m
}
