// Package web is stanzascope's live web view: a Hub, one more sink of the record stream,
// keeps a bounded history of records and fans them out to browsers over server-sent
// events, and NewHandler serves one page (embedded, no CDN, works offline) that draws them
// as a sequence diagram with a lane per party and an arrow per stanza.
//
// The hub shows the records it is given: in the command's sink chain it comes after the
// redactor, so it holds and serves no credential unless --show-secrets is given.
//
// The hub never slows the traffic: Write appends to a ring buffer and wakes an idle
// browser's stream without waiting for it. Each stream keeps its own cursor into the ring
// and sends at most one batch per interval, at a bounded rate: when records arrive faster
// than a page can draw or a person read, the stream sends the newest and tells the page
// exactly which records it skipped, which the page can fetch from the history (/records)
// while they are held.
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

// DefaultLiveRate is how many records a second each browser is sent live unless Options
// say otherwise: far more than a person reads, about what a page draws without falling
// behind, and a small fraction of what a busy proxy carries.
const DefaultLiveRate = 1000

// minLiveRate: at least one record per frame (frameEvery).
const minLiveRate = 10

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
	// LiveRate bounds the records a second each browser is sent live (0:
	// DefaultLiveRate; at least 10), with bursts of up to a second's worth. Records beyond
	// it are not sent live: the browser is told which ones, and can fetch them from the
	// history.
	LiveRate int
}

// Hub is a Sink that keeps the last records for the web view and wakes the browsers
// watching. Write is safe for concurrent use and never blocks on a browser.
type Hub struct {
	opt Options

	wmu   sync.Mutex // serialises Write: the derivation state below is its own
	conns map[uint64]*connState
	// batch holds the records WriteBatch prepared until it takes mu; kept for the next.
	batch []pending

	mu     sync.Mutex // guards everything below
	ring   []entry    // index i is held at ring[i%len(ring)]
	first  uint64     // oldest index held
	next   uint64     // index of the next record
	bytes  int        // size of the entries held
	lanes  map[uint64]laneEntry
	lanev  uint64 // version of the last change to lanes
	subs   map[*subscriber]struct{}
	armed  int // subscribers waiting for the next record (see arm)
	closed bool
}

// entry is one record held: its summary as sent to browsers, and the record (redacted)
// for the detail view. The summary-to-be is made when a browser first reads the entry
// (summary), from what Write derived (d): Write itself allocates nothing for it, and with
// nobody watching (the usual case of a proxy that serves the view) nothing is made at all. The record is the one the hub was given, shared with the chain's
// other outputs: nobody changes it (the tree a detail view parses into it is safe for
// concurrent use, see inspect.Record.Element).
type entry struct {
	sum  *lazySummary // nil until a browser reads it
	rec  *inspect.Record
	d    derived // what the summary needs, derived in the order of the records
	size int
}

// Lane is what the hub knows of a client's connection: its number, the client's address
// and the JID it bound, once bound.
type Lane struct {
	Conn   uint64 `json:"conn"`
	Client string `json:"client,omitempty"`
	JID    string `json:"jid,omitempty"`
}

// laneEntry is a lane's label and the version of its last change (Hub.lanev then), so a
// stream sends the labels that changed since it last looked.
type laneEntry struct {
	Lane
	ver uint64
}

// subscriber is one browser's stream: a cursor kept by its handler, and a bell the hub
// rings, without waiting, when a record arrives while the stream is armed (idle, waiting
// for one). A busy stream is not armed: it paces itself, so Write costs it nothing.
type subscriber struct {
	wake  chan struct{}
	armed bool // guarded by Hub.mu
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
	if opt.LiveRate <= 0 {
		opt.LiveRate = DefaultLiveRate
	}
	opt.LiveRate = max(opt.LiveRate, minLiveRate)
	return &Hub{
		opt:   opt,
		conns: map[uint64]*connState{},
		ring:  make([]entry, opt.History),
		first: 1,
		next:  1,
		lanes: map[uint64]laneEntry{},
		subs:  map[*subscriber]struct{}{},
	}
}

// Write keeps r for the web view and wakes the browsers watching. Whitespace keep-alives
// are not kept (the diagram does not draw them). The hub keeps r itself, not a copy: r
// belongs to the hub afterwards, and nobody may change it (an inspect.Chain hands every
// output the same record and never changes it past the numbering). The hub only reads it;
// a detail view or a filter that needs its tree parses it (inspect.Record.Element), the
// summaries never keep one in it. Write never waits for a browser (it takes two locks
// held only for short updates), so the hub may be an inline output of an inspect.Chain.
// Write returns an error only after Close.
func (h *Hub) Write(r *inspect.Record) error {
	if r.Kind == inspect.KindWhitespace {
		return nil
	}
	h.wmu.Lock()
	defer h.wmu.Unlock()
	e, lane := h.prepare(r, h.next)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return inspect.ErrClosed
	}
	h.insert(e, lane)
	h.wake()
	return nil
}

// WriteBatch keeps the records of rs as Write of each would, taking each lock once and
// waking the browsers once for them all (see inspect.BatchSink).
func (h *Hub) WriteBatch(rs []*inspect.Record) error {
	h.wmu.Lock()
	defer h.wmu.Unlock()
	batch := h.batch[:0]
	idx := h.next
	for _, r := range rs {
		if r.Kind == inspect.KindWhitespace {
			continue
		}
		e, lane := h.prepare(r, idx)
		batch = append(batch, pending{e, lane})
		idx++
	}
	if len(batch) == 0 {
		return nil
	}
	h.mu.Lock()
	closed := h.closed
	if !closed {
		for _, p := range batch {
			h.insert(p.e, p.lane)
		}
		h.wake()
	}
	h.mu.Unlock()
	clear(batch) // hold no record past its keeping
	h.batch = batch[:0]
	if closed {
		return inspect.ErrClosed
	}
	return nil
}

// pending is a record WriteBatch prepared, waiting for h.mu.
type pending struct {
	e    entry
	lane *Lane
}

// prepare derives what the hub keeps of r, which gets index idx, and the lane label it
// sets, if any. h.wmu is held.
func (h *Hub) prepare(r *inspect.Record, idx uint64) (entry, *Lane) {
	d := h.derive(r, idx)
	// The summary is made when a browser is first sent it, not here (see entry): its
	// JSON is made once for all the browsers, in their goroutines, off the traffic's
	// path, and only for the records a browser is sent (see serveEvents).
	return entry{rec: r, d: d.keep(), size: summarySize + len(r.Raw) + len(r.Original()) + 256}, d.lane
}

// summary returns the summary-to-be of the record of index i, held, making it on first
// use. h.mu is held.
func (h *Hub) summary(i uint64) *lazySummary {
	e := &h.ring[i%uint64(len(h.ring))]
	if e.sum == nil {
		e.sum = &lazySummary{rec: e.rec, idx: i, d: e.d, proxy: h.opt.Proxy}
	}
	return e.sum
}

// insert adds e, the record of index h.next, to the history, evicting the oldest records
// past its bounds, and remembers its lane label. h.wmu and h.mu are held, the hub is
// not closed.
func (h *Hub) insert(e entry, lane *Lane) {
	for h.next-h.first >= uint64(len(h.ring)) || (h.next > h.first && h.bytes+e.size > h.opt.HistoryBytes) {
		h.evict()
	}
	h.ring[h.next%uint64(len(h.ring))] = e
	h.bytes += e.size
	h.next++
	if lane != nil {
		h.setLane(*lane)
	}
}

// wake rings the browsers' streams that wait for a record. h.mu is held.
func (h *Hub) wake() {
	if h.armed > 0 { // only idle streams wait for a bell; busy ones pace themselves
		for s := range h.subs {
			if s.armed {
				s.armed = false
				h.armed--
				select {
				case s.wake <- struct{}{}:
				default: // already rung
				}
			}
		}
	}
}

// arm makes s wait for the next record: it returns false, without arming, when records
// after cursor are already held (or the hub is closed: s.wake is then closed).
func (h *Hub) arm(s *subscriber, cursor uint64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed || h.next > cursor {
		return false
	}
	if !s.armed {
		s.armed = true
		h.armed++
	}
	return true
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
		if l == old.Lane {
			return
		}
	}
	h.lanev++
	h.lanes[l.Conn] = laneEntry{Lane: l, ver: h.lanev}
	for len(h.lanes) > maxLanes {
		lowest := l.Conn
		for c := range h.lanes {
			lowest = min(lowest, c)
		}
		delete(h.lanes, lowest)
	}
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
		h.armed = 0
	}
	return nil
}

// Len returns how many records the hub holds.
func (h *Hub) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return int(h.next - h.first)
}

// Watching returns how many browsers' streams are open.
func (h *Hub) Watching() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs)
}

// Lanes returns the labels known for the connections, by connection number.
func (h *Hub) Lanes() map[uint64]Lane {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := make(map[uint64]Lane, len(h.lanes))
	for k, v := range h.lanes {
		m[k] = v.Lane
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
		if s.armed {
			h.armed--
		}
		close(s.wake)
	}
}

// gap is a run of records, by index, that a stream did not send: [From, To], of which the
// first Gone had already left the history (they can no longer be fetched). A zero gap
// (To < From) is none.
type gap struct {
	From, To, Gone uint64
}

func (g gap) none() bool { return g.To < g.From }

// read appends to dst the summaries of the records from index cursor on, oldest first,
// up to (not including) index upTo and at most max of them. It returns the index after the
// last one appended, and the records from cursor on that had already left the history.
func (h *Hub) read(cursor, upTo uint64, max int, dst [][]byte) (out [][]byte, next uint64, g gap) {
	var sums []*lazySummary
	h.mu.Lock()
	g = gap{From: 1, To: 0}
	upTo = min(upTo, h.next)
	if cursor < h.first && cursor < upTo {
		end := min(h.first, upTo)
		g = gap{From: cursor, To: end - 1, Gone: end - cursor}
		cursor = end
	}
	for ; cursor < upTo && len(dst)+len(sums) < max; cursor++ {
		sums = append(sums, h.summary(cursor))
	}
	h.mu.Unlock()
	for _, s := range sums { // made outside the lock: Write never waits for a browser
		dst = append(dst, s.json())
	}
	return dst, cursor, g
}

// take is read for a live frame: it appends the summaries of the newest records after
// cursor, at most max, and returns the records before them that it did not send (those
// that arrived faster than the stream's rate, or left the history while the browser did
// not read) as a gap. It also returns the lanes whose labels changed after version lanev,
// and the version now.
func (h *Hub) take(cursor uint64, max int, lanev uint64, dst [][]byte) (out [][]byte, next uint64, g gap, lanes []Lane, ver uint64) {
	var sums []*lazySummary
	h.mu.Lock()
	g = gap{From: 1, To: 0}
	start := cursor
	if h.next-start > uint64(max) {
		start = h.next - uint64(max)
	}
	start = max64(start, h.first)
	if start > cursor {
		g = gap{From: cursor, To: start - 1}
		if cursor < h.first {
			g.Gone = min(start, h.first) - cursor
		}
	}
	for cursor = start; cursor < h.next; cursor++ {
		sums = append(sums, h.summary(cursor))
	}
	if h.lanev > lanev {
		for _, l := range h.lanes {
			if l.ver > lanev {
				lanes = append(lanes, l.Lane)
			}
		}
	}
	ver = h.lanev
	h.mu.Unlock()
	for _, s := range sums {
		dst = append(dst, s.json())
	}
	return dst, cursor, g, lanes, ver
}

func max64(a, b uint64) uint64 { return max(a, b) }

// fetched is the answer of /records: the records of a range still held.
type fetched struct {
	First uint64 // the oldest index held
	Gone  uint64 // how many of the range, from its start, had left the history
	Sums  [][]byte
	More  uint64 // when not 0: the range goes on from this index (the answer was bounded)
}

// fetch returns the summaries of the records held in [from, to], at most max of them.
func (h *Hub) fetch(from, to uint64, max int) fetched {
	var f fetched
	h.mu.Lock()
	f.First = h.first
	to = min(to, h.next-1)
	if from < h.first && from <= to {
		end := min(h.first, to+1)
		f.Gone = end - from
		from = end
	}
	var sums []*lazySummary
	i := from
	for ; i <= to && len(sums) < max; i++ {
		sums = append(sums, h.summary(i))
	}
	if i <= to {
		f.More = i
	}
	h.mu.Unlock()
	for _, s := range sums {
		f.Sums = append(f.Sums, s.json())
	}
	return f
}

// summarySize is what a summary is counted as in the history's bytes before it is made:
// about what one holds (the JSON of a chat message's summary is 250 to 320 bytes).
const summarySize = 320

// lazySummary is a record's summary for browsers, made on first use from what Write knew
// of the record (its index and what was derived in the order of the records).
type lazySummary struct {
	once  sync.Once
	rec   *inspect.Record // read only: the summary keeps no tree in it
	idx   uint64
	d     derived
	proxy bool
	b     []byte
}

// json returns the summary as one JSON object, made once.
func (l *lazySummary) json() []byte {
	l.once.Do(func() {
		sm := summarize(l.rec, l.idx, l.d, l.proxy)
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
	// LiveRate is the most records a second this stream sends live (Options.LiveRate);
	// FrameMS how often, at most, it sends them.
	LiveRate int    `json:"live_rate"`
	FrameMS  int    `json:"frame_ms"`
	Lanes    []Lane `json:"lanes"`
	lanev    uint64 // the lanes' version: later changes come as "lanes" events
}

func (h *Hub) hello() hello {
	h.mu.Lock()
	defer h.mu.Unlock()
	hl := hello{Title: h.opt.Title, Server: h.opt.Server, Proxy: h.opt.Proxy, First: h.first, Next: h.next,
		History: len(h.ring), LiveRate: h.opt.LiveRate, FrameMS: int(frameEvery / time.Millisecond),
		Lanes: make([]Lane, 0, len(h.lanes)), lanev: h.lanev}
	if hl.Title == "" {
		hl.Title = "stanzascope"
	}
	if hl.Server == "" {
		hl.Server = "server"
	}
	for _, l := range h.lanes {
		hl.Lanes = append(hl.Lanes, l.Lane)
	}
	return hl
}

// record returns the record at index i, or nil when it is not held.
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
