package proxy

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// The record is the truth: a record of bytes forwarded toward a peer says they reached
// it. A write only hands bytes to the kernel, though; when the proxy then closes the
// connection while the peer has not acknowledged them (it stopped reading, or the close
// resets the connection because input was left unread), the peer may never get them.
// So every close of a TCP leg by the proxy first asks the kernel how many bytes written
// to it the peer had not acknowledged, and when some were not, records a note saying so
// (inspect.MilestoneUnacked): the leg, the count, and how many of the last records
// forwarded toward the peer the count reaches into.

// unackedWait bounds how long a close waits for the peer to acknowledge what it was
// sent, so that bytes written just before a close to a peer that reads (a closing tag at
// shutdown) are not reported as maybe lost: a peer's TCP may delay its acknowledgement by
// up to 200 ms (Linux's TCP_DELACK_MAX). A peer that does not read costs this much.
const unackedWait = 250 * time.Millisecond

// sentRing is how many of the last records written toward a peer a side remembers the
// sizes of, to say which records unacknowledged bytes belong to.
const sentRing = 64

// sentSizes remembers the sizes of the last records written toward a peer, under the
// side's lock (settle).
type sentSizes struct {
	n    uint64 // records written in all
	size [sentRing]uint32
	// end, once the proxy wrote bytes of no record toward the peer (a TLS close_notify
	// at a half-close), is where the recorded bytes end in the stream, counted as the
	// kernel counts acknowledged bytes, plus one; 0 until then (markEnd).
	end atomic.Uint64
}

func (t *sentSizes) add(n int) {
	t.size[t.n%sentRing] = uint32(n)
	t.n++
}

// unwrite takes back the last n bytes added: bytes of the last records that a failed
// write did not write (side.unwritten).
func (t *sentSizes) unwrite(n int) {
	for ; n > 0 && t.n > 0; t.n-- {
		last := &t.size[(t.n-1)%sentRing]
		if int(*last) > n {
			*last -= uint32(n)
			return
		}
		n -= int(*last)
	}
}

// cover returns how many of the last records written hold the last n bytes written, or
// 0 when the records remembered do not add up to n.
func (t *sentSizes) cover(n int64) int {
	var sum int64
	for k := 1; k <= sentRing && uint64(k) <= t.n; k++ {
		sum += int64(t.size[(t.n-uint64(k))%sentRing])
		if sum >= n {
			return k
		}
	}
	return 0
}

// markEnd notes where the recorded bytes toward this peer end, before the proxy writes
// bytes no record carries (a close_notify), so that a close counts only what the
// records claim. Without mu; the caller wrote everything recorded before.
func (s *side) markEnd() {
	if n, acked, ok := tcpCounts(s.raw); ok && s.sent.end.Load() == 0 {
		s.sent.end.Store(acked + uint64(n) + 1)
	}
}

// unackedRecorded returns how many recorded bytes toward this peer it has not
// acknowledged.
func (s *side) unackedRecorded() (int, bool) {
	n, acked, ok := tcpCounts(s.raw)
	if end := s.sent.end.Load(); ok && end != 0 {
		n = min(n, int(max(int64(end-1)-int64(acked), 0)))
	}
	return n, ok
}

// closeCounted closes the connection toward this peer, first recording the bytes
// written to it that the peer had not acknowledged (after at most unackedWait). It must
// not be called with s.mu held; a write stuck on the peer holds it, and ends with the
// close. A second call (the kill of a shutdown and the session's own end) waits for the
// first: it must not close the connection while the first one counts.
func (s *side) closeCounted() {
	s.closer.Do(s.countAndClose)
}

func (s *side) countAndClose() {
	if s.emit == nil {
		s.raw.Close()
		return
	}
	// The reads from this peer end now, as with a close; the connection stays open while
	// its count settles.
	s.raw.SetReadDeadline(time.Now())
	n, ok := s.unackedRecorded()
	for deadline := time.Now().Add(unackedWait); ok && n > 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond) // polls the kernel's count, bounded by unackedWait
		if m, mok := s.unackedRecorded(); mok {
			n = m
		} else {
			break
		}
	}
	s.raw.Close()
	if !ok || n <= 0 {
		return
	}
	s.mu.Lock()
	recs := 0
	if s.tls == nil && s.ws == nil {
		recs = s.sent.cover(int64(n))
	}
	tls, ws, known := s.tls != nil, s.ws != nil, min(s.sent.n, sentRing)
	s.mu.Unlock()
	m := inspect.Milestone{Kind: inspect.MilestoneUnacked, Leg: s.name, UnackedBytes: int64(n), UnackedRecords: recs}
	dir := s.toward()
	var what string
	switch {
	case tls:
		what = fmt.Sprintf("the last %d bytes of TLS records", n)
	case ws:
		what = fmt.Sprintf("the last %d bytes of WebSocket frames", n)
	case recs > 0:
		what = fmt.Sprintf("%d bytes (the last %d records toward it)", n, recs)
	default:
		// Older records, or bytes of a write that failed part-way (recorded as dropped).
		what = fmt.Sprintf("%d bytes (more than the last %d records toward it)", n, known)
	}
	r := (&inspect.Record{Time: time.Now(), Dir: dir, Kind: inspect.KindNote, Origin: inspect.OriginProxy}).WithNote(
		fmt.Sprintf("connection to the %s closed with %s it had not acknowledged: it may not have received them", s.name, what))
	r.SetMilestone(&m)
	s.emit(r)
}
