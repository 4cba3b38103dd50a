package capture

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/stanzascope/stanzascope/inspect"
)

// DefaultIdleFlush is used when Options.IdleFlush is zero. XMPP clients send keep-alives
// every minute or so, so a connection silent for five minutes of capture time is gone.
const DefaultIdleFlush = 5 * time.Minute

// engine turns packets into records: flow table, reassembly, XMPP detection, readers.
// It is used from one goroutine.
type engine struct {
	opt       Options
	ports     map[uint16]bool
	sink      inspect.Sink
	flows     map[flowKey]*flow
	nextID    uint64
	sum       Summary
	err       error // the first error of the sink; processing stops
	now       time.Time
	lastSweep time.Time
	seg       segment
	onlyPorts bool // live capture: only connections on the XMPP ports are looked at
}

func newEngine(opt Options, sink inspect.Sink) *engine {
	if opt.IdleFlush <= 0 {
		opt.IdleFlush = DefaultIdleFlush
	}
	e := &engine{opt: opt, sink: sink, flows: make(map[flowKey]*flow), ports: map[uint16]bool{5222: true, 5269: true}}
	for _, p := range opt.Ports {
		if p > 0 && p < 65536 {
			e.ports[uint16(p)] = true
		}
	}
	return e
}

func (e *engine) emit(rec *inspect.Record) {
	if e.err != nil {
		return
	}
	e.sum.Records++
	if rec.Kind == inspect.KindGap {
		e.sum.Gaps++
	}
	e.err = e.sink.Write(rec)
}

// packet handles one captured frame.
func (e *engine) packet(data []byte, ts time.Time, link uint32) {
	e.sum.Packets++
	if ts.After(e.now) {
		e.now = ts
	}
	if e.now.Sub(e.lastSweep) >= e.sweepEvery() {
		e.sweep()
	}
	s := &e.seg
	if decodeTCP(link, data, s) {
		e.tcp(s, ts)
	}
}

// tick advances the clock without a packet (live capture), so idle connections are
// flushed even when nothing arrives.
func (e *engine) tick(now time.Time) {
	if now.After(e.now) {
		e.now = now
	}
	if e.now.Sub(e.lastSweep) >= e.sweepEvery() {
		e.sweep()
	}
}

// tombstoneTTL is how long a closed or ignored connection is remembered after its last
// packet, so that stray late packets (retransmissions after a RST, the rest of a
// connection that is not XMPP) are not taken for a new connection.
const tombstoneTTL = 30 * time.Second

func (e *engine) sweepEvery() time.Duration { return min(e.opt.IdleFlush/4, 5*time.Second) }

func (e *engine) tcp(s *segment, ts time.Time) {
	if e.onlyPorts && !e.ports[s.src.Port()] && !e.ports[s.dst.Port()] {
		return
	}
	k := keyOf(s.src, s.dst)
	f := e.flows[k]
	syn := s.flags&(flagSYN|flagACK) == flagSYN
	if f != nil && syn && (s.src == f.client || f.state == stClosed || f.state == stIgnored) {
		c := &f.h[0]
		if f.state == stClosed || f.state == stIgnored || (c.started && s.seq+1 != c.next) {
			// The ports are reused by a new connection.
			e.closeFlow(f, f.last, "closed (ports reused)")
			delete(e.flows, k)
			f = nil
		}
	}
	if f == nil {
		if len(s.payload) == 0 && s.flags&flagSYN == 0 {
			return // an ACK, FIN or RST of a connection we know nothing about
		}
		if len(e.flows) >= maxFlows && !e.makeRoom(s) {
			return
		}
		f = e.newFlow(s, ts)
		e.flows[k] = f
	}
	f.last = ts
	if f.state == stClosed || f.state == stIgnored {
		return
	}
	dir := 0
	if s.src != f.client {
		dir = 1
	}
	e.segment(f, dir, s, ts)
}

// maxFlows bounds the connections tracked at once, so that a capture of a SYN flood or a
// port scan cannot make us hold millions of them.
var maxFlows = 1 << 18

// makeRoom is called when the flow table is full: it forgets closed and ignored
// connections, and reports whether a new one can be tracked. Connections that are not
// on an XMPP port are dropped first.
func (e *engine) makeRoom(s *segment) bool {
	for k, f := range e.flows {
		if f.state == stClosed || f.state == stIgnored || f.state == stUndecided {
			delete(e.flows, k)
		}
	}
	if len(e.flows) < maxFlows {
		return true
	}
	e.sum.Untracked++
	if e.sum.Untracked == 1 {
		e.emit((&inspect.Record{Time: e.now, Kind: inspect.KindNote}).WithNote(
			fmt.Sprintf("more than %d connections open at once: new ones are not read", maxFlows)))
	}
	return false
}

func (e *engine) newFlow(s *segment, ts time.Time) *flow {
	f := &flow{first: ts, last: ts}
	switch {
	case s.flags&flagSYN != 0 && s.flags&flagACK == 0:
		f.client, f.server = s.src, s.dst
	case s.flags&flagSYN != 0:
		f.client, f.server = s.dst, s.src
	case e.ports[s.dst.Port()] && !e.ports[s.src.Port()]:
		f.client, f.server = s.src, s.dst
	case e.ports[s.src.Port()] && !e.ports[s.dst.Port()]:
		f.client, f.server = s.dst, s.src
	default:
		f.client, f.server = s.src, s.dst
	}
	f.synSeen = s.flags&flagSYN != 0
	e.sum.Flows++
	if e.ports[f.server.Port()] || e.ports[f.client.Port()] {
		e.markXMPP(f)
	}
	return f
}

func (e *engine) markXMPP(f *flow) {
	f.state = stXMPP
	e.nextID++
	e.sum.XMPPFlows++
	f.info = &inspect.ConnInfo{ID: e.nextID, Client: f.client, Server: f.server}
	note := fmt.Sprintf("%s -> %s", f.client, f.server)
	if !f.synSeen {
		note += " (picked up mid-stream)"
	}
	e.emit((&inspect.Record{Time: f.first, Conn: f.info, Kind: inspect.KindConnOpen}).WithNote(note))
}

// segment runs reassembly for one segment of direction dir.
func (e *engine) segment(f *flow, dir int, s *segment, ts time.Time) {
	h, o := &f.h[dir], &f.h[1-dir]
	if s.flags&flagRST != 0 {
		e.closeFlow(f, ts, "reset (RST)")
		return
	}
	seq := s.seq
	if s.flags&flagSYN != 0 {
		h.started, h.next = true, s.seq+1
		seq++
	}
	if s.flags&flagACK != 0 && (!o.ackValid || seqLess(o.acked, s.ack)) {
		o.acked, o.ackValid = s.ack, true
		// The peer acknowledged bytes we never saw: they were lost by the capture, not by
		// the network, and will not be retransmitted. Report the gap now.
		if o.started && len(o.pending) > 0 && !seqLess(o.acked, o.pending[0].seq) {
			e.gapTo(f, 1-dir, o.pending[0].seq, ts)
		}
	}
	if len(s.payload) > 0 {
		if !h.started {
			h.started, h.next, h.midway = true, seq, true
		}
		e.data(f, dir, seq, s.payload, ts)
	}
	if f.state == stClosed {
		return
	}
	if s.flags&flagFIN != 0 && !h.fin {
		h.fin, h.finSeq = true, seq+uint32(len(s.payload))
	}
	if f.h[0].fin && f.h[1].fin && !seqLess(f.h[0].next, f.h[0].finSeq) && !seqLess(f.h[1].next, f.h[1].finSeq) {
		e.closeFlow(f, ts, "closed (FIN)")
	}
}

// data places payload bytes starting at seq.
func (e *engine) data(f *flow, dir int, seq uint32, p []byte, ts time.Time) {
	h := &f.h[dir]
	if d := int32(seq - h.next); d < 0 {
		if int64(-d) >= int64(len(p)) {
			return // a retransmission of bytes already delivered
		}
		p = p[-d:]
	} else if d > 0 {
		h.addPending(seq, p)
		switch {
		case h.ackValid && !seqLess(h.acked, seq):
			e.gapTo(f, dir, h.pending[0].seq, ts)
		case h.pendSize > maxPending:
			e.gapTo(f, dir, h.pending[0].seq, ts)
		}
		return
	}
	h.next += uint32(len(p))
	e.deliver(f, dir, p, ts)
	e.drain(f, dir, ts)
}

// drain delivers the waiting segments that have become contiguous.
func (e *engine) drain(f *flow, dir int, ts time.Time) {
	h := &f.h[dir]
	for len(h.pending) > 0 && !seqLess(h.next, h.pending[0].seq) && f.state != stClosed {
		p := h.pending[0]
		h.pending = h.pending[1:]
		h.pendSize -= len(p.data)
		if d := int(h.next - p.seq); d < len(p.data) {
			b := p.data[d:]
			h.next += uint32(len(b))
			e.deliver(f, dir, b, ts)
		}
	}
	if len(h.pending) == 0 {
		h.pending = nil
	}
}

// gapTo declares the bytes before seq lost and goes on from seq.
func (e *engine) gapTo(f *flow, dir int, seq uint32, ts time.Time) {
	h := &f.h[dir]
	n := seq - h.next
	h.next = seq
	if n > 0 {
		e.gap(f, dir, n, ts)
	}
	e.drain(f, dir, ts)
}

// gap reports missing bytes at their place and makes the reader resynchronise.
func (e *engine) gap(f *flow, dir int, n uint32, ts time.Time) {
	switch f.state {
	case stUndecided:
		f.state = stIgnored // cannot tell what it is without its first bytes
		return
	case stXMPP:
	default:
		return
	}
	if d := f.s[dir]; d != nil && !d.dead {
		d.gap, d.ts = true, ts
		d.resume()
		e.flushOut(f, dir)
	} else {
		f.h[dir].midway = true
	}
	e.emit((&inspect.Record{Time: ts, Conn: f.info, Dir: dirOf(dir), Kind: inspect.KindGap}).WithNote(
		fmt.Sprintf("%d bytes missing from the capture", n)))
}

// deliver hands in-order bytes to what reads this connection.
func (e *engine) deliver(f *flow, dir int, p []byte, ts time.Time) {
	e.sum.Bytes += int64(len(p))
	if f.state == stUndecided {
		if dir != 0 || !looksXMPP(p) {
			f.state = stIgnored // the client of an XMPP stream speaks first, with a header
			f.h = [2]half{}
			return
		}
		e.markXMPP(f)
	}
	if f.state == stXMPP && f.s[dir] == nil {
		switch {
		case p[0] == 0x16 && f.afterProceed && dir == 0, p[0] == 0x16 && !f.afterProceed && !f.h[dir].midway:
			e.toTLS(f, ts) // a ClientHello after <proceed/>, or Direct TLS
		case f.h[dir].midway && looksTLSRecord(p):
			e.toTLS(f, ts) // picked up inside a TLS connection: its hello is not in the capture
			e.noteTLS(f, ts, "", false)
		}
	}
	switch f.state {
	case stTLS:
		e.tlsData(f, dir, p, ts)
		return
	case stXMPP:
	default:
		return
	}
	f.afterProceed = false
	d := f.s[dir]
	if d == nil {
		d = newDirStream(f, dirOf(dir), e.opt.Limits, f.h[dir].midway)
		f.s[dir] = d
	}
	d.push(p, ts)
	e.flushOut(f, dir)
}

// flushOut emits what the reader of direction dir produced and acts on the stream
// changes it saw.
func (e *engine) flushOut(f *flow, dir int) {
	d := f.s[dir]
	if d == nil {
		return
	}
	for i, r := range d.out {
		e.emit(r)
		d.out[i] = nil
	}
	d.out = d.out[:0]
	if d.success {
		d.success = false
		if o := f.s[1-dir]; o != nil {
			o.restart = true
		}
	}
	if d.proceed {
		f.afterProceed = true
		for i, s := range f.s {
			if s != nil {
				s.abandon()
				f.s[i] = nil
			}
		}
	}
}

// toTLS switches a connection to listing only.
func (e *engine) toTLS(f *flow, ts time.Time) {
	f.state = stTLS
	e.sum.TLSFlows++
	for i, s := range f.s {
		if s != nil {
			s.abandon()
			f.s[i] = nil
		}
	}
}

// tlsData collects the client's first TLS bytes until the server name is known.
func (e *engine) tlsData(f *flow, dir int, p []byte, ts time.Time) {
	if f.tlsNoted || dir != 0 {
		return
	}
	f.hello = append(f.hello, p[:min(len(p), maxHello-len(f.hello))]...)
	sni, done, err := clientHelloSNI(f.hello)
	if done || len(f.hello) >= maxHello {
		e.noteTLS(f, ts, sni, err == nil && done)
	}
}

func (e *engine) noteTLS(f *flow, ts time.Time, sni string, parsed bool) {
	f.tlsNoted, f.hello = true, nil
	note := "TLS-encrypted"
	switch {
	case sni != "":
		note += ", SNI=" + printable(sni)
	case parsed:
		note += ", no SNI"
	case f.h[0].midway:
		note += " (picked up mid-stream: no ClientHello seen)"
	default:
		note += ", no ClientHello seen"
	}
	e.emit((&inspect.Record{Time: ts, Conn: f.info, Kind: inspect.KindNote}).WithNote(note))
}

// closeFlow ends a connection: waiting bytes are flushed (after a gap), the readers see
// EOF, and a close record says why.
func (e *engine) closeFlow(f *flow, ts time.Time, reason string) {
	if f.state == stClosed {
		return
	}
	if f.state == stXMPP || f.state == stTLS {
		for dir := range 2 {
			if h := &f.h[dir]; len(h.pending) > 0 {
				e.gapTo(f, dir, h.pending[0].seq, ts)
			}
		}
		for dir, d := range f.s {
			if d != nil {
				d.close(ts)
				e.flushOut(f, dir)
				f.s[dir] = nil
			}
		}
		if f.state == stTLS && !f.tlsNoted {
			e.noteTLS(f, ts, "", false)
		}
		e.emit((&inspect.Record{Time: ts, Conn: f.info, Kind: inspect.KindConnClose}).WithNote(reason))
	}
	f.state = stClosed
	f.h = [2]half{}
	f.s = [2]*dirStream{}
	f.hello = nil
}

// sweep flushes connections idle for longer than IdleFlush (capture time) and forgets
// closed ones, so that memory follows the number of live connections, not the file size.
func (e *engine) sweep() {
	e.lastSweep = e.now
	limit := e.now.Add(-e.opt.IdleFlush)
	dead := e.now.Add(-min(e.opt.IdleFlush, tombstoneTTL))
	var idle []*flow
	for k, f := range e.flows {
		open := f.state == stXMPP || f.state == stTLS || f.state == stUndecided
		switch {
		case open && f.last.Before(limit):
			if f.state != stUndecided {
				idle = append(idle, f)
			}
		case !open && f.last.Before(dead):
		default:
			continue
		}
		delete(e.flows, k)
	}
	e.closeInOrder(idle, fmt.Sprintf("idle for %s; flushed", e.opt.IdleFlush))
}

// finish closes every connection still open at the end of the capture.
func (e *engine) finish(reason string) {
	var open []*flow
	for k, f := range e.flows {
		if f.state == stXMPP || f.state == stTLS {
			open = append(open, f)
		}
		delete(e.flows, k)
	}
	e.closeInOrder(open, reason)
}

func (e *engine) closeInOrder(fs []*flow, reason string) {
	slices.SortFunc(fs, func(a, b *flow) int { return int(a.info.ID) - int(b.info.ID) })
	for _, f := range fs {
		e.closeFlow(f, f.last, reason)
	}
}

// looksTLSRecord reports whether p starts with a plausible TLS record header: content
// type 20-24, version 3.x, a length within the record limit.
func looksTLSRecord(p []byte) bool {
	return len(p) >= 5 && p[0] >= 20 && p[0] <= 24 && p[1] == 3 && p[2] <= 4 &&
		int(p[3])<<8|int(p[4]) <= 18432
}

// looksXMPP reports whether a client's first bytes open an XMPP stream.
func looksXMPP(p []byte) bool {
	p = bytes.TrimLeft(p, " \t\r\n\ufeff")
	for _, m := range []string{"<?xml", "<stream:stream"} {
		if bytes.HasPrefix(p, []byte(m)) || (len(p) < len(m) && strings.HasPrefix(m, string(p)) && len(p) > 0) {
			return true
		}
	}
	return false
}

// printable makes a peer-controlled name safe to print on a terminal.
func printable(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return '?'
	}, s)
}
