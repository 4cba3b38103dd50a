package replay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/stanzascope/stanzascope/cmd/stanzascope/internal/loadgen"
	"github.com/stanzascope/stanzascope/inspect"
)

// Defaults of Config.
const (
	DefaultTimeout      = 5 * time.Second
	DefaultLoginTimeout = 30 * time.Second
	// MaxGap bounds the wait between two client stanzas however long the recorded pause
	// was (scaled by Speed), so that a session left idle for hours does not replay for
	// hours; the report says when it cut a pause short.
	MaxGap = 10 * time.Minute
)

// Config configures a replay.
type Config struct {
	Target   string // HOST:PORT of the server
	Domain   string // the XMPP domain to log in to; "" is the recorded one
	User     string // the account's localpart; "" is the recorded one
	Password string
	// Resource to bind; "" asks for the recorded one, or lets the server choose when the
	// recorded client did.
	Resource string
	// TLS is the client configuration for STARTTLS, negotiated whenever the server offers
	// it; nil verifies the server's certificate with the system's roots for Domain.
	TLS *tls.Config
	// Mechanism forces a SASL mechanism; "" picks the best offered (SCRAM first).
	Mechanism string
	// Speed scales the recorded pauses between client stanzas: 1 keeps them, 2 halves
	// them, 0 sends each stanza as soon as the answers to the previous one have come.
	Speed float64
	// Timeout bounds the wait for the answers to one stanza; LoginTimeout the login.
	Timeout, LoginTimeout time.Duration
}

// Run replays s against cfg.Target and returns the report. It returns an error, and no
// report, only when the replay could not log in; everything after the login, a server
// that closes the stream included, is in the report.
func Run(ctx context.Context, s *Script, cfg Config) (*Report, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.LoginTimeout <= 0 {
		cfg.LoginTimeout = DefaultLoginTimeout
	}
	if cfg.Domain == "" {
		cfg.Domain = s.JID.Domain
	}
	if cfg.User == "" {
		cfg.User = s.JID.Local
	}
	if cfg.Resource == "" {
		cfg.Resource = s.Resource
	}
	if cfg.Speed < 0 {
		return nil, errors.New("speed must not be negative")
	}
	// Until the server binds, the stanzas are rewritten for the JID the replay asks for.
	guess, err := inspect.ParseJID(cfg.User + "@" + cfg.Domain + "/" + cfg.Resource)
	if err != nil && cfg.Resource == "" {
		guess, err = inspect.ParseJID(cfg.User + "@" + cfg.Domain)
	}
	if err != nil {
		return nil, fmt.Errorf("user and domain do not make a JID: %w", err)
	}
	r := &runner{s: s, cfg: cfg, start: time.Now()}
	r.w = newRewriter(s.JID, guess, s.StreamID, "", guess.Local, cfg.Password)
	r.t = newTracker(s.Steps, r.w)
	r.rep = &Report{Conn: s.Conn, Client: s.Client, RecordedJID: s.JID.String(), Target: cfg.Target, Speed: speedName(cfg.Speed)}
	if s.Pings > 0 {
		r.rep.Notes = append(r.rep.Notes, fmt.Sprintf("%d answers of the recorded client to the server's pings were not replayed: the replay answers pings itself", s.Pings))
	}
	if err := r.login(ctx); err != nil {
		if r.st != nil {
			r.st.Close()
		}
		return nil, err
	}
	r.session(ctx)
	r.rep.finish(r.t.results())
	return r.rep, nil
}

func speedName(speed float64) string {
	if speed == 0 {
		return "max"
	}
	return fmt.Sprintf("%g", speed)
}

// runner is one replay in progress.
type runner struct {
	s   *Script
	cfg Config
	w   *rewriter
	t   *tracker
	rep *Report
	st  *loadgen.Stream

	start    time.Time
	cur      int       // the step last sent
	lastSent time.Time // when it was sent
	rx       chan rxEvent
	ended    error // why the stream ended, once it has
	closed   bool  // the server has closed its stream
}

// rxEvent is what the reader goroutine passes on: a stanza, the end of the stream, or
// the error that ended the connection.
type rxEvent struct {
	el    *inspect.Element
	raw   []byte
	close bool
	err   error
}

// login connects, negotiates STARTTLS when offered, sends the steps recorded before the
// login in their places, logs in and binds.
func (r *runner) login(ctx context.Context) error {
	d := net.Dialer{Timeout: r.cfg.LoginTimeout}
	nc, err := d.DialContext(ctx, "tcp", r.cfg.Target)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	r.st = loadgen.NewStream(nc, r.cfg.Domain)
	_ = r.st.SetDeadline(time.Now().Add(r.cfg.LoginTimeout))
	stop := context.AfterFunc(ctx, func() { r.st.Close() })
	defer stop()
	feats, err := r.st.Open()
	if err != nil {
		return err
	}
	secure := false
	if feats.Child(inspect.NSTLS, "starttls") != nil {
		tc := r.tlsConfig()
		if feats, err = r.st.StartTLS(ctx, tc); err != nil {
			return err
		}
		state := r.st.Conn().(*tls.Conn).ConnectionState()
		r.rep.TLS = tls.VersionName(state.Version) + ", certificate verified"
		if tc.InsecureSkipVerify {
			r.rep.TLS = tls.VersionName(state.Version) + ", certificate NOT verified (--insecure)"
		}
		secure = true
	} else {
		r.rep.TLS = "none: the server offered no STARTTLS"
	}
	i := 0
	for ; i < len(r.s.Steps) && r.s.Steps[i].Phase == PreAuth && r.s.Steps[i].Kind == StepStanza; i++ {
		if err := r.syncStep(ctx, i); err != nil {
			return err
		}
	}
	mech, err := loadgen.ChooseMechanism(feats, r.cfg.Mechanism)
	if err != nil {
		return err
	}
	if mech == "PLAIN" && !secure && !loopback(r.cfg.Target) {
		return errors.New("the server offers only PLAIN, without TLS: the password would cross the network in clear (refused)")
	}
	r.rep.Mechanism = mech
	if feats, err = r.st.Authenticate(mech, loadgen.Account{Username: r.cfg.User, Password: r.cfg.Password}); err != nil {
		return err
	}
	for ; i < len(r.s.Steps) && r.s.Steps[i].Kind == StepStanza; i++ {
		if err := r.syncStep(ctx, i); err != nil {
			return err
		}
	}
	full, err := r.st.Bind(feats, r.cfg.Resource)
	if err != nil {
		return err
	}
	_ = r.st.SetDeadline(time.Time{})
	r.w.to = full
	r.w.newStream = r.st.Reader().Header().ID
	r.rep.JID = full.String()
	if i < len(r.s.Steps) {
		r.cur = i // the login step: what the server sends now is in its window
		r.t.sent(i, "")
	}
	r.lastSent = time.Now()
	return nil
}

func (r *runner) tlsConfig() *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if r.cfg.TLS != nil {
		c = r.cfg.TLS.Clone()
	}
	if c.ServerName == "" {
		c.ServerName = r.cfg.Domain
	}
	return c
}

func loopback(target string) bool {
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// syncStep sends a step of the login phase and, for a request the recorded server
// answered, reads until its answer. The login reads the stream itself, so this phase
// reads in turn rather than through the reader goroutine.
func (r *runner) syncStep(ctx context.Context, i int) error {
	st := r.s.Steps[i]
	r.pause(ctx, i)
	out, id, skip := r.w.rewrite(st)
	if skip != "" {
		r.t.notSent(i, skip)
		return nil
	}
	if err := r.st.Write(out); err != nil {
		return err
	}
	r.t.sent(i, id)
	r.cur, r.lastSent = i, time.Now()
	if !st.Request || st.Answer == nil {
		return nil
	}
	_ = r.st.SetDeadline(time.Now().Add(r.cfg.Timeout))
	defer r.st.SetDeadline(time.Now().Add(r.cfg.LoginTimeout))
	for r.t.awaitsAnswer(i) {
		ev := r.read()
		if ev.err != nil {
			return fmt.Errorf("waiting for the answer to #%d (%s): %w", st.Seq, st.Describe(), ev.err)
		}
		r.handle(ev)
		if r.ended != nil {
			return fmt.Errorf("before the login: %w", r.ended)
		}
	}
	return nil
}

// read returns the next stanza or the end of the stream from the reader.
func (r *runner) read() rxEvent {
	rd := r.st.Reader()
	for {
		ev, err := rd.Next()
		if err != nil {
			return rxEvent{err: err}
		}
		switch ev.Kind {
		case inspect.KindStanza:
			raw := append([]byte(nil), ev.Raw...)
			el, err := inspect.ParseElement(raw, rd.Header())
			if err != nil {
				continue // the reader framed it; a tree it does not make is nothing to compare
			}
			if ping(el) {
				r.answerPing(el)
				continue
			}
			return rxEvent{el: el, raw: raw}
		case inspect.KindStreamClose:
			return rxEvent{close: true, raw: append([]byte(nil), ev.Raw...)}
		}
	}
}

// ping reports whether el is a ping of the server (XEP-0199), which the replay answers
// itself: a server pings when it likes, so its pings are not part of the comparison.
func ping(el *inspect.Element) bool {
	return el.Local == "iq" && el.Attr("type") == "get" && el.Child(inspect.NSPing, "ping") != nil
}

func (r *runner) answerPing(el *inspect.Element) {
	b := []byte("<iq type='result' id='" + inspect.EscapeAttr(el.Attr("id")) + "'")
	if f := el.Attr("from"); f != "" {
		b = append(b, " to='"+inspect.EscapeAttr(f)+"'"...)
	}
	_ = r.st.Write(append(b, "/>"...))
}

// handle passes an event to the tracker.
func (r *runner) handle(ev rxEvent) {
	switch {
	case ev.err != nil:
		if r.ended == nil {
			r.ended = ev.err
		}
	case ev.close:
		r.closed = true
		r.t.closed(r.cur, ev.raw)
	default:
		r.t.received(r.cur, ev.el, ev.raw)
	}
}

// session replays the steps after the login with a reader goroutine, so that waiting
// for answers and keeping the recorded timing go on while the server sends.
func (r *runner) session(ctx context.Context) {
	r.rx = make(chan rxEvent, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			ev := r.read()
			r.rx <- ev
			if ev.err != nil {
				return
			}
		}
	}()
	defer func() {
		r.st.Close()
		for {
			select {
			case <-r.rx:
			case <-done:
				return
			}
		}
	}()
	stop := context.AfterFunc(ctx, func() { r.st.Close() })
	defer stop()

	first := r.cur + 1
	r.waitAnswers(ctx, r.cur)
	closedByUs := false
	for i := first; i < len(r.s.Steps); i++ {
		if r.ended != nil || ctx.Err() != nil {
			why := "the stream had ended: " + endReason(r.ended)
			if ctx.Err() != nil {
				why = "the replay was interrupted"
			}
			for ; i < len(r.s.Steps); i++ {
				r.t.notSent(i, why)
			}
			r.rep.Aborted = why
			break
		}
		st := r.s.Steps[i]
		r.pause(ctx, i)
		out, id, skip := r.w.rewrite(st)
		if skip != "" {
			r.t.notSent(i, skip)
			continue
		}
		if err := r.st.Write(out); err != nil {
			r.t.notSent(i, "writing failed: "+err.Error())
			r.ended = err
			continue
		}
		r.t.sent(i, id)
		r.cur, r.lastSent = i, time.Now()
		closedByUs = st.Kind == StepClose
		r.waitAnswers(ctx, i)
	}
	if r.ended == nil {
		if !closedByUs {
			// The recorded client never closed its stream: close it now.
			_ = r.st.Write([]byte("</stream:stream>"))
		}
		r.drainUntilEnd(ctx, !closedByUs)
	}
}

// endReason says why the stream ended, in words.
func endReason(err error) string {
	if err == nil || errors.Is(err, io.EOF) {
		return "the server closed the connection"
	}
	return err.Error()
}

// waitAnswers waits until the answers recorded up to step i have come, at most
// cfg.Timeout; then it stops waiting for the ones that have not.
func (r *runner) waitAnswers(ctx context.Context, i int) {
	deadline := time.Now().Add(r.cfg.Timeout)
	if !r.waitUntil(ctx, deadline, func() bool { return r.t.satisfied(i) }) {
		r.t.giveUp(i)
	}
}

// pause keeps the recorded pause before step i (scaled by Speed), counted from when the
// step before it was sent; the answers that arrive meanwhile are taken as they come.
func (r *runner) pause(ctx context.Context, i int) {
	if r.cfg.Speed == 0 || i == 0 || r.lastSent.IsZero() {
		return
	}
	prev, st := r.s.Steps[i-1], r.s.Steps[i]
	if prev.Time.IsZero() || st.Time.IsZero() || !st.Time.After(prev.Time) {
		return
	}
	gap := time.Duration(float64(st.Time.Sub(prev.Time)) / r.cfg.Speed)
	if gap > MaxGap {
		r.rep.Notes = append(r.rep.Notes, fmt.Sprintf("the pause of %v before #%d was cut to %v", gap.Round(time.Second), st.Seq, MaxGap))
		gap = MaxGap
	}
	due := r.lastSent.Add(gap)
	if r.rx == nil {
		// The login phase has no reader goroutine: nothing arrives unasked meanwhile.
		t := time.NewTimer(time.Until(due))
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		return
	}
	r.waitUntil(ctx, due, func() bool { return false })
}

// waitUntil takes events until cond holds (true), the deadline passes, the stream ends
// or ctx is done (false, unless cond holds by then).
func (r *runner) waitUntil(ctx context.Context, deadline time.Time, cond func() bool) bool {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	for !cond() {
		if r.ended != nil {
			return cond()
		}
		select {
		case ev := <-r.rx:
			r.handle(ev)
		case <-t.C:
			return cond()
		case <-ctx.Done():
			return cond()
		}
	}
	return true
}

// drainUntilEnd takes what the server still sends after the last step, as part of it,
// until the server ends its stream (at most cfg.Timeout). The server's closing tag is
// compared only when the recorded client closed the stream too (not ours: the replay
// closed it on its own).
func (r *runner) drainUntilEnd(ctx context.Context, ourClose bool) {
	t := time.NewTimer(r.cfg.Timeout)
	defer t.Stop()
	for r.ended == nil && !r.closed {
		select {
		case ev := <-r.rx:
			if ev.close {
				r.closed = true
				if !ourClose {
					r.handle(ev)
				}
				return
			}
			r.handle(ev)
		case <-t.C:
			return
		case <-ctx.Done():
			return
		}
	}
}
