// Package web is stanzascope's live web view: a Hub, one more sink of the record stream,
// keeps a bounded history of records and fans them out to browsers over server-sent
// events, and NewHandler serves one page (embedded, no CDN, works offline) that draws them
// as a sequence diagram with a lane per party and an arrow per stanza.
//
// The hub shows the records it is given: in the command's sink chain it comes after the
// redactor, so it holds and serves no credential unless --show-secrets is given.
//
// The hub never slows the traffic: Write appends to a ring buffer and wakes the browsers'
// streams without waiting for any of them. Each stream keeps its own cursor into the ring;
// a browser that reads too slowly falls behind, and when the ring has moved past its
// cursor it is told how many records it missed.
package web

import (
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// Default bounds of the history a hub keeps for browsers that open the page late.
const (
	DefaultHistory      = 10000    // records
	DefaultHistoryBytes = 64 << 20 // bytes of stanzas and summaries
)

// DefaultMaxStreams is how many browsers may watch at once unless Options say otherwise.
const DefaultMaxStreams = 64

// maxLanes bounds the lane labels a hub remembers (one per connection seen).
const maxLanes = 4096

// Options configure a Hub.
type Options struct {
	// History is how many records the hub keeps (0: DefaultHistory); HistoryBytes bounds
	// their size (0: DefaultHistoryBytes). The oldest records go first.
	History      int
	HistoryBytes int
	// MaxStreams bounds the browsers watching at once (0: DefaultMaxStreams); one more is
	// turned away (503).
	MaxStreams int
	// Title heads the page ("stanzascope proxy").
	Title string
	// Server labels the server's lane ("localhost (embedded switch)"); "" is "server".
	Server string
	// Proxy draws stanzascope's own lane between the clients and the server.
	Proxy bool
}

// Hub is a Sink that keeps the last records for the web view and wakes the browsers
// watching. Write is safe for concurrent use and never blocks on a browser.
type Hub struct {
	opt Options

	wmu   sync.Mutex // serialises Write: the derivation state below is its own
	conns map[uint64]*connState

	mu     sync.Mutex // guards everything below
	ring   []entry    // index i is held at ring[i%len(ring)]
	first  uint64     // oldest index held
	next   uint64     // index of the next record
	bytes  int        // size of the entries held
	lanes  map[uint64]Lane
	subs   map[*subscriber]struct{}
	closed bool

	detailMu sync.Mutex // rendering a detail caches a tree in the hub's copy of a record
}

// entry is one record held: its summary as sent to browsers, and the hub's own copy of
// the record (redacted) for the detail view.
type entry struct {
	sum  *lazySummary
	rec  *inspect.Record
	size int
}

// Lane is what the hub knows of a client's connection: its number, the client's address
// and the JID it bound, once bound.
type Lane struct {
	Conn   uint64 `json:"conn"`
	Client string `json:"client,omitempty"`
	JID    string `json:"jid,omitempty"`
}

// subscriber is one browser's stream: a cursor kept by its handler, and a bell the hub
// rings, without waiting, when records arrive.
type subscriber struct {
	wake chan struct{}
}

// NewHub returns an empty hub.
func NewHub(opt Options) *Hub {
	if opt.History <= 0 {
		opt.History = DefaultHistory
	}
	if opt.HistoryBytes <= 0 {
		opt.HistoryBytes = DefaultHistoryBytes
	}
	if opt.MaxStreams <= 0 {
		opt.MaxStreams = DefaultMaxStreams
	}
	return &Hub{
		opt:   opt,
		conns: map[uint64]*connState{},
		ring:  make([]entry, opt.History),
		first: 1,
		next:  1,
		lanes: map[uint64]Lane{},
		subs:  map[*subscriber]struct{}{},
	}
}

// Write keeps r for the web view and wakes the browsers watching. Whitespace keep-alives
// are not kept (the diagram does not draw them). The hub keeps its own copy of r; r is
// not changed. Write returns an error only after Close.
func (h *Hub) Write(r *inspect.Record) error {
	if r.Kind == inspect.KindWhitespace {
		return nil
	}
	h.wmu.Lock()
	defer h.wmu.Unlock()
	// h.next is only changed by Write, under h.wmu as well: it is the index r will get.
	idx := h.next
	d := h.derive(r)
	rec := h.copyOf(r)
	// The summary is made when a browser first reads it, not here: with nobody watching
	// (the usual case of a proxy that serves the view) Write costs a copy, and the JSON is
	// made once for all the browsers, in their goroutines, off the traffic's path.
	sum := &lazySummary{rec: rec, recMu: &h.detailMu, idx: idx, d: d, proxy: h.opt.Proxy}
	e := entry{sum: sum, rec: rec, size: summarySize + len(rec.Raw) + len(rec.Original) + 256}

	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return inspect.ErrClosed
	}
	for h.next-h.first >= uint64(len(h.ring)) || (h.next > h.first && h.bytes+e.size > h.opt.HistoryBytes) {
		h.evict()
	}
	h.ring[idx%uint64(len(h.ring))] = e
	h.bytes += e.size
	h.next++
	if d.lane != nil {
		h.setLane(*d.lane)
	}
	for s := range h.subs {
		select {
		case s.wake <- struct{}{}:
		default: // already rung: the stream will read everything new when it wakes
		}
	}
	h.mu.Unlock()
	return nil
}

// evict drops the oldest entry. h.mu is held.
func (h *Hub) evict() {
	i := h.first % uint64(len(h.ring))
	h.bytes -= h.ring[i].size
	h.ring[i] = entry{}
	h.first++
}

// setLane remembers a lane's label, forgetting the lowest connection numbers past
// maxLanes. h.mu is held.
func (h *Hub) setLane(l Lane) {
	old, ok := h.lanes[l.Conn]
	if ok {
		if l.Client == "" {
			l.Client = old.Client
		}
		if l.JID == "" {
			l.JID = old.JID
		}
	}
	h.lanes[l.Conn] = l
	for len(h.lanes) > maxLanes {
		lowest := l.Conn
		for c := range h.lanes {
			lowest = min(lowest, c)
		}
		delete(h.lanes, lowest)
	}
}

// copyOf returns the hub's own copy of r, for the detail view, without the tree another
// sink may have cached: the history holds bytes, and a tree is parsed again on a click.
func (h *Hub) copyOf(r *inspect.Record) *inspect.Record {
	c := *r
	c.SetElement(nil)
	return &c
}

// Close ends the browsers' streams; Write fails afterwards. The history stays readable.
func (h *Hub) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		for s := range h.subs {
			close(s.wake)
		}
		h.subs = map[*subscriber]struct{}{}
	}
	return nil
}

// Len returns how many records the hub holds.
func (h *Hub) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return int(h.next - h.first)
}

// Lanes returns the labels known for the connections, by connection number.
func (h *Hub) Lanes() map[uint64]Lane {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := make(map[uint64]Lane, len(h.lanes))
	for k, v := range h.lanes {
		m[k] = v
	}
	return m
}

// Errors of subscribe.
var (
	errClosed      = errors.New("stanzascope: the web view is closed")
	errTooManySubs = errors.New("stanzascope: too many browsers are watching this web view")
)

// subscribe registers a stream.
func (h *Hub) subscribe() (*subscriber, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errClosed
	}
	if len(h.subs) >= h.opt.MaxStreams {
		return nil, errTooManySubs
	}
	s := &subscriber{wake: make(chan struct{}, 1)}
	h.subs[s] = struct{}{}
	return s, nil
}

func (h *Hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.wake)
	}
}

// read appends to dst the summaries of up to max entries from index cursor on. It
// returns the index after the last one appended, and how many records between cursor and
// the oldest one held were already gone.
func (h *Hub) read(cursor uint64, max int, dst [][]byte) (out [][]byte, next, missed uint64) {
	var sums []*lazySummary
	h.mu.Lock()
	if cursor < h.first {
		missed = h.first - cursor
		cursor = h.first
	}
	for ; cursor < h.next && len(dst)+len(sums) < max; cursor++ {
		sums = append(sums, h.ring[cursor%uint64(len(h.ring))].sum)
	}
	h.mu.Unlock()
	for _, s := range sums { // made outside the lock: Write never waits for a browser
		dst = append(dst, s.json())
	}
	return dst, cursor, missed
}

// summarySize is what a summary is counted as in the history's bytes before it is made:
// about what one holds (the JSON of a chat message's summary is 250 to 320 bytes).
const summarySize = 320

// lazySummary is a record's summary for browsers, made on first use from what Write knew
// of the record (its index and what was derived in the order of the records).
type lazySummary struct {
	once  sync.Once
	rec   *inspect.Record // the hub's copy: only the detail view caches a tree in it,
	recMu *sync.Mutex     // under this lock (the hub's detailMu)
	idx   uint64
	d     derived
	proxy bool
	b     []byte
}

// json returns the summary as one JSON object, made once.
func (l *lazySummary) json() []byte {
	l.once.Do(func() {
		// On a copy of its own: making the label may parse the stanza, which caches the
		// tree in the record, as the detail view does in the hub's copy.
		l.recMu.Lock()
		r := *l.rec
		l.recMu.Unlock()
		sm := summarize(&r, l.idx, l.d, l.proxy)
		l.b = sm.appendJSON(make([]byte, 0, summarySize))
	})
	return l.b
}

// hello is the first event of a stream: what the page needs before the records.
type hello struct {
	Title   string `json:"title"`
	Server  string `json:"server"`
	Proxy   bool   `json:"proxy"`
	First   uint64 `json:"first"`   // oldest index held
	Next    uint64 `json:"next"`    // index of the next record
	History int    `json:"history"` // the bound
	Lanes   []Lane `json:"lanes"`
}

func (h *Hub) hello() hello {
	h.mu.Lock()
	defer h.mu.Unlock()
	hl := hello{Title: h.opt.Title, Server: h.opt.Server, Proxy: h.opt.Proxy, First: h.first, Next: h.next,
		History: len(h.ring), Lanes: make([]Lane, 0, len(h.lanes))}
	if hl.Title == "" {
		hl.Title = "stanzascope"
	}
	if hl.Server == "" {
		hl.Server = "server"
	}
	for _, l := range h.lanes {
		hl.Lanes = append(hl.Lanes, l)
	}
	return hl
}

// record returns the hub's copy of the record at index i, or nil when it is not held.
func (h *Hub) record(i uint64) *inspect.Record {
	h.mu.Lock()
	defer h.mu.Unlock()
	if i < h.first || i >= h.next {
		return nil
	}
	return h.ring[i%uint64(len(h.ring))].rec
}

// formatTime prints a record's time as the terminal does.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format("15:04:05.000")
}

// laneOf names the lane of a client's connection.
func laneOf(conn uint64) string { return "c" + strconv.FormatUint(conn, 10) }
