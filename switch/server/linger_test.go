package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestStreamErrorReachesBusyClient: a client that floods the server before login without
// reading, and keeps writing after the stanza that ends its stream, still reads every
// answer and the whole stream error once it reads. Its small receive buffer keeps the
// answers and the error in the server's send buffer; closing a socket with unread input
// makes the kernel send a reset and throw that buffer away, so the server half-closes
// and drains the client's input first (linger.go).
func TestStreamErrorReachesBusyClient(t *testing.T) {
	ts := startServer(t, nil)
	const conns, together = 30, 10
	errs := make(chan error, conns)
	var wg sync.WaitGroup
	for g := range conns / together {
		for i := range together {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := busyFlooder(ts.addr); err != nil {
					errs <- fmt.Errorf("connection %d of %d: %w", g*together+i+1, conns, err)
				}
			}()
		}
		wg.Wait()
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// busyFlooder connects with a receive buffer of about 2 KiB, writes a stream header, one
// stanza more than the server answers before login and 32 KiB after it, all before
// reading; then it reads until the connection ends and checks what it got.
func busyFlooder(addr string) error {
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1024)
		}); err != nil {
			return err
		}
		return serr
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	iq := "<iq id='f' type='get'><query xmlns='jabber:iq:version'/></iq>"
	var out bytes.Buffer
	out.WriteString(legacyHeader)
	for range maxStanzasBeforeLogin + 1 {
		out.WriteString(iq)
	}
	out.Write(bytes.Repeat([]byte("<x>garbage</x>"), 32<<10/14))
	// The write fails on a server that closes at once, answering the garbage with a
	// reset; what the client reads afterwards is what counts.
	c.Write(out.Bytes())
	var got bytes.Buffer
	_, err = io.Copy(&got, c)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		return fmt.Errorf("reading: %w (after %d bytes)", err, got.Len())
	}
	s := got.String()
	if n := strings.Count(s, "<iq "); n != maxStanzasBeforeLogin {
		return fmt.Errorf("%d answers, want %d; read %d bytes ending in %q", n, maxStanzasBeforeLogin, len(s), s[max(0, len(s)-200):])
	}
	if !strings.HasSuffix(s, "</stream:error></stream:stream>") || !strings.Contains(s, "<policy-violation ") {
		return fmt.Errorf("no whole policy-violation stream error: read %d bytes ending in %q", len(s), s[max(0, len(s)-200):])
	}
	return nil
}
