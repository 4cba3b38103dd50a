package proxy

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/rules"
)

// Control is the proxy's hands on the wire: breakpoints that hold matching stanzas, the
// decisions about held stanzas (release, edit, drop, reject), and stanzas sent into a live
// connection. Every surface (the HTTP API, `stanzascope ctl`, the web view) drives this one
// model; each call names who made it (By), and every decision is recorded. It is safe for
// concurrent use. A proxy without breakpoints pays one atomic load per stanza for it.
type Control struct {
	p *Proxy

	bps    atomic.Pointer[bpSet] // nil: nothing to match
	bpMu   sync.Mutex            // serialises changes to bps
	nextBP atomic.Uint64

	mu       sync.Mutex
	sessions map[uint64]*session
	held     map[uint64]*heldStanza
	nextHeld uint64
}

// Who made a decision, as the records say. Surfaces name themselves; ByTimeout is the
// hold timeout.
const (
	ByAPI     = "api"
	ByWeb     = "web"
	ByCtl     = "ctl"
	ByTimeout = "timeout"
)

// ValidBy reports whether by names a surface that may make a decision (the timeout is the
// proxy's own).
func ValidBy(by string) bool { return by == ByAPI || by == ByWeb || by == ByCtl }

// Errors of the control model; the HTTP API maps them to status codes.
var (
	// ErrNotFound: no such connection, breakpoint or held stanza (it may have been decided
	// or its connection may have ended).
	ErrNotFound = errors.New("not found")
	// ErrBusy: the connection is mid-negotiation (TLS or SASL in progress) or its stream
	// toward that peer is not open, so no stanza can be sent into it now.
	ErrBusy = errors.New("connection busy")
	// ErrInvalid: a stanza, a condition or a decision that is not acceptable.
	ErrInvalid = errors.New("invalid")
)

// Breakpoint is a filter expression (the --filter language, rules.ParseFilter) whose
// matching stanzas are held.
type Breakpoint struct {
	ID   uint64 `json:"id"`
	Expr string `json:"filter"`
	Hits uint64 `json:"hits"`
}

type breakpoint struct {
	id   uint64
	f    *rules.Filter
	hits atomic.Uint64
}

// bpSet is the breakpoints as the forwarding path reads them, made anew on each change:
// the list, and their filters made ready to match every stanza (rules.StanzaSet: a stanza
// is matched only against the breakpoints its element, direction and type allow).
type bpSet struct {
	list []*breakpoint // in the order they were set
	set  *rules.StanzaSet
}

// newBPSet prepares list; nil when it is empty.
func newBPSet(list []*breakpoint) *bpSet {
	if len(list) == 0 {
		return nil
	}
	fs := make([]*rules.Filter, len(list))
	for i, b := range list {
		fs[i] = b.f
	}
	return &bpSet{list: list, set: rules.NewStanzaSet(fs)}
}

// ConnState describes a live connection for a controller.
type ConnState struct {
	ID          uint64    `json:"id"`
	Client      string    `json:"client"`
	Server      string    `json:"server"`
	Bound       string    `json:"bound,omitempty"`
	Since       time.Time `json:"since"`
	ClientTLS   bool      `json:"client_tls"`
	UpstreamTLS bool      `json:"upstream_tls"`
	// Busy says why nothing can be sent into the connection now ("" when it can).
	Busy string `json:"busy,omitempty"`
	Held int    `json:"held"`
}

// Held is a held stanza as a controller sees it.
type Held struct {
	ID         uint64    `json:"id"`
	Conn       uint64    `json:"conn"`
	Dir        string    `json:"dir"` // c2s or s2c
	Breakpoint uint64    `json:"breakpoint"`
	Filter     string    `json:"filter"`
	Since      time.Time `json:"since"`
	Deadline   time.Time `json:"deadline"` // when the hold times out and the stanza is released unchanged
	Stanza     string    `json:"stanza"`
	// Redacted says that Stanza has credentials replaced (the proxy shows secrets only with
	// --show-secrets); an edit of it forwards what is written, redaction marks included.
	Redacted bool `json:"redacted,omitempty"`
}

// Action is a decision about a held stanza.
type Action string

// The decisions about a held stanza.
const (
	Release Action = "release" // forward it as it is
	Edit    Action = "edit"    // forward Decision.Stanza instead (one stanza, checked)
	Drop    Action = "drop"    // forward nothing
	Reject  Action = "reject"  // forward nothing, bounce a stanza error to the sender
)

// Decision is what a controller decides about a held stanza.
type Decision struct {
	Action    Action
	By        string       // ByAPI, ByWeb, ByCtl (ByTimeout is the proxy's)
	Stanza    []byte       // Edit: the bytes to forward
	Condition inspect.Cond // Reject: the stanza error condition (RFC 6120 section 8.3.3)
	Text      string       // Reject: optional text
}

// heldStanza is one stanza held at a breakpoint. Its pipe waits on decided.
type heldStanza struct {
	Held
	s       *session
	rec     *inspect.Record
	decided chan Decision // buffered 1; the first decision wins
	once    sync.Once
}

// NewControl returns a control model for Config.Control, so that its surfaces can be set
// up before the proxy (the web view's server starts first). It serves one proxy.
func NewControl() *Control {
	return &Control{sessions: map[uint64]*session{}, held: map[uint64]*heldStanza{}}
}

// attach makes c the control model of p.
func (c *Control) attach(p *Proxy) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.p != nil {
		return errors.New("proxy: Config.Control already serves another proxy")
	}
	c.p = p
	return nil
}

// Control returns the proxy's control model (Config.Control, or its own).
func (p *Proxy) Control() *Control { return p.ctl }

// AddBreakpoint compiles expr as a filter expression and holds the stanzas it matches from
// now on. A bad expression is a *rules.FilterError.
func (c *Control) AddBreakpoint(expr string) (Breakpoint, error) {
	f, err := rules.ParseFilter(expr)
	if err != nil {
		return Breakpoint{}, fmt.Errorf("breakpoint: %w", err)
	}
	b := &breakpoint{id: c.nextBP.Add(1), f: f}
	c.bpMu.Lock()
	defer c.bpMu.Unlock()
	var list []*breakpoint
	if cur := c.bps.Load(); cur != nil {
		if len(cur.list) >= maxBreakpoints {
			return Breakpoint{}, fmt.Errorf("breakpoint: at most %d breakpoints: %w", maxBreakpoints, ErrInvalid)
		}
		list = slices.Clone(cur.list)
	}
	list = append(list, b)
	c.bps.Store(newBPSet(list))
	return Breakpoint{ID: b.id, Expr: expr}, nil
}

// maxBreakpoints bounds the breakpoints, each of which every stanza is matched against.
const maxBreakpoints = 64

// RemoveBreakpoint removes a breakpoint; stanzas it holds stay held.
func (c *Control) RemoveBreakpoint(id uint64) error {
	c.bpMu.Lock()
	defer c.bpMu.Unlock()
	cur := c.bps.Load()
	if cur == nil {
		return ErrNotFound
	}
	i := slices.IndexFunc(cur.list, func(b *breakpoint) bool { return b.id == id })
	if i < 0 {
		return ErrNotFound
	}
	c.bps.Store(newBPSet(slices.Delete(slices.Clone(cur.list), i, i+1)))
	return nil
}

// ClearBreakpoints removes every breakpoint; stanzas they hold stay held.
func (c *Control) ClearBreakpoints() {
	c.bpMu.Lock()
	c.bps.Store(nil)
	c.bpMu.Unlock()
}

// Breakpoints lists the breakpoints in the order they were set.
func (c *Control) Breakpoints() []Breakpoint {
	out := []Breakpoint{}
	if cur := c.bps.Load(); cur != nil {
		for _, b := range cur.list {
			out = append(out, Breakpoint{ID: b.id, Expr: b.f.String(), Hits: b.hits.Load()})
		}
	}
	return out
}

// armed reports whether any breakpoint is set: the one check on the forwarding path.
func (c *Control) armed() bool {
	return c.bps.Load() != nil
}

// match returns the first breakpoint that matches the stanza record r, or nil.
func (c *Control) match(r *inspect.Record, bound string) *breakpoint {
	cur := c.bps.Load()
	if cur == nil {
		return nil
	}
	i := cur.set.MatchFirst(r, bound)
	if i < 0 {
		return nil
	}
	b := cur.list[i]
	b.hits.Add(1)
	return b
}

// Conns lists the live connections, oldest first.
func (c *Control) Conns() []ConnState {
	c.mu.Lock()
	ss := make([]*session, 0, len(c.sessions))
	for _, s := range c.sessions {
		ss = append(ss, s)
	}
	heldBy := map[uint64]int{}
	for _, h := range c.held {
		heldBy[h.Conn]++
	}
	c.mu.Unlock()
	sort.Slice(ss, func(i, j int) bool { return ss[i].id < ss[j].id })
	out := make([]ConnState, 0, len(ss))
	for _, s := range ss {
		out = append(out, s.state(heldBy[s.id]))
	}
	return out
}

// Held lists the held stanzas, oldest first.
func (c *Control) Held() []Held {
	c.mu.Lock()
	out := make([]Held, 0, len(c.held))
	for _, h := range c.held {
		out = append(out, h.Held)
	}
	c.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Decide makes a decision about a held stanza. An edit must be one well-formed stanza
// (message, presence or iq); otherwise the parser's error is returned (wrapping ErrInvalid)
// and the stanza stays held. A reject needs a stanza error condition, and a stanza that
// may be answered with an error (not an error, not an iq result).
func (c *Control) Decide(id uint64, d Decision) error {
	c.mu.Lock()
	h := c.held[id]
	c.mu.Unlock()
	if h == nil {
		return fmt.Errorf("held stanza %d: %w", id, ErrNotFound)
	}
	if !ValidBy(d.By) && d.By != ByTimeout {
		return fmt.Errorf("decision by %q: give api, web or ctl: %w", d.By, ErrInvalid)
	}
	switch d.Action {
	case Release, Drop:
	case Edit:
		if err := checkStanza(d.Stanza, h.rec.Header); err != nil {
			return fmt.Errorf("edit of held stanza %d: %w", id, err)
		}
		d.Stanza = append([]byte(nil), d.Stanza...)
	case Reject:
		if !d.Condition.IsStanzaCond() {
			return fmt.Errorf("reject: %q is not a stanza error condition (RFC 6120 section 8.3.3): %w", d.Condition, ErrInvalid)
		}
		if len(d.Text) > maxErrorText {
			return fmt.Errorf("reject: text longer than %d bytes: %w", maxErrorText, ErrInvalid)
		}
		if _, ok := rules.BounceError(h.rec, inspect.StanzaError{Condition: d.Condition}); !ok {
			return fmt.Errorf("reject: a %s of type %q is not answered with an error (drop it instead): %w",
				h.rec.Name, h.rec.Attr("type"), ErrInvalid)
		}
	default:
		return fmt.Errorf("decision %q: give release, edit, drop or reject: %w", d.Action, ErrInvalid)
	}
	if !h.decide(d) {
		return fmt.Errorf("held stanza %d: already decided: %w", id, ErrNotFound)
	}
	return nil
}

const maxErrorText = 1024

// decide hands d to the held stanza's pipe, once.
func (h *heldStanza) decide(d Decision) bool {
	ok := false
	h.once.Do(func() {
		h.s.p.ctl.forget(h.ID)
		h.decided <- d
		ok = true
	})
	return ok
}

func (c *Control) forget(id uint64) {
	c.mu.Lock()
	delete(c.held, id)
	c.mu.Unlock()
}

// Send writes one stanza (message, presence or iq, well-formed) into connection conn:
// toward the client (dir s2c) or toward the server (c2s). It is recorded with origin proxy
// and a note that says who sent it. It is refused with ErrBusy while the connection is
// mid-negotiation (TLS or SASL in progress) or no stream is open toward that peer.
func (c *Control) Send(conn uint64, dir inspect.Direction, raw []byte, by string) error {
	if !ValidBy(by) {
		return fmt.Errorf("send by %q: give api, web or ctl: %w", by, ErrInvalid)
	}
	if dir != inspect.ClientToServer && dir != inspect.ServerToClient {
		return fmt.Errorf("send: direction: %w", ErrInvalid)
	}
	c.mu.Lock()
	s := c.sessions[conn]
	c.mu.Unlock()
	if s == nil {
		return fmt.Errorf("connection %d: %w", conn, ErrNotFound)
	}
	return s.send(dir, raw, by)
}

func (c *Control) addSession(s *session) {
	c.mu.Lock()
	c.sessions[s.id] = s
	c.mu.Unlock()
}

func (c *Control) removeSession(s *session) {
	c.mu.Lock()
	delete(c.sessions, s.id)
	c.mu.Unlock()
}

// hold registers a held stanza and returns it.
func (c *Control) hold(s *session, rec *inspect.Record, b *breakpoint, timeout time.Duration) *heldStanza {
	now := time.Now()
	shown, redacted := rec.Raw, false
	if !c.p.cfg.ShowSecrets {
		shown, redacted = inspect.Redact(rec.Raw, rec.Header)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.nextHeld++
	h := &heldStanza{
		Held: Held{ID: c.nextHeld, Conn: s.id, Dir: rec.Dir.String(), Breakpoint: b.id, Filter: b.f.String(),
			Since: now, Deadline: now.Add(timeout), Stanza: string(shown), Redacted: redacted},
		s: s, rec: rec, decided: make(chan Decision, 1),
	}
	c.held[h.ID] = h
	return h
}

// state describes the session for Conns.
func (s *session) state(held int) ConnState {
	st := ConnState{ID: s.id, Client: fmtAddr(s.info.Client), Server: fmtAddr(s.info.Server), Since: s.start, Held: held}
	st.ClientTLS = s.client.isTLS()
	s.mu.Lock()
	up := s.up
	st.Bound = s.neg.bound
	st.Busy = s.busy()
	s.mu.Unlock()
	if up != nil {
		st.UpstreamTLS = up.isTLS()
	}
	return st
}

func fmtAddr(a netip.AddrPort) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
