package loadgen

import (
	"bytes"
	"errors"
	"sync/atomic"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// The clock of stamps: Unix nanoseconds derived from the monotonic clock, so latencies
// measured within this process do not jump with wall-clock adjustments.
var (
	clockBase     = time.Now()
	clockBaseUnix = clockBase.UnixNano()
)

func nowNanos() int64 { return clockBaseUnix + int64(time.Since(clockBase)) }

// maxBatch is the most messages a sender writes at once.
const maxBatch = 64

// readLoop handles everything the server sends once the client is logged in: bench
// messages (delivered or bounced), iq requests (answered) and the end of the stream. It
// returns when the connection ends; closing is set when the run closed it on purpose.
func (c *client) readLoop(closing *atomic.Bool) {
	for {
		ev, err := c.r.Next()
		if err != nil {
			if !closing.Load() {
				c.drop(c.readError(err))
			}
			return
		}
		switch ev.Kind {
		case inspect.KindStanza:
			switch ev.Name {
			case "message":
				c.onMessage(ev.Raw)
			case "iq":
				c.onIQ(ev.Raw)
			case "error":
				if !closing.Load() {
					c.drop(c.unexpected(ev))
				}
				return
			}
		case inspect.KindStreamClose:
			if !closing.Load() {
				c.drop(errors.New("the server closed the stream"))
			}
			return
		}
	}
}

// drop records the first reason the connection ended early.
func (c *client) drop(err error) { c.dropErr.CompareAndSwap(nil, &err) }

// onMessage accounts for a bench message: a bounce of one of ours, or one from the peer.
// A bounce is recognised by its stamp when the server echoes the payload, else by its id,
// which is the sequence number.
func (c *client) onMessage(raw []byte) {
	if c.out == nil {
		return // idle mode
	}
	if isErrorMessage(raw) {
		st, ok := ParseStamp(raw)
		if !ok {
			st.From = int64(c.idx)
			st.Seq, ok = parseDecimal(tagAttr(raw, "id"))
		}
		switch {
		case !ok:
			// An error about something else: not ours to account for.
		case st.From == int64(c.idx):
			c.out.Errored(st.Seq)
			c.wakeIfOpen()
		default:
			c.out.unexpected.Add(1)
		}
		return
	}
	st, ok := ParseStamp(raw)
	if !ok {
		c.onProbe(raw) // else not a bench message (a server notice)
		return
	}
	if st.From != int64(c.peer.idx) {
		c.in.unexpected.Add(1)
		return
	}
	now := nowNanos()
	if c.in.Received(st.Seq) {
		c.hist.Record(time.Duration(now - st.Sent))
		c.peer.wakeIfOpen()
	}
}

// wakeIfOpen wakes c's sender if it waits for its window and half of it is free again.
func (c *client) wakeIfOpen() {
	if !c.waiting.Load() {
		return
	}
	if c.out.Sent()-c.out.Acked() > int64(c.cfg.Window/2) {
		return
	}
	if c.waiting.CompareAndSwap(true, false) {
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

// onIQ answers requests: pings with a result, anything else with service-unavailable.
func (c *client) onIQ(raw []byte) {
	typ := string(tagAttr(raw, "type"))
	if typ != "get" && typ != "set" {
		return
	}
	b := make([]byte, 0, 256)
	if bytes.Contains(raw, []byte(inspect.NSPing)) {
		b = append(b, "<iq type='result'"...)
	} else {
		b = append(b, "<iq type='error'"...)
	}
	b = appendRawAttr(b, "id", tagAttr(raw, "id"))
	b = appendRawAttr(b, "to", tagAttr(raw, "from"))
	if bytes.Contains(raw, []byte(inspect.NSPing)) {
		b = append(b, "/>"...)
	} else {
		b = append(b, "><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"...)
	}
	_ = c.write(b)
}

// appendRawAttr appends an attribute whose value is still in its escaped source form,
// quoted so that it stays well-formed.
func appendRawAttr(b []byte, name string, v []byte) []byte {
	if v == nil {
		return b
	}
	q := byte('\'')
	if bytes.IndexByte(v, '\'') >= 0 {
		q = '"'
	}
	b = append(b, ' ')
	b = append(b, name...)
	b = append(b, '=', q)
	b = append(b, v...)
	return append(b, q)
}

// sender is the state a client's send loop shares with the run.
type sender struct {
	start    time.Time
	stop     *atomic.Bool
	stopCh   <-chan struct{}
	duration time.Duration
}

// room returns how many more messages the window allows.
func (c *client) room() int64 {
	return int64(c.cfg.Window) - (c.out.Sent() - c.out.Acked())
}

// sendBatch builds n messages to the peer and writes them at once.
func (c *client) sendBatch(buf []byte, to string, n int64) ([]byte, error) {
	first := c.out.Send(n)
	buf = buf[:0]
	now := nowNanos()
	for k := range n {
		buf = appendMessage(buf, to, Stamp{Sent: now, Seq: first + k, From: int64(c.idx)})
	}
	return buf, c.write(buf)
}

// sendMax sends as fast as the window allows until stopped.
func (c *client) sendMax(s sender) {
	to := inspect.EscapeAttr(c.peer.jid)
	buf := make([]byte, 0, maxBatch*256)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	var err error
	for !s.stop.Load() {
		room := c.room()
		if room <= 0 {
			c.waiting.Store(true)
			if c.room() <= 0 {
				t.Reset(100 * time.Millisecond)
				select {
				case <-c.wake:
				case <-t.C:
				case <-s.stopCh:
				}
			}
			c.waiting.Store(false)
			continue
		}
		if buf, err = c.sendBatch(buf, to, min(room, maxBatch)); err != nil {
			c.drop(err)
			return
		}
	}
}

// sendPaced sends on p's schedule until stopped. Messages due while the window is full
// are skipped and counted: the server is then more than a window behind.
func (c *client) sendPaced(s sender, p Pacer) {
	to := inspect.EscapeAttr(c.peer.jid)
	buf := make([]byte, 0, maxBatch*256)
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	var issued int64
	var err error
	for !s.stop.Load() {
		el := time.Since(s.start)
		if el >= s.duration {
			return
		}
		if due := p.Due(el); due > issued {
			n := due - issued
			issued = due
			send := min(n, max(c.room(), 0))
			c.skipped.Add(n - send)
			for send > 0 {
				b := min(send, maxBatch)
				if buf, err = c.sendBatch(buf, to, b); err != nil {
					c.drop(err)
					return
				}
				send -= b
			}
		}
		wait := time.Until(s.start.Add(p.At(issued)))
		if wait <= 0 {
			continue
		}
		t.Reset(wait)
		select {
		case <-t.C:
		case <-s.stopCh:
			return
		}
	}
}
