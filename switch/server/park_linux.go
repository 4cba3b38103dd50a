//go:build linux

package server

import (
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// idlePoller waits for the next byte of every parked session at once (park.go): an epoll
// set of their sockets, itself waited on through Go's network poller (an epoll instance
// is readable while it has events), so that waiting takes no goroutine and no thread per
// session. A second goroutine sweeps the idle deadlines of the parked sessions: one ticker
// for all of them instead of a read deadline each.
type idlePoller struct {
	srv  *Server
	ep   *os.File // the epoll instance; epfd is its descriptor, valid until closed is set
	epfd int
	tick time.Duration // how often the deadlines are swept

	mu     sync.Mutex
	parked map[uint64]parkedConn // by connection id, which is also the epoll token
	closed bool

	stop chan struct{}
	wg   sync.WaitGroup
}

// parkedConn is what the poller holds for a parked session.
type parkedConn struct {
	c     *conn
	rc    syscall.RawConn // the socket's descriptor, for EPOLL_CTL_DEL
	until int64           // Unix ns: the idle deadline (Config.IdleTimeout after parking)
}

// maxSweepTick bounds how late an idle deadline is noticed: the ping of a session silent
// for Config.IdleTimeout comes at most this much later.
const maxSweepTick = time.Second

func newIdlePoller(s *Server) (*idlePoller, error) {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return nil, fmt.Errorf("epoll: non-blocking: %w", err)
	}
	// Non-blocking, so os.NewFile registers it with Go's network poller.
	f := os.NewFile(uintptr(fd), "switch-idle-sessions")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("epoll: %w", err)
	}
	p := &idlePoller{
		srv:    s,
		ep:     f,
		epfd:   fd,
		tick:   min(maxSweepTick, max(s.cfg.IdleTimeout/16, 10*time.Millisecond)),
		parked: make(map[uint64]parkedConn),
		stop:   make(chan struct{}),
	}
	p.wg.Add(2)
	go p.wait(rc)
	go p.sweep()
	return p, nil
}

// park hands c's socket to the poller: true if c is parked (its reader goroutine must
// return now and touch c no more: wake starts another), false if it cannot be (not a TCP
// socket, the socket is closed, the poller is closed, or the stream already ended) and
// the reader must wait for its next byte itself.
func (p *idlePoller) park(c *conn) bool {
	if p == nil {
		return false
	}
	tc, ok := c.raw.(*net.TCPConn)
	if !ok {
		return false // a wrapped connection may hold bytes of its own
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return false
	}
	id := c.info.ID
	// One-shot: after one event the socket is disarmed until it is parked again.
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: int32(id), Pad: int32(id >> 32)}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	var cerr error
	if err := rc.Control(func(fd uintptr) { cerr = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev) }); err != nil || cerr != nil {
		return false
	}
	if c.ob.ended.Load() {
		// The writer ended the stream before the socket was parked (wakeReader found
		// nothing to wake): the reader goes on and sees it.
		p.del(rc)
		return false
	}
	p.parked[id] = parkedConn{c: c, rc: rc, until: time.Now().Add(c.srv.cfg.IdleTimeout).UnixNano()}
	return true
}

// del removes a socket from the epoll set; a socket closed meanwhile left it already.
// Under mu.
func (p *idlePoller) del(rc syscall.RawConn) {
	if p.closed {
		return
	}
	rc.Control(func(fd uintptr) { syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil) })
}

// wake resumes the parked session id in a new goroutine, if it is parked: after an epoll
// event or for the writer (due is 0), or because its idle deadline passed (due is the
// sweep's time; a session parked again since with a later deadline stays parked).
func (p *idlePoller) wake(id uint64, due int64) {
	p.mu.Lock()
	pc, ok := p.parked[id]
	if ok && due != 0 && pc.until > due {
		ok = false
	}
	if ok {
		delete(p.parked, id)
		p.del(pc.rc)
	}
	p.mu.Unlock()
	if ok {
		go pc.c.resume(due != 0)
	}
}

// unpark resumes c if it is parked (the writer ended its stream, or it is being closed).
func (p *idlePoller) unpark(c *conn) {
	if p != nil {
		p.wake(c.info.ID, 0)
	}
}

// wait reads the epoll set's events as they come and wakes their sessions, until the
// poller is closed.
func (p *idlePoller) wait(rc syscall.RawConn) {
	defer p.wg.Done()
	var events [128]syscall.EpollEvent
	err := rc.Read(func(fd uintptr) bool {
		for {
			n, err := syscall.EpollWait(int(fd), events[:], 0)
			if err == syscall.EINTR {
				continue
			}
			if err != nil {
				p.srv.logf("switch: idle sessions: epoll_wait: %v", err)
				return true
			}
			for _, ev := range events[:n] {
				p.wake(uint64(uint32(ev.Fd))|uint64(uint32(ev.Pad))<<32, 0)
			}
			if n < len(events) {
				return false // wait until the set is readable again
			}
		}
	})
	p.mu.Lock()
	closed := p.closed
	p.closed = true
	var left []*conn
	for id, pc := range p.parked {
		left = append(left, pc.c)
		delete(p.parked, id)
	}
	p.mu.Unlock()
	if closed {
		return
	}
	// Never seen: the epoll set failed. Its sessions wait for their bytes themselves.
	p.srv.logf("switch: idle sessions: waiting on epoll failed (%v); sessions wait with a goroutine each from now on", err)
	for _, c := range left {
		go c.resume(false)
	}
}

// sweep wakes the parked sessions whose idle deadline passed: each then pings its client
// or, if it pinged already, ends its stream (onReadTimeout).
func (p *idlePoller) sweep() {
	defer p.wg.Done()
	t := time.NewTicker(p.tick)
	defer t.Stop()
	var due []uint64
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		now := time.Now().UnixNano()
		due = due[:0]
		p.mu.Lock()
		for id, pc := range p.parked {
			if pc.until <= now {
				due = append(due, id)
			}
		}
		p.mu.Unlock()
		for _, id := range due {
			p.wake(id, now)
		}
	}
}

// close stops the poller once no session is parked (Serve waited for all of them).
func (p *idlePoller) close() {
	p.mu.Lock()
	p.closed = true // from now on nobody uses epfd
	p.mu.Unlock()
	// Not under mu: Close waits for the callback of wait, which may be waiting for mu.
	p.ep.Close()
	close(p.stop)
	p.wg.Wait()
}
