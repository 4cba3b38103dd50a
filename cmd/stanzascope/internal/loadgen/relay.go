package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Relay copies bytes between every connection accepted on ln and a new connection to
// upstream, in both directions, with nothing in between: the floor any XMPP proxy can be
// compared with. It returns after ctx is cancelled and every connection has ended.
func Relay(ctx context.Context, ln net.Listener, upstream string, logf func(string, ...any)) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]struct{}{}
	track := func(c net.Conn, add bool) bool {
		mu.Lock()
		defer mu.Unlock()
		if add {
			if ctx.Err() != nil {
				return false
			}
			conns[c] = struct{}{}
		} else {
			delete(conns, c)
		}
		return true
	}
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	defer stop()
	var acceptErr error
	for {
		down, err := ln.Accept()
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				acceptErr = fmt.Errorf("relay: accept: %w", err)
			}
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := net.Dialer{Timeout: 5 * time.Second}
			up, err := d.DialContext(ctx, "tcp", upstream)
			if err != nil {
				logf("relay: %v", err)
				down.Close()
				return
			}
			if !track(down, true) || !track(up, true) {
				down.Close()
				up.Close()
				return
			}
			defer track(down, false)
			defer track(up, false)
			pipe(down, up)
		}()
	}
	ln.Close()
	wg.Wait()
	return acceptErr
}

// pipe copies both ways until either side ends, passing half-closes on, then closes both.
func pipe(a, b net.Conn) {
	var wg sync.WaitGroup
	cp := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		} else {
			dst.Close()
		}
	}
	wg.Add(2)
	go cp(a, b)
	go cp(b, a)
	wg.Wait()
	a.Close()
	b.Close()
}
