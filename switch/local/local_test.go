package local

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/nettest"
)

// waitTimeout bounds every wait of these tests: far longer than anything should take,
// even on a loaded machine.
const waitTimeout = 20 * time.Second

// TestNettest runs x/net's conformance tests for a net.Conn (basic io, ping-pong, racy
// reads and writes, close while blocked, deadlines past, future and reset, concurrent
// method calls) on a connection made by a Listener.
func TestNettest(t *testing.T) {
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		l := Listen("switch", 0)
		type res struct {
			c   net.Conn
			err error
		}
		ch := make(chan res, 1)
		go func() {
			c, err := l.Accept()
			ch <- res{c, err}
		}()
		c1, err = l.Dial(context.Background())
		if err != nil {
			return nil, nil, nil, err
		}
		r := <-ch
		if r.err != nil {
			return nil, nil, nil, r.err
		}
		return c1, r.c, func() { c1.Close(); r.c.Close(); l.Close() }, nil
	})
}

// TestNettestSmallBuffer is TestNettest with buffers smaller than the tests' writes, so
// that writers wait for readers (backpressure) throughout.
func TestNettestSmallBuffer(t *testing.T) {
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		a, b := Pipe("a", "b", 100)
		return a, b, func() { a.Close(); b.Close() }, nil
	})
}

func TestAddrs(t *testing.T) {
	l := Listen("switch", 0)
	defer l.Close()
	if got := l.Addr().String(); got != "switch" || l.Addr().Network() != "local" {
		t.Fatalf("listener address %s/%s", l.Addr().Network(), got)
	}
	seen := map[string]bool{}
	for range 3 {
		acc := make(chan net.Conn, 1)
		go func() {
			c, err := l.Accept()
			if err != nil {
				t.Error(err)
			}
			acc <- c
		}()
		c, err := l.Dial(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		s := <-acc
		if s == nil {
			t.FailNow()
		}
		// What the reporter matches: the dialer's local address is the accepted end's remote.
		if c.LocalAddr().String() != s.RemoteAddr().String() || c.RemoteAddr().String() != "switch" || s.LocalAddr().String() != "switch" {
			t.Fatalf("addresses: dialed %v -> %v, accepted %v <- %v", c.LocalAddr(), c.RemoteAddr(), s.LocalAddr(), s.RemoteAddr())
		}
		if seen[c.LocalAddr().String()] {
			t.Fatalf("address %v given twice", c.LocalAddr())
		}
		seen[c.LocalAddr().String()] = true
		c.Close()
		s.Close()
	}
}

func TestListenerClose(t *testing.T) {
	l := Listen("switch", 0)
	errc := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		errc <- err
	}()
	l.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Accept after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Accept did not return after Close")
	}
	if _, err := l.Dial(context.Background()); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Dial after Close: %v, want ECONNREFUSED", err)
	}
	// Nobody accepts: Dial ends with its context.
	l2 := Listen("switch", 0)
	defer l2.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := l2.Dial(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial without Accept: %v, want the context's error", err)
	}
}

// TestReadTakesAll: one read returns everything buffered, as several writes left it.
func TestReadTakesAll(t *testing.T) {
	a, b := Pipe("a", "b", 0)
	defer a.Close()
	defer b.Close()
	for _, s := range []string{"<message>", "<body>hi</body>", "</message>"} {
		if _, err := a.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 100)
	n, err := b.Read(buf)
	if err != nil || string(buf[:n]) != "<message><body>hi</body></message>" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
}

// TestPastDeadline: a deadline in the past fails a read even with bytes waiting (as on
// TCP), a reset deadline lets it read them, and a timeout is a net.Error with Timeout.
func TestPastDeadline(t *testing.T) {
	a, b := Pipe("a", "b", 0)
	defer a.Close()
	defer b.Close()
	a.Write([]byte("x"))
	b.SetReadDeadline(time.Now().Add(-time.Second))
	_, err := b.Read(make([]byte, 1))
	var ne net.Error
	if !errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past the deadline: %v", err)
	}
	b.SetReadDeadline(time.Time{})
	buf := make([]byte, 1)
	if n, err := b.Read(buf); n != 1 || err != nil || buf[0] != 'x' {
		t.Fatalf("read after the reset: %d %v", n, err)
	}
}

// TestDeadlineWakesBlocked: a read and a write that wait are woken by a deadline set in
// the past while they wait (how the proxy ends a quiet wait), and by one that passes.
func TestDeadlineWakesBlocked(t *testing.T) {
	a, b := Pipe("a", "b", 16)
	defer a.Close()
	defer b.Close()
	rerr := make(chan error, 1)
	go func() {
		_, err := b.Read(make([]byte, 10))
		rerr <- err
	}()
	werr := make(chan error, 1)
	go func() {
		_, err := b.Write(make([]byte, 100)) // a reads nothing: blocks after 16 bytes
		werr <- err
	}()
	b.SetReadDeadline(time.Now())
	b.SetWriteDeadline(time.Now().Add(20 * time.Millisecond))
	for _, ch := range []chan error{rerr, werr} {
		select {
		case err := <-ch:
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("woken with %v, want a timeout", err)
			}
		case <-time.After(waitTimeout):
			t.Fatal("a blocked call was not woken by its deadline")
		}
	}
	// A write that timed out wrote what fitted, and nothing after.
	b.SetWriteDeadline(time.Time{})
	a.SetReadDeadline(time.Now().Add(waitTimeout))
	buf := make([]byte, 100)
	n, err := a.Read(buf)
	if n != 16 || err != nil {
		t.Fatalf("read %d, %v, want the 16 bytes that fitted", n, err)
	}
}

// TestCloseWhileBlocked: Close wakes this end's waiting read and write (net.ErrClosed),
// and the peer's waiting write (EPIPE) and read (EOF).
func TestCloseWhileBlocked(t *testing.T) {
	a, b := Pipe("a", "b", 8)
	errs := make(chan error, 4)
	go func() { _, err := a.Read(make([]byte, 1)); errs <- err }()
	go func() { _, err := a.Write(make([]byte, 64)); errs <- err }()
	// Both wait (the read for bytes, the write for room); Close ends them either way.
	a.Close()
	for range 2 {
		select {
		case err := <-errs:
			if !errors.Is(err, net.ErrClosed) {
				t.Fatalf("own call woken by Close with %v, want net.ErrClosed", err)
			}
		case <-time.After(waitTimeout):
			t.Fatal("Close did not wake this end's call")
		}
	}
	// The peer reads what a wrote before closing, then EOF; its writes fail.
	got, err := io.ReadAll(b)
	if err != nil || len(got) > 8 {
		t.Fatalf("peer read %d bytes, %v", len(got), err)
	}
	if _, err := b.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("write to a closed peer: %v, want EPIPE", err)
	}
	b.Close()

	c, d := Pipe("c", "d", 8)
	defer c.Close()
	go func() { _, err := c.Write(make([]byte, 64)); errs <- err }()
	go func() { _, err := d.Read(make([]byte, 0, 1)[:1]); errs <- err }()
	<-errs // d read one byte
	d.Close()
	select {
	case err := <-errs:
		if !errors.Is(err, syscall.EPIPE) {
			t.Fatalf("write woken by the peer's Close with %v, want EPIPE", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("the peer's Close did not wake a waiting write")
	}
	if err := d.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
}

// TestCloseWrite: after CloseWrite the peer reads everything and then EOF, while the other
// direction still carries bytes; this end's writes fail.
func TestCloseWrite(t *testing.T) {
	a, b := Pipe("a", "b", 0)
	defer a.Close()
	defer b.Close()
	a.Write([]byte("</stream:stream>"))
	if err := a.(*Conn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write([]byte("x")); err == nil {
		t.Fatal("write after CloseWrite succeeded")
	}
	got, err := io.ReadAll(b)
	if err != nil || string(got) != "</stream:stream>" {
		t.Fatalf("peer read %q, %v", got, err)
	}
	if _, err := b.Write([]byte("</stream:stream>")); err != nil {
		t.Fatalf("the other direction after CloseWrite: %v", err)
	}
	buf := make([]byte, 64)
	if n, err := a.Read(buf); err != nil || string(buf[:n]) != "</stream:stream>" {
		t.Fatalf("read after CloseWrite: %q %v", buf[:n], err)
	}
}

// TestBackpressure: a writer waits while the reader's buffer is full, and goes on as the
// reader reads; the buffer never holds more than its bound.
func TestBackpressure(t *testing.T) {
	const bound = 1024
	a, b := Pipe("a", "b", bound)
	defer a.Close()
	defer b.Close()
	done := make(chan error, 1)
	go func() {
		_, err := a.Write(make([]byte, 4*bound))
		done <- err
	}()
	// The writer fills the buffer and waits: poll until it is full, then check it waits.
	h := a.(*Conn).out
	deadline := time.Now().Add(waitTimeout)
	for buffered(h) < bound {
		if time.Now().After(deadline) {
			t.Fatalf("buffer holds %d bytes, want %d", buffered(h), bound)
		}
		time.Sleep(time.Millisecond) // polling with a deadline, not synchronising
	}
	select {
	case err := <-done:
		t.Fatalf("write of 4x the buffer returned (%v) with nothing read", err)
	default:
	}
	total := 0
	buf := make([]byte, 300)
	for total < 4*bound {
		if n := buffered(h); n > bound {
			t.Fatalf("buffer holds %d bytes, more than %d", n, bound)
		}
		n, err := b.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// With the buffer full, an empty write returns at once, as on TCP.
	a.Write(make([]byte, bound))
	if n, err := a.Write(nil); n != 0 || err != nil {
		t.Fatalf("empty write to a full buffer: %d, %v", n, err)
	}
}

func buffered(h *half) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.buf) - h.r
}

// TestIntactInOrder is the property: whatever the sizes of the writes and of the reads,
// and with writers and readers on both ends at once, every byte arrives once and in order.
func TestIntactInOrder(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 12))
		size := 1 + rng.IntN(4096)
		a, b := Pipe("a", "b", size)
		total := rng.IntN(1 << 20)
		var wg sync.WaitGroup
		for _, dir := range [][2]net.Conn{{a, b}, {b, a}} {
			src := make([]byte, total)
			for i := range src {
				src[i] = byte(rng.Uint32())
			}
			wseed, rseed := rng.Uint64(), rng.Uint64()
			wg.Add(2)
			go func(w net.Conn) {
				defer wg.Done()
				r := rand.New(rand.NewPCG(wseed, 0))
				for off := 0; off < len(src); {
					k := min(len(src)-off, r.IntN(3*size)+1)
					if n, err := w.Write(src[off : off+k]); n != k || err != nil {
						t.Errorf("write %d: %d, %v", k, n, err)
						return
					}
					off += k
				}
				w.(*Conn).CloseWrite()
			}(dir[0])
			go func(rd net.Conn) {
				defer wg.Done()
				r := rand.New(rand.NewPCG(rseed, 0))
				var got bytes.Buffer
				buf := make([]byte, 8192)
				for {
					n, err := rd.Read(buf[:r.IntN(len(buf))+1])
					got.Write(buf[:n])
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Errorf("read: %v", err)
						return
					}
				}
				if !bytes.Equal(got.Bytes(), src) {
					t.Errorf("seed %d: %d bytes arrived, %d written, or not in order", seed, got.Len(), len(src))
				}
			}(dir[1])
		}
		wg.Wait()
		a.Close()
		b.Close()
	}
}

// TestIdleHoldsNothing: a connection that carried a small write and a burst holds no
// buffer once both are read (idle connections are many).
func TestIdleHoldsNothing(t *testing.T) {
	a, b := Pipe("a", "b", 0)
	defer a.Close()
	defer b.Close()
	h := a.(*Conn).out
	for _, size := range []int{300, 200 << 10} {
		go a.Write(make([]byte, size))
		if _, err := io.ReadFull(b, make([]byte, size)); err != nil {
			t.Fatal(err)
		}
		h.mu.Lock()
		c := cap(h.buf)
		h.mu.Unlock()
		if c != 0 {
			t.Fatalf("after %d bytes were read, the direction keeps a buffer of %d", size, c)
		}
	}
}

// TestDeadlineReuse moves one deadline through every kind of change (future, later,
// earlier, none, past, fired) and checks each time that a read ends exactly when it must:
// the timer behind it is reused and must never close a channel it no longer stands for.
func TestDeadlineReuse(t *testing.T) {
	a, b := Pipe("a", "b", 0)
	defer a.Close()
	defer b.Close()
	buf := make([]byte, 8)
	timesOut := func(what string) {
		t.Helper()
		if _, err := b.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("%s: read returned %v, want a timeout", what, err)
		}
	}
	reads := func(what string) {
		t.Helper()
		a.Write([]byte("x"))
		if n, err := b.Read(buf); n != 1 || err != nil {
			t.Fatalf("%s: read %d, %v", what, n, err)
		}
	}
	for i := range 50 {
		b.SetReadDeadline(time.Now().Add(time.Hour))
		b.SetReadDeadline(time.Now().Add(2 * time.Millisecond)) // earlier: the same timer
		timesOut("earlier deadline")
		b.SetReadDeadline(time.Time{})
		reads("no deadline after one fired")
		b.SetReadDeadline(time.Now().Add(time.Hour))
		b.SetReadDeadline(time.Time{}) // stopped, kept
		reads("no deadline after a stopped one")
		b.SetReadDeadline(time.Now().Add(-time.Second))
		timesOut("past deadline")
		b.SetReadDeadline(time.Now().Add(time.Hour)) // the past one's channel is closed: a new one
		reads("future deadline after a past one")
		if i%2 == 0 {
			b.SetReadDeadline(time.Now().Add(time.Millisecond))
			timesOut("short deadline")
		}
		b.SetReadDeadline(time.Now().Add(time.Hour))
		reads("long deadline")
	}
}

// Buffered says what a read returns at once: what the peer wrote and was not read yet.
func TestBuffered(t *testing.T) {
	a, b := Pipe("a", "b", 0)
	defer a.Close()
	defer b.Close()
	if n := b.(*Conn).Buffered(); n != 0 {
		t.Fatalf("Buffered of a new connection = %d, want 0", n)
	}
	a.Write([]byte("hello"))
	if n := b.(*Conn).Buffered(); n != 5 {
		t.Fatalf("Buffered after a write of 5 = %d, want 5", n)
	}
	buf := make([]byte, 2)
	b.Read(buf)
	if n := b.(*Conn).Buffered(); n != 3 {
		t.Fatalf("Buffered after reading 2 = %d, want 3", n)
	}
	if n := a.(*Conn).Buffered(); n != 0 {
		t.Fatalf("Buffered of the writing end = %d, want 0", n)
	}
}
