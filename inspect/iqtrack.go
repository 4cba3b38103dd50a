package inspect

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// MaxPendingIQ is how many unanswered requests the tracker remembers per connection; past
// it the oldest is forgotten (with a note), so a peer that never answers cannot make the
// tracker grow without bound.
const MaxPendingIQ = 1024

// IQTracker matches iq answers (result, error) to their requests (get, set) by connection,
// direction and id. It sets RTT on each answer it matches and Unmatched on an answer with
// no request, and reports requests never answered as KindNote records (Unmatched set):
// when their connection closes, when they are older than the timeout (measured in record
// time, so it works on logs as well as live), or at Close. It is a Sink that passes every
// record on to next, and like every sink it is fed from one goroutine.
type IQTracker struct {
	next    Sink
	timeout time.Duration
	max     int
	conns   map[ConnKey]*iqConn
	last    time.Time
	// waiting counts the requests of every connection not answered, reported nor dropped
	// yet: with none, Write looks up no connection to expire requests of (a map lookup
	// for every record of the traffic).
	waiting int
	// batching is set while WriteBatch tracks a batch: out then collects what it passes
	// on (the records and the notes between them, in order) instead of writing each to
	// next. out is kept, emptied, for the next batch.
	batching bool
	out      []*Record
	// lastInfo and lastConn cache the last lookup of a connection's state for the
	// expiry check (lastConn nil: none), which every record makes while any request
	// waits: the records of a batch are those of one connection, and a map lookup by
	// ConnKey hashes its string. Any change to conns clears the cache.
	lastInfo *ConnInfo
	lastConn *iqConn
}

type iqKey struct {
	dir Direction // direction of the request
	id  string
}

// iqRequest is a request waiting for its answer. The note about it is kept as parts
// (typ, to, child) and only written for the few requests never answered (see describe).
type iqRequest struct {
	key     iqKey
	seq     uint64
	t       time.Time
	typ, to string
	child   payload
	// For the requests whose empty result says something (see explainEmptyResult): the
	// full JID a legacy login asks for, and whether a registration removes the account.
	login    string
	remove   bool
	boundRes bool // a bind request that names a resource (RFC 6120 §7.7)
	conn     *ConnInfo
	header   *Header
	forgone  bool
}

type iqConn struct {
	pending map[iqKey]*iqRequest
	order   []*iqRequest // oldest first; entries already answered are skipped lazily
	seq     uint64
}

// NewIQTracker returns a tracker writing to next. timeout <= 0 means requests are only
// reported as unanswered when their connection closes or at Close.
func NewIQTracker(next Sink, timeout time.Duration) *IQTracker {
	return &IQTracker{next: next, timeout: timeout, max: MaxPendingIQ, conns: map[ConnKey]*iqConn{}}
}

// Write tracks r and passes it on.
func (t *IQTracker) Write(r *Record) error {
	err := t.track1(r)
	return errors.Join(err, t.next.Write(r))
}

// WriteBatch tracks the records of rs in order and passes them on together, with the
// notes the tracker makes on the way (requests that expired) in their places among them.
func (t *IQTracker) WriteBatch(rs []*Record) error {
	t.out, t.batching = t.out[:0], true
	var err error
	for _, r := range rs {
		if e := t.track1(r); e != nil {
			err = errors.Join(err, e)
		}
		t.out = append(t.out, r)
	}
	out := t.out
	t.batching = false
	if e := WriteBatch(t.next, out); e != nil {
		err = errors.Join(err, e)
	}
	clear(out) // hold no record past its writing
	t.out = out[:0]
	return err
}

// pass hands on a note the tracker made: to next, or after what the batch holds.
func (t *IQTracker) pass(r *Record) error {
	if t.batching {
		t.out = append(t.out, r)
		return nil
	}
	return t.next.Write(r)
}

// track1 tracks r, before it is passed on, passing on the notes it makes.
func (t *IQTracker) track1(r *Record) error {
	if r.Time.After(t.last) {
		t.last = r.Time
	}
	cid := connID(r.Conn)
	// Errors are rare: collected without a slice, which would cost an allocation per record.
	var err error
	add := func(e error) {
		if e != nil {
			err = errors.Join(err, e)
		}
	}
	if t.timeout > 0 && t.waiting > 0 && !r.Time.IsZero() {
		if c := t.connOf(r.Conn, cid); c != nil {
			add(t.expire(c, r.Time.Add(-t.timeout), r.Time))
		}
	}
	if r.Kind == KindStanza && r.Name == "iq" {
		add(t.track(r, cid))
	}
	if r.Kind == KindConnClose {
		if c := t.conns[cid]; c != nil {
			add(t.flush(c, r.Time, "the connection closed"))
			delete(t.conns, cid)
			t.lastInfo, t.lastConn = nil, nil
		}
	}
	return err
}

// connOf returns the state of the connection ci (key cid), nil when it has none.
func (t *IQTracker) connOf(ci *ConnInfo, cid ConnKey) *iqConn {
	if ci != nil && ci == t.lastInfo {
		return t.lastConn
	}
	c := t.conns[cid]
	t.lastInfo, t.lastConn = ci, c
	return c
}

func connID(c *ConnInfo) ConnKey { return c.Key() }

func (t *IQTracker) track(r *Record, cid ConnKey) error {
	typ, id := r.Attr("type"), r.Attr("id")
	switch typ {
	case "get", "set":
		c := t.conns[cid]
		if c == nil {
			c = &iqConn{pending: map[iqKey]*iqRequest{}}
			t.conns[cid] = c
			t.lastInfo, t.lastConn = nil, nil
		}
		var err error
		if len(c.pending) >= t.max {
			err = t.dropOldest(c, r.Time)
		}
		c.seq++
		req := &iqRequest{key: iqKey{r.Dir, id}, seq: c.seq, t: r.Time, conn: r.Conn, header: r.Header,
			typ: typ, to: r.Attr("to"), child: payloadOf(r.Raw)}
		switch {
		case typ != "set":
		case req.child.ns == NSAuth || req.child.ns == NSRegister:
			req.login, req.remove = setDetails(r, req.child.ns)
		case req.child.ns == NSBind:
			req.boundRes = bytes.Contains(r.Raw, []byte("<resource"))
		}
		c.pending[req.key] = req
		c.order = append(c.order, req)
		t.waiting++
		if len(c.order) > 2*t.max+16 {
			c.compact()
		}
		return err
	case "result", "error":
		c := t.conns[cid]
		key := iqKey{r.Dir.Reverse(), id}
		var req *iqRequest
		if c != nil {
			req = c.pending[key]
		}
		if req == nil {
			r.Unmatched = true
			return nil
		}
		delete(c.pending, key)
		req.forgone = true
		t.waiting--
		x := r.edit(false) // one copy of the optional part for both
		x.answers = req
		if d := r.Time.Sub(req.t); d > 0 && !req.t.IsZero() {
			x.rtt = d
		}
	}
	return nil
}

// setDetails reads what a legacy login (the full JID it asks for) or a registration
// (whether it removes the account) sets; only these rare requests are parsed.
func setDetails(r *Record, ns string) (login string, remove bool) {
	e, err := r.Element()
	if err != nil {
		return "", false
	}
	q := e.Child(ns, "query")
	if q == nil {
		return "", false
	}
	if ns == NSRegister {
		return "", q.Child(ns, "remove") != nil
	}
	user, res := strings.TrimSpace(childText(q, "username")), strings.TrimSpace(childText(q, "resource"))
	domain := e.Attr("to")
	if domain == "" && r.Header != nil {
		domain = r.Header.To
	}
	if user == "" || domain == "" {
		return "", false
	}
	login = user + "@" + domain
	if res != "" {
		login += "/" + res
	}
	if j, err := ParseJID(login); err == nil {
		login = j.String() // as the server will stamp it: the localpart case-folded
	}
	return login, false
}

// describe says which request it was: "iq get id 'x' (<query xmlns='...'/>) to y".
func (q *iqRequest) describe() string {
	s := fmt.Sprintf("iq %s id '%s'", q.typ, q.key.id)
	if q.child.found {
		s += fmt.Sprintf(" (<%s xmlns='%s'/>)", q.child.local, q.child.ns)
	}
	if q.to != "" {
		s += " to " + q.to
	}
	return s
}

// payload is the first child element of a stanza: its local name and xmlns as written.
type payload struct {
	local, ns string
	found     bool
}

// payloadOf returns the first child element of a stanza, without building a tree.
func payloadOf(raw []byte) payload {
	top, ok := firstStart(raw)
	if !ok || top.kind != tagStart {
		return payload{}
	}
	for i := top.end; ; {
		t, ok := nextTag(raw, i)
		if !ok || t.kind == tagEnd {
			return payload{}
		}
		if t.kind == tagStart || t.kind == tagEmpty {
			ns, _ := rawAttr(raw[t.start:t.end], "xmlns")
			return payload{local: string(LocalName(t.name)), ns: ns, found: true}
		}
		i = t.end
	}
}

// forget removes q from the pending map unless a newer request reused its id.
func (c *iqConn) forget(q *iqRequest) {
	if c.pending[q.key] == q {
		delete(c.pending, q.key)
	}
}

// compact drops answered requests from the order list.
func (c *iqConn) compact() {
	c.order = slices.DeleteFunc(c.order, func(q *iqRequest) bool { return q.forgone })
}

func (t *IQTracker) dropOldest(c *iqConn, now time.Time) error {
	for len(c.order) > 0 {
		q := c.order[0]
		c.order = c.order[1:]
		if q.forgone {
			continue
		}
		q.forgone = true
		t.waiting--
		c.forget(q)
		return t.report(q, now, fmt.Sprintf("no longer tracked: more than %d requests were waiting for an answer", t.max))
	}
	return nil
}

// expire reports the requests of c sent before deadline.
func (t *IQTracker) expire(c *iqConn, deadline, now time.Time) error {
	var errs []error
	for len(c.order) > 0 {
		q := c.order[0]
		if !q.forgone && !q.t.Before(deadline) {
			break
		}
		c.order = c.order[1:]
		if q.forgone {
			continue
		}
		q.forgone = true
		t.waiting--
		c.forget(q)
		errs = append(errs, t.report(q, now, fmt.Sprintf("not answered within %v", t.timeout)))
	}
	return errors.Join(errs...)
}

// flush reports every request of c still waiting.
func (t *IQTracker) flush(c *iqConn, now time.Time, why string) error {
	var errs []error
	for _, q := range c.order {
		if q.forgone {
			continue
		}
		q.forgone = true
		t.waiting--
		errs = append(errs, t.report(q, now, why))
	}
	c.order, c.pending = nil, map[iqKey]*iqRequest{}
	return errors.Join(errs...)
}

func (t *IQTracker) report(q *iqRequest, now time.Time, why string) error {
	return t.pass((&Record{
		Time:      now,
		Conn:      q.conn,
		Dir:       q.key.dir,
		Kind:      KindNote,
		Header:    q.header,
		Unmatched: true,
	}).WithNote(q.describe() + " was never answered: " + why))
}

// Close reports every request still waiting for an answer, connection by connection. It
// does not close next.
func (t *IQTracker) Close() error {
	ids := make([]ConnKey, 0, len(t.conns))
	for id := range t.conns {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b ConnKey) int {
		if c := strings.Compare(a.Node, b.Node); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	var errs []error
	for _, id := range ids {
		errs = append(errs, t.flush(t.conns[id], t.last, "the log ended"))
		delete(t.conns, id)
	}
	t.lastInfo, t.lastConn = nil, nil
	return errors.Join(errs...)
}
