package server

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// Each session has one writer (Prosody's and ejabberd's per-connection output queues are
// the model). Whatever is due to the client — the session's own answers, stanzas routed to
// it by other sessions, the end of its stream — goes into its outbox, and the writer, a
// goroutine that runs while the outbox holds something and is gone when it is empty,
// writes it to the socket in order. A sender never waits for a recipient: Deliver only
// enqueues.
//
// The outbox is bounded in bytes (Config.MaxOutbox). A Deliver that finds no room ends the
// recipient's session with <policy-violation/> and returns false, so the sender treats the
// stanza as it would for a session that is gone (stores or bounces it); what the outbox
// held and did not write is kept for the account too (rescue.go). The session's own reader
// is the one sender that waits for room: blocking it only slows down the client that does
// not read its answers. It waits as soon as the outbox is half full (ownShare), so that
// the other half stays for what others deliver: a client that floods and reads its
// answers (bounces of its own messages, say) keeps its outbox at the reader's mark, and a
// delivery from elsewhere (a rescued stanza's bounce, a contact's message) must not find
// it full and end a session whose client does read.

// DefaultMaxOutbox is the default bound of a session's outbox: a few hundred typical
// stanzas (chat messages and presences of 300 to 1,000 bytes), and a stanza of the largest
// size on its own.
const DefaultMaxOutbox = 256 << 10

// maxCoalesce bounds the bytes a plaintext writer gathers from consecutive stanzas into
// one write: fewer system calls when the writer falls behind, as under a burst.
const maxCoalesce = 32 << 10

// ownShare is the share of Config.MaxOutbox that the session's own reader fills before it
// waits for room (1/ownShare): the rest is headroom for deliveries from other sessions.
const ownShare = 2

// outItem is one thing queued for the client.
type outItem struct {
	b     []byte
	hdr   *inspect.Header // with KindStreamOpen: our header, the observer's context for what follows
	name  string          // element name for the observer; "" for a routed stanza (read from b)
	ns    string
	kind  inspect.Kind
	flags itemFlags
}

type itemFlags uint8

const (
	// routed: delivered to the session by someone else; if it is not written, it is kept
	// for the account or bounced (rescue.go).
	routed itemFlags = 1 << iota
	// stored: an offline message still in the store, leased to this session; if it is not
	// written, its lease is released, so it is not rescued.
	stored
	// inBuf: b is a view on the data of the itemBuf it was queued in (deliverStamped),
	// reused once the item is written; what keeps it longer copies it (loseLocked).
	inBuf
)

// itemBuf is a queue of items, and the bytes of those stamped into it (deliverStamped);
// pooled, so that an idle session holds none. data is only appended to until the itemBuf
// is emptied (reset); when it is full, the next stanza starts a new array (twice as large,
// up to maxItemData) and the items queued before stay on theirs: a backlog costs an
// allocation per maxItemData bytes, not copies of all it holds at each doubling.
type itemBuf struct {
	items []outItem
	data  []byte
}

// The arrays of an itemBuf's data: the first one's size, and the largest one made for
// small stanzas and kept when the itemBuf goes back to the pool (a burst to one session
// does not leave a large array in the pool for every later one).
const (
	minItemData = 4 << 10
	maxItemData = 64 << 10
)

var itemBufs = sync.Pool{New: func() any { return &itemBuf{items: make([]outItem, 0, 16)} }}

// reset empties q; its items must be written or moved to the rescue list (loseLocked).
func (q *itemBuf) reset() {
	clear(q.items)
	q.items = q.items[:0]
	q.data = q.data[:0]
	if cap(q.data) > maxItemData {
		q.data = nil
	}
}

// putItemBuf empties q and puts it back in the pool.
func putItemBuf(q *itemBuf) {
	q.reset()
	itemBufs.Put(q)
}

// writeBufs are the plaintext writers' coalescing buffers.
var writeBufs = sync.Pool{New: func() any { b := make([]byte, 0, maxCoalesce); return &b }}

// final says how a stream ends once its outbox closes.
type final struct {
	cond  inspect.Cond // a stream error; "" for our closing tag alone
	text  string
	drop  bool // what is queued is not written (the client does not read): it is rescued
	abort bool // nothing more is written: the socket is closed at once
}

// outbox is a session's queue and the state of its writer, under mu.
type outbox struct {
	mu      sync.Mutex
	cond    sync.Cond // L is &mu; broadcast when items were written and when the writer stops
	q       *itemBuf  // queued items; nil when there are none and no writer holds the buffer
	bytes   int       // bytes queued or in the writer's hands
	enq     uint64    // items accepted since the connection opened
	wrote   uint64    // items written whole since the connection opened
	running bool      // a writer goroutine runs
	paused  bool      // the TLS handshake owns the socket: nothing is written
	closing bool      // nothing more is accepted; fin says how the stream ends
	fin     final
	finDone bool            // the writer took fin
	w       net.Conn        // where the writer writes: &guard, or TLS over it
	hdrSent bool            // our header was queued on the current stream
	lost    [][]byte        // routed stanzas that were not written (rescue.go)
	wout    *inspect.Header // writer-owned: our header as last written (observer only)
	loop    func()          // c.writeLoop, made once: "go c.writeLoop()" would allocate its closure at each start

	drop   atomic.Bool  // the writer stops writing what it holds (overflow, abort)
	ended  atomic.Bool  // the writer is done with the stream: the reader must end the session
	cutoff atomic.Int64 // once set (Unix ns), no write deadline goes past it
}

// errDropped is what the writer returns when it was told to stop writing what it holds.
var errDropped = errors.New("server: the outbox was dropped")

// enqueue adds it to the outbox and returns its sequence number (for waitWritten), or 0 if
// it was not accepted: the outbox is closing, or it had no room and the caller may not
// wait (then the session ends: overflow). With wait (the session's own reader) it waits for
// room below its share of the outbox (ownShare) instead. An item is always accepted into
// an empty outbox, whatever its size.
func (c *conn) enqueue(it outItem, wait bool) uint64 { return c.enqueueItem(it, nil, wait) }

// deliverStamped is Deliver for a message stamped on its way (stamped): it is written
// straight into the outbox's buffer, so routing it to this session allocates nothing.
func (c *conn) deliverStamped(s *stamped) bool {
	return c.enqueueItem(outItem{kind: inspect.KindStanza, flags: routed | inBuf}, s, false) != 0
}

// enqueueItem is enqueue; with s, the item's bytes are s, appended to the queue's data.
func (c *conn) enqueueItem(it outItem, s *stamped, wait bool) uint64 {
	size := len(it.b)
	if s != nil {
		size = s.size
	}
	limit := c.srv.cfg.MaxOutbox
	if wait {
		limit /= ownShare
	}
	o := &c.ob
	o.mu.Lock()
	for !o.closing && o.bytes > 0 && o.bytes+size > limit {
		if !wait {
			waiting := o.bytes
			c.overflowLocked()
			o.mu.Unlock()
			c.srv.logf("switch: conn %d: the client stopped reading: %d bytes wait for it and %d more came, beyond the outbox limit of %d; ending its stream",
				c.info.ID, waiting, size, c.srv.cfg.MaxOutbox)
			return 0
		}
		o.cond.Wait()
	}
	if o.closing {
		o.mu.Unlock()
		return 0
	}
	if o.q == nil {
		o.q = itemBufs.Get().(*itemBuf)
	}
	if s != nil {
		q := o.q
		if len(q.data)+size > cap(q.data) {
			// A new array, not a larger copy: the items queued keep theirs.
			q.data = make([]byte, 0, max(min(2*cap(q.data), maxItemData), size, minItemData))
		}
		start := len(q.data)
		q.data = s.appendTo(q.data)
		it.b = q.data[start:len(q.data):len(q.data)]
	}
	o.q.items = append(o.q.items, it)
	if it.kind == inspect.KindStreamOpen {
		o.hdrSent = true // a stream error that ends this stream comes after it
	}
	o.bytes += len(it.b)
	o.enq++
	seq := o.enq
	c.startWriterLocked()
	o.mu.Unlock()
	return seq
}

// startWriterLocked starts the writer unless one runs or the handshake owns the socket.
func (c *conn) startWriterLocked() {
	if !c.ob.running && !c.ob.paused {
		c.ob.running = true
		go c.ob.loop()
	}
}

// overflowLocked ends a session whose outbox has no room for a delivery: what it holds is
// not written (it is rescued), the stream ends with <policy-violation/> and the write in
// progress, likely stuck on a client that does not read, gets a short deadline.
func (c *conn) overflowLocked() {
	c.srv.cfg.Stats.OutboxCloses.Add(1)
	c.finishLocked(final{
		cond: inspect.CondPolicyViolation,
		text: fmt.Sprintf("the client does not read: more than %d bytes waited for it (outbox limit)", c.srv.cfg.MaxOutbox),
		drop: true,
	})
	d := time.Now().Add(c.grace())
	c.ob.cutoff.Store(d.UnixNano())
	c.raw.SetWriteDeadline(d)
}

// finish closes the outbox: nothing more is accepted, and the stream ends as f says once
// the writer wrote what it holds (unless f drops it). The first end decided is the one
// that counts; an abort still closes the socket of a stream that was ending.
func (c *conn) finish(f final) {
	c.ob.mu.Lock()
	defer c.ob.mu.Unlock()
	c.finishLocked(f)
}

func (c *conn) finishLocked(f final) {
	o := &c.ob
	if o.closing {
		if f.abort && !o.fin.abort {
			o.fin.abort = true
			o.drop.Store(true)
			c.dropQueueLocked()
			c.raw.Close()
			c.idle.unpark(c)
		}
		return
	}
	o.closing = true
	o.fin = f
	if f.drop || f.abort {
		o.drop.Store(true)
		c.dropQueueLocked()
	}
	o.cond.Broadcast()
	if f.abort || o.paused {
		// During the TLS handshake the socket is TLS's: nothing can be written.
		c.raw.Close()
		c.idle.unpark(c) // its reader, if parked, sees the closed socket
		return
	}
	c.startWriterLocked()
}

// abort closes the socket now; what is queued is rescued.
func (c *conn) abort() { c.finish(final{abort: true}) }

// abortEnded is abort for the reader's end of a session whose writer ended the stream
// itself (it stopped reading, its outbox overflowed, it was kicked): what is queued is
// rescued, but the socket stays open for closeConn, after the rescue, so that a client
// that sees its connection close and logs in again finds what it did not take kept. The
// writer is past its last write or in one with a deadline, so waitWriter is bounded.
// Otherwise (a TCP drop, the writer still writing) it is abort.
func (c *conn) abortEnded() {
	o := &c.ob
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.closing || !o.finDone || o.fin.abort {
		c.finishLocked(final{abort: true})
		return
	}
	o.fin.abort = true
	o.drop.Store(true)
	c.dropQueueLocked()
}

// dropQueueLocked moves what is queued to the rescue list.
func (c *conn) dropQueueLocked() {
	o := &c.ob
	if o.q == nil {
		return
	}
	for _, it := range o.q.items {
		o.bytes -= len(it.b)
		c.loseLocked(it)
	}
	if !o.running {
		// A running writer swaps o.q with its own buffer: it puts both back.
		putItemBuf(o.q)
		o.q = nil
	} else {
		o.q.reset()
	}
}

// loseLocked notes an item that was not written: a routed stanza is rescued (a copy of it
// if it is in a queue's data, which is reused).
func (c *conn) loseLocked(it outItem) {
	if it.flags&routed != 0 && it.flags&stored == 0 {
		b := it.b
		if it.flags&inBuf != 0 {
			b = append([]byte(nil), b...)
		}
		c.ob.lost = append(c.ob.lost, b)
	}
}

// takeLost returns the routed stanzas that were not written, once the writer stopped.
func (c *conn) takeLost() [][]byte {
	c.ob.mu.Lock()
	defer c.ob.mu.Unlock()
	l := c.ob.lost
	c.ob.lost = nil
	return l
}

// waitWriter waits until no writer runs. After finish, the stream has then ended and the
// socket is closed (each write has a deadline, so this is bounded).
func (c *conn) waitWriter() {
	o := &c.ob
	o.mu.Lock()
	for o.running {
		o.cond.Wait()
	}
	o.mu.Unlock()
}

// waitWritten waits until the item of sequence number seq was written, or will never be
// (the writer stopped without it), and reports whether it was.
func (c *conn) waitWritten(seq uint64) bool {
	o := &c.ob
	o.mu.Lock()
	defer o.mu.Unlock()
	for o.wrote < seq && o.running {
		o.cond.Wait()
	}
	return o.wrote >= seq
}

// pauseWriter waits until everything queued was written and keeps the writer from the
// socket until resumeWriter: for the TLS handshake, which writes to the socket itself.
func (c *conn) pauseWriter() error {
	o := &c.ob
	o.mu.Lock()
	defer o.mu.Unlock()
	for o.running {
		o.cond.Wait()
	}
	if o.closing {
		return errClosed
	}
	o.paused = true
	return nil
}

// resumeWriter ends the pause: after a handshake that succeeded (tc not nil) the writer
// writes to tc, on a stream that has no header yet. It returns errClosed if the session
// was ended meanwhile (its socket is closed then).
func (c *conn) resumeWriter(tc net.Conn) error {
	o := &c.ob
	o.mu.Lock()
	defer o.mu.Unlock()
	o.paused = false
	if o.closing {
		c.raw.Close()
		return errClosed
	}
	if tc != nil {
		o.w = tc
		o.hdrSent = false
	}
	if o.q != nil && len(o.q.items) > 0 {
		c.startWriterLocked()
	}
	return nil
}

// grace is how long a client that stopped reading in the middle of a stanza gets to take
// the rest of it (and a stream error) before its socket is closed.
func (c *conn) grace() time.Duration { return min(c.srv.cfg.WriteTimeout, maxStallGrace) }

// writeLoop is the session's writer: it writes what is queued, in order, then ends the
// stream if the outbox is closing, and stops when there is nothing more to do.
func (c *conn) writeLoop() {
	o := &c.ob
	var mine *itemBuf // the batch being written; swapped with o.q each round
	var scratch *[]byte
	defer func() {
		if mine != nil {
			putItemBuf(mine)
		}
		if scratch != nil {
			writeBufs.Put(scratch)
		}
	}()
	for {
		o.mu.Lock()
		if o.q == nil || len(o.q.items) == 0 {
			if o.q != nil {
				putItemBuf(o.q)
				o.q = nil
			}
			if o.closing && !o.finDone {
				o.finDone = true
				fin, w, hdrSent := o.fin, o.w, o.hdrSent
				o.mu.Unlock()
				c.writeFinal(w, fin, hdrSent, &scratch)
				o.mu.Lock()
			}
			o.running = false
			o.cond.Broadcast()
			o.mu.Unlock()
			return
		}
		batch := o.q
		o.q = mine
		mine = batch
		w := o.w
		o.mu.Unlock()

		n, err, whole := c.writeItems(w, batch.items, &scratch)

		o.mu.Lock()
		for _, it := range batch.items[:n] {
			o.bytes -= len(it.b)
		}
		o.wrote += uint64(n)
		for _, it := range batch.items[n:] {
			o.bytes -= len(it.b)
			c.loseLocked(it)
		}
		batch.reset()
		failed := err != nil && !errors.Is(err, errDropped)
		var text string
		if failed {
			// The client stopped reading (or the connection failed): nothing more is
			// written but, after a stall, a stream error.
			c.dropQueueLocked()
			if !o.closing {
				o.closing = true
				o.fin = final{cond: inspect.CondPolicyViolation, text: c.stallText(), drop: true}
			}
			o.finDone = true
			text = o.fin.text
			if o.fin.cond != inspect.CondPolicyViolation {
				text = c.stallText()
			}
		}
		o.cond.Broadcast()
		o.mu.Unlock()
		if failed {
			if errors.Is(err, errStalled) {
				if text == c.stallText() {
					c.srv.cfg.Stats.OutboxCloses.Add(1) // not counted yet as an overflow
				}
				c.srv.logf("switch: conn %d: the client stopped reading (a write took longer than %v); ending its stream", c.info.ID, c.srv.cfg.WriteTimeout)
				if whole {
					c.endStalled(w, text)
				}
			}
			c.wakeReader()
			o.mu.Lock()
			o.running = false
			o.cond.Broadcast()
			o.mu.Unlock()
			return
		}
	}
}

// wakeReader tells the reader that the stream is over: a read deadline in the past ends
// the read it is in, or the next one (readTimed looks at ended after setting its own
// deadline). The reader then keeps or bounces what was not written, and only then closes
// the socket: a client that sees its connection close and logs in again finds those
// messages stored.
func (c *conn) wakeReader() {
	c.ob.ended.Store(true)
	c.raw.SetReadDeadline(time.Unix(1, 0))
	c.idle.unpark(c) // a parked session has no reader: one is started (park.go)
}

func (c *conn) stallText() string {
	return "the client did not read what was sent to it for " + c.srv.cfg.WriteTimeout.String()
}

// writeFinal ends the stream as fin says, then has the reader end the session.
func (c *conn) writeFinal(w net.Conn, fin final, hdrSent bool, scratch **[]byte) {
	defer c.wakeReader()
	if fin.abort || w == nil {
		return
	}
	var items []outItem
	if fin.cond != "" {
		if !hdrSent {
			items = append(items, c.headerItem(false, newStreamID()))
			hdrSent = true
		}
		items = append(items, outItem{b: streamErrorBytes(fin.cond, fin.text), kind: inspect.KindStanza, name: "error", ns: inspect.NSStreams})
	}
	if hdrSent {
		items = append(items, outItem{b: []byte(closeTag), kind: inspect.KindStreamClose, name: "stream", ns: inspect.NSStreams})
	}
	if len(items) == 0 {
		return
	}
	// A stall here needs nothing more: the stream error is what stalled.
	c.ob.drop.Store(false)
	if n, _, _ := c.writeItems(w, items, scratch); n == len(items) && fin.cond != "" {
		c.errWritten.Store(true)
	}
}

// endStalled ends the stream of a client that stopped reading, after the stanzas it took
// whole: a stream error with text, then the closing tag. They queue behind what the stall
// guard holds; they are written if the client reads within the grace period.
func (c *conn) endStalled(w net.Conn, text string) {
	tail := [][]byte{streamErrorBytes(inspect.CondPolicyViolation, text), []byte(closeTag)}
	if c.ws != nil {
		// A WebSocket holds no partial frame (the stalled one went whole, in its grace,
		// or the WebSocket ended): the error and <close/> are a frame each (RFC 7395
		// section 3.6), each given the grace; the close handshake follows at Close.
		kinds := []inspect.Kind{inspect.KindStanza, inspect.KindStreamClose}
		names := []string{"error", "stream"}
		for i, t := range tail {
			c.raw.SetWriteDeadline(time.Now().Add(c.grace()))
			if _, err := c.guard.Conn.Write(t); err != nil {
				return
			}
			c.observeOut(t, kinds[i], names[i], inspect.NSStreams)
		}
		return
	}
	for _, t := range tail {
		w.Write(t) // queued behind the stalled bytes: the connection stays stalled
	}
	if c.guard.flush(time.Now().Add(c.grace())) {
		c.observeOut(tail[0], inspect.KindStanza, "error", inspect.NSStreams)
		c.observeOut(tail[1], inspect.KindStreamClose, "stream", inspect.NSStreams)
	}
}

// writeItems writes items to w in order: on a plaintext stream consecutive items are
// gathered into one write, under TLS each is one write (so that a record cut short by a
// stall is exactly one stanza). It returns how many were written whole and, after a
// failure, the error and whether the stream is still whole (the client took the rest of
// what it stalled on within the grace period).
func (c *conn) writeItems(w net.Conn, items []outItem, scratch **[]byte) (n int, err error, whole bool) {
	plain := w == net.Conn(&c.guard) && c.ws == nil // a WebSocket takes one item per write: one frame
	for i := 0; i < len(items); {
		if c.ob.drop.Load() {
			return i, errDropped, true
		}
		j := i + 1
		p := items[i].b
		if plain && j < len(items) && len(p) < maxCoalesce {
			if *scratch == nil {
				*scratch = writeBufs.Get().(*[]byte)
			}
			buf := append((**scratch)[:0], p...)
			for j < len(items) && len(buf)+len(items[j].b) <= maxCoalesce {
				buf = append(buf, items[j].b...)
				j++
			}
			**scratch = buf[:0]
			p = buf
		}
		c.setWriteDeadline()
		sent := c.guard.sentBytes()
		_, err := w.Write(p)
		if err == nil && !c.guard.isStalled() {
			c.observeItems(items[i:j])
			i = j
			continue
		}
		if err == nil {
			// Stalled in the middle of p: the guard keeps the rest; the client gets a
			// grace period to take it.
			if c.guard.flush(time.Now().Add(c.grace())) {
				c.observeItems(items[i:j])
				return j, errStalled, true
			}
			err = errStalled
		}
		k := i
		if plain {
			k += wholeItems(items[i:j], c.guard.sentBytes()-sent)
		}
		c.observeItems(items[i:k])
		return k, err, false
	}
	return len(items), nil, true
}

// wholeItems returns how many of items fit whole in the first n bytes written.
func wholeItems(items []outItem, n int64) int {
	for k, it := range items {
		n -= int64(len(it.b))
		if n < 0 {
			return k
		}
	}
	return len(items)
}

// setWriteDeadline gives the next write WriteTimeout, or less once the session is being
// dropped (the cutoff is read again after the deadline was set, so that a cutoff set at
// the same time is not overwritten).
func (c *conn) setWriteDeadline() {
	d := time.Now().Add(c.srv.cfg.WriteTimeout)
	c.raw.SetWriteDeadline(d)
	if co := c.ob.cutoff.Load(); co != 0 && co < d.UnixNano() {
		c.raw.SetWriteDeadline(time.Unix(0, co))
	}
}

// observeItems reports written items to the observer.
func (c *conn) observeItems(items []outItem) {
	if c.srv.cfg.Observe == nil {
		return
	}
	for _, it := range items {
		name, ns := it.name, it.ns
		if it.flags&routed != 0 {
			name, ns = inspect.TopName(it.b), inspect.NSClient
		}
		if it.kind == inspect.KindStreamOpen {
			c.ob.wout = it.hdr
		}
		c.observeOut(it.b, it.kind, name, ns)
	}
}
