package inspect

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ErrClosed is returned by Async.Write after Close.
var ErrClosed = errors.New("inspect: sink closed")

// Async decouples producers from a slow sink: Write hands the record to a bounded queue
// and returns at once; one goroutine writes the queue to next. When the queue is full the
// record is dropped and counted, never waited for, so a slow terminal cannot stall the
// traffic the proxy forwards. Write is safe for concurrent use from many goroutines.
type Async struct {
	next    Sink
	ch      chan *Record
	done    chan struct{}
	mu      sync.RWMutex // held for reading by Write, for writing by Close
	closed  bool
	dropped atomic.Uint64
	errOnce sync.Once
	err     error // first error from next, returned by Close
}

// NewAsync starts the goroutine that feeds next from a queue of size records (at least 1).
// Call Close to stop it.
func NewAsync(next Sink, size int) *Async {
	if size < 1 {
		size = 1
	}
	a := &Async{next: next, ch: make(chan *Record, size), done: make(chan struct{})}
	go a.loop()
	return a
}

func (a *Async) loop() {
	defer close(a.done)
	for r := range a.ch {
		if err := a.next.Write(r); err != nil {
			a.errOnce.Do(func() { a.err = err })
		}
	}
}

// Write queues r without blocking. A full queue drops r and counts it (see Dropped). r
// must not be changed by the caller afterwards.
func (a *Async) Write(r *Record) error {
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.closed {
		return ErrClosed
	}
	select {
	case a.ch <- r:
	default:
		a.dropped.Add(1)
	}
	return nil
}

// Dropped returns how many records were dropped because the queue was full.
func (a *Async) Dropped() uint64 { return a.dropped.Load() }

// Close writes what is queued, stops the goroutine and, when records were dropped, writes
// one KindNote saying how many. It returns the first error next returned. Close is
// idempotent; it does not close next.
func (a *Async) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		<-a.done
		return a.err
	}
	a.closed = true
	close(a.ch)
	a.mu.Unlock()
	<-a.done
	if n := a.dropped.Load(); n > 0 {
		err := a.next.Write(&Record{
			Time: time.Now(),
			Kind: KindNote,
			Note: fmt.Sprintf("%d records could not be logged: the output was too slow (queue full)", n),
		})
		if err != nil {
			a.errOnce.Do(func() { a.err = err })
		}
	}
	return a.err
}
