package proxy

import (
	"crypto/tls"
	"net"
	"sync/atomic"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// A plaintext leg quiet for idleRelease waits for its next byte without its reader's 4 KiB
// buffer (inspect.Reader.ReleaseBuffer), as the switch's sessions do (issue 13 item 6):
// an idle proxied connection holds two readers. When a pipe's reader has nothing
// buffered, the pipe waits for input outside the reader's Next (waitQuiet), through the
// same source (flush first, idle deadline), giving up at the quiet time: it reads into the
// reader's buffer (inspect.Reader.FillFrom), so a busy leg, whose next bytes are there
// already, pays one read for them. When the quiet time passes first, it drops the buffer
// and waits for one byte. That byte, or the error of a read, goes to the reader through
// its source (flushReader), as if the reader had read it. A busy leg keeps its buffer
// rather than allocate one per burst. A TLS leg never does this: the TLS connection may
// hold decrypted bytes that a one-byte read would not show, and crypto/tls holds buffers
// of its own anyway.

// idleRelease is how long a plaintext leg waits for its next byte before its reader drops
// its buffer.
const idleRelease = time.Second

// pipeWait is a pipe's state for waitQuiet, by direction; owned by the pipe's goroutine
// (or setup's, before the pipes start).
type pipeWait struct {
	conn    net.Conn    // what the reader's source reads (set by source)
	src     flushReader // that source, as the reader has it (set by source)
	quietBy time.Time   // when set, the source's read gives up at this time
	short   bool        // the source's last read had quietBy as its deadline
	buf     [1]byte
	has     bool  // buf[0] was read for the reader
	err     error // the error of waitQuiet's read, for the reader
}

// quietLegs counts the legs waiting without a read buffer, for tests.
var quietLegs atomic.Int64

// pending hands the reader what waitQuiet read, if anything: ok is false when nothing.
func (w *pipeWait) pending(p []byte) (n int, err error, ok bool) {
	if w.has && len(p) > 0 {
		w.has = false
		p[0] = w.buf[0]
		return 1, nil, true
	}
	if w.err != nil {
		err, w.err = w.err, nil
		return 0, err, true
	}
	return 0, nil, false
}

// waitQuiet waits for the next byte of direction dir outside its reader r when r has
// nothing buffered on a plaintext leg, and drops r's buffer if that takes idleRelease.
func (s *session) waitQuiet(dir inspect.Direction, r *inspect.Reader) {
	w := &s.wait[dir]
	// After the closing tag the reader ends without reading the source: no wait.
	if s.ahead[dir] != nil || r.Buffered() != 0 || w.has || w.err != nil || s.draining.Load() || w.conn == nil || s.closedBy[dir].Load() {
		return
	}
	if _, ok := w.conn.(*tls.Conn); ok {
		return
	}
	if dir == inspect.ClientToServer && s.ws != nil {
		return // frames, not a byte stream
	}
	src := w.src
	w.quietBy = time.Now().Add(idleRelease)
	// A busy leg's next bytes are there already: the wait reads them into the reader's own
	// buffer, one read, not a byte here and the rest by the reader.
	n, err, filled := r.FillFrom(src.Read)
	if !filled {
		n, err = src.Read(w.buf[:])
	}
	w.quietBy = time.Time{}
	if w.short {
		// On a leg without an idle timeout the source sets no deadline of its own, so the
		// quiet one must not outlive this read: else the reader's next read (the rest of
		// a stanza a person types slowly, or whatever a quiet server sends next) would
		// time out as if the peer were idle.
		s.clearQuiet(w)
	}
	if n == 0 && w.short && isTimeout(err) {
		// Quiet: not the idle timeout, which came later.
		released := r.ReleaseBuffer()
		if released {
			quietLegs.Add(1)
		}
		n, err = src.Read(w.buf[:])
		filled = false
		if released {
			quietLegs.Add(-1)
		}
	}
	w.short = false
	w.has = !filled && n == 1 // bytes read into the reader's buffer are its already
	w.err = err
}

// clearQuiet takes the quiet deadline off w's connection when its leg has no idle timeout
// (the upstream leg never has one; a client leg with one gets a fresh deadline from its
// source before each read). The end of the connection (draining, kill) sets its own
// deadline, which must win.
func (s *session) clearQuiet(w *pipeWait) {
	if w.src.idle > 0 {
		return
	}
	w.conn.SetReadDeadline(time.Time{})
	if s.draining.Load() {
		w.conn.SetReadDeadline(time.Now().Add(closeGrace))
	}
	select {
	case <-s.dead:
		w.conn.SetReadDeadline(time.Now())
	default:
	}
}
