package capture

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"iter"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// errStopped is what the byte source returns once its direction has been abandoned.
var errStopped = errors.New("capture: stream abandoned")

// dirStream runs inspect's Reader over one direction of one connection. Reassembly pushes
// bytes; the Reader pulls them. The two meet in a coroutine (iter.Pull): push appends the
// bytes and runs the reader until it asks for more than there is, so every event a
// segment completes is produced before the next packet is looked at, in capture order,
// on the caller's goroutine, without a goroutine hand-off per packet.
//
// The source also remembers the bytes the reader took but has not yet returned in events
// (hist). When the reader must be replaced (after a gap, an error, SASL success seen the
// other way) those bytes are scanned again instead of being lost in the old reader's buffer.
type dirStream struct {
	f   *flow
	dir inspect.Direction
	lim inspect.Limits

	q    []byte // pushed bytes not yet given to the reader
	qi   int
	hist []byte // hist[hs:]: bytes given to the current reader, not yet consumed by its events
	hs   int
	base int64 // reader offset of hist[0]
	ts   time.Time

	r      *inspect.Reader
	header *inspect.Header // last stream header seen, the context for a fragment reader

	next  func() (struct{}, bool)
	stop  func()
	yield func(struct{}) bool
	dead  bool // the coroutine has returned or was stopped

	// Requests from the owner, honoured the next time the reader asks for bytes.
	restart bool // SASL success was sent the other way (inspect.After): a new stream header follows
	gap     bool // bytes are missing: drop the partial stanza and resync
	final   bool // no more bytes will come

	out      []*inspect.Record // records produced by the last push
	skipped  int               // bytes skipped while looking for a stanza boundary
	junk     int               // of them, bytes other than whitespace not yet reported
	midway   bool              // the stream was picked up after its start
	success  bool              // this direction just carried SASL <success/>
	proceed  bool              // this direction just carried STARTTLS <proceed/>
	finished bool              // the stream closed cleanly (</stream:stream>)
}

func newDirStream(f *flow, dir inspect.Direction, lim inspect.Limits, midway bool) *dirStream {
	d := &dirStream{f: f, dir: dir, lim: lim, midway: midway}
	d.next, d.stop = iter.Pull(d.run)
	return d
}

// push feeds bytes captured at ts and runs the reader as far as they go.
func (d *dirStream) push(b []byte, ts time.Time) {
	if d.dead {
		return
	}
	if d.qi == len(d.q) {
		d.q, d.qi = d.q[:0], 0
	}
	d.q = append(d.q, b...)
	d.ts = ts
	d.resume()
}

// resume runs the coroutine until it needs bytes or ends.
func (d *dirStream) resume() {
	if d.dead {
		return
	}
	if _, ok := d.next(); !ok {
		d.dead = true
	}
}

// close ends the direction: the reader sees EOF and reports an incomplete stanza, if any.
func (d *dirStream) close(ts time.Time) {
	d.final = true
	d.ts = ts
	d.resume()
	d.stop()
	d.dead = true
}

// abandon stops the reader without reporting anything (the rest is TLS).
func (d *dirStream) abandon() {
	d.stop()
	d.dead = true
}

// Read is the reader's byte source.
func (d *dirStream) Read(p []byte) (int, error) {
	for {
		if d.restart || d.gap {
			return 0, io.EOF // makes the reader stop at once; the loop in run swaps readers
		}
		if d.qi < len(d.q) {
			n := copy(p, d.q[d.qi:])
			d.hist = append(d.hist, d.q[d.qi:d.qi+n]...)
			d.qi += n
			return n, nil
		}
		if d.final {
			return 0, io.EOF
		}
		if d.dead || !d.yield(struct{}{}) {
			d.dead = true
			return 0, errStopped
		}
	}
}

// consumed drops from hist what the reader's events have used up. It moves a start index
// and compacts rarely, so that a segment holding many stanzas costs linear time.
func (d *dirStream) consumed() {
	n := int(d.r.Offset() - d.base)
	if n <= 0 {
		return
	}
	n = min(n, len(d.hist)-d.hs)
	d.base += int64(n)
	d.hs += n
	switch {
	case d.hs == len(d.hist):
		d.hist, d.hs = d.hist[:0], 0
	case d.hs >= 32<<10 && 2*d.hs >= len(d.hist):
		k := copy(d.hist, d.hist[d.hs:])
		d.hist, d.hs = d.hist[:k], 0
	}
}

// held returns the bytes the current reader holds unconsumed.
func (d *dirStream) held() []byte { return d.hist[d.hs:] }

// dropHeld forgets the current reader and what it holds.
func (d *dirStream) dropHeld() { d.hist, d.hs, d.base, d.r = d.hist[:0], 0, 0, nil }

// unread puts back the bytes the current reader holds unconsumed, then skips the first
// drop of them, so that the next reader (or the boundary scan) sees the rest.
func (d *dirStream) unread(drop int) {
	if h := d.held(); len(h) > 0 {
		nq := make([]byte, 0, len(h)+len(d.q)-d.qi)
		nq = append(nq, h...)
		nq = append(nq, d.q[d.qi:]...)
		d.q, d.qi = nq, 0
	}
	d.dropHeld()
	d.skip(min(drop, len(d.q)-d.qi))
}

// run is the coroutine body: read events until the direction ends.
func (d *dirStream) run(yield func(struct{}) bool) {
	d.yield = yield
	defer func() {
		// A reader bug must not take the whole capture down: report it on the connection.
		if v := recover(); v != nil {
			d.emit((&inspect.Record{Kind: inspect.KindError}).WithErr(fmt.Errorf("capture: reader panic: %v", v)).WithNote("internal error while reading this direction"))
		}
		d.dead = true
	}()
	for !d.dead {
		if d.r == nil && !d.resync() {
			return
		}
		ev, err := d.r.Next()
		if err == nil {
			d.event(ev)
			continue
		}
		switch {
		case d.dead || errors.Is(err, errStopped):
			return
		case d.restart:
			d.restart = false
			d.unread(0)
			d.r = inspect.NewReader(d, d.lim)
			d.r.Restart() // whitespace and an XML declaration may come first, as after any restart
		case d.gap:
			d.gap = false
			d.skipped += len(d.held())
			d.dropHeld()
		case errors.Is(err, io.EOF) && d.final:
			return
		case d.final && errors.Is(err, io.ErrUnexpectedEOF):
			d.emit((&inspect.Record{Kind: inspect.KindGap}).WithNote(
				fmt.Sprintf("connection ends inside a stanza (%d bytes incomplete)", len(d.held()))))
			return
		case errors.Is(err, io.EOF):
			// The stream closed; anything after it is read from a fresh start.
			d.finished = true
			d.unread(0)
		default:
			if k, _ := boundary(d.held()); k == bClose {
				d.unread(0) // a stream close seen by a fragment reader: the scan reports it
				continue
			}
			d.emit((&inspect.Record{Kind: inspect.KindError}).WithErr(err))
			d.unread(1) // resync after the byte where the bad element started
		}
	}
}

// event turns a reader event into a record and tracks what changes the streams.
func (d *dirStream) event(ev inspect.Event) {
	rec := ev.Record()
	d.consumed()
	switch ev.Kind {
	case inspect.KindStreamOpen:
		if ev.Header != nil {
			d.header = ev.Header
		}
	case inspect.KindStanza:
		switch inspect.After(ev.Name, ev.NS) {
		case inspect.NextRestart:
			d.success = true
			d.r.Restart() // this side's next stream header follows right away
		case inspect.NextTLS:
			d.proceed = true
		}
	}
	if rec.Header == nil {
		rec.Header = d.header
	}
	d.emit(rec)
	if d.proceed {
		// Whatever follows <proceed/> is TLS (or, in a decrypted capture, a new stream);
		// the owner decides once it sees the next bytes.
		d.dead = true
	}
}

func (d *dirStream) emit(rec *inspect.Record) {
	rec.Time, rec.Conn, rec.Dir = d.ts, d.f.info, d.dir
	d.out = append(d.out, rec)
}

// resync looks for the next stanza boundary in the bytes that come and starts a reader
// there: a full reader at a stream header, a fragment reader in the context of the last
// header elsewhere. A stream close found on the way is reported directly. It returns false
// when the direction ended first.
func (d *dirStream) resync() bool {
	for {
		// Prepend the unread bytes already queued; scan them.
		buf := d.q[d.qi:]
		i := 0
		for i < len(buf) {
			j := bytes.IndexByte(buf[i:], '<')
			if j < 0 {
				i = len(buf)
				break
			}
			i += j
			switch kind, n := boundary(buf[i:]); kind {
			case bNeedMore:
				d.skip(i)
				goto more
			case bHeader:
				d.skip(i)
				d.noteJunk()
				d.r = inspect.NewReader(d, d.lim)
				return true
			case bStanza:
				d.skip(i)
				d.noteJunk()
				ctx := d.header
				if ctx == nil {
					ctx = d.f.defaultHeader()
				}
				d.r = inspect.NewFragmentReader(d, ctx, d.lim)
				return true
			case bClose:
				d.skip(i)
				d.noteJunk()
				raw := append([]byte(nil), buf[i:i+n]...)
				d.qi += n
				d.emit(&inspect.Record{Kind: inspect.KindStreamClose, Raw: raw, Name: "stream", NS: inspect.NSStreams, Header: d.header})
				d.finished = true
				buf, i = d.q[d.qi:], 0
				continue
			}
			i++
		}
		d.skip(i)
	more:
		if d.final || d.dead {
			d.skip(len(d.q) - d.qi)
			d.noteJunk()
			return false
		}
		if d.restart {
			d.restart = false // no reader to restart: the header will be found by the scan
		}
		d.gap = false
		// Keep the undecided tail (a '<' whose name has not fully arrived) and wait.
		if d.qi > 0 {
			d.q = append(d.q[:0], d.q[d.qi:]...)
			d.qi = 0
		}
		if !d.yield(struct{}{}) {
			d.dead = true
			return false
		}
	}
}

func (d *dirStream) skip(n int) {
	for _, c := range d.q[d.qi : d.qi+n] {
		if !isSpace(c) {
			d.junk++
		}
	}
	d.qi += n
	d.skipped += n
}

// noteJunk reports the bytes that were skipped to reach a stanza boundary, if any but
// whitespace.
func (d *dirStream) noteJunk() {
	if d.junk > 0 {
		d.emit((&inspect.Record{Kind: inspect.KindNote}).WithNote(
			fmt.Sprintf("%d bytes skipped to reach a stanza boundary", d.junk)))
		d.junk = 0
	}
}

type boundaryKind int

const (
	bNone boundaryKind = iota
	bNeedMore
	bHeader
	bStanza
	bClose
)

// topLevel are the names of elements that appear at the top level of XMPP streams (RFC
// 6120, XEP-0114, XEP-0198, XEP-0220, XEP-0078 via iq). A '<' followed by one of them is
// taken as a stanza boundary when resynchronising. An element of the same name nested in
// a stanza (a forwarded message) can fool it; the reader then fails at the parent's end
// tag and the scan goes on from there.
var topLevel = map[string]bool{
	"message": true, "presence": true, "iq": true, "features": true, "error": true,
	"starttls": true, "proceed": true, "failure": true, "auth": true, "challenge": true,
	"response": true, "success": true, "abort": true, "handshake": true, "result": true,
	"verify": true, "r": true, "a": true, "enable": true, "enabled": true, "resume": true,
	"resumed": true, "compress": true, "compressed": true,
}

// boundary classifies the bytes at a '<'. n is the length of a stream close tag.
func boundary(b []byte) (boundaryKind, int) {
	const look = 64 // longer names are not top-level stanzas
	if len(b) < 2 {
		return bNeedMore, 0
	}
	if b[1] == '?' {
		if len(b) < 5 {
			return bNeedMore, 0
		}
		if string(b[:5]) == "<?xml" {
			return bHeader, 0
		}
		return bNone, 0
	}
	closing := b[1] == '/'
	name, complete := inspect.TagName(b[:min(len(b), look)])
	end := 1 + len(name)
	if closing {
		end++
	}
	if !complete {
		if end >= len(b) && end < look {
			return bNeedMore, 0
		}
		return bNone, 0
	}
	if len(name) == 0 {
		return bNone, 0
	}
	local := inspect.LocalName(name)
	if closing {
		rest := b[end:]
		k := 0
		for k < len(rest) && k < look && isSpace(rest[k]) {
			k++
		}
		if k == look {
			return bNone, 0 // endless whitespace: not worth waiting for
		}
		if k == len(rest) {
			return bNeedMore, 0
		}
		if rest[k] == '>' && string(local) == "stream" {
			return bClose, end + k + 1
		}
		return bNone, 0
	}
	if string(local) == "stream" {
		return bHeader, 0
	}
	if topLevel[string(local)] {
		return bStanza, 0
	}
	return bNone, 0
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }
