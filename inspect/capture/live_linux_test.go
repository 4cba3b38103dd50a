//go:build linux

package capture

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// TestReadLive captures a real TCP connection on the loopback interface. It needs root
// or CAP_NET_RAW; without them it checks the one-line message instead (and fails as root,
// where the capture must work).
func TestReadLive(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	// The server answers every connection's header with its own and the features.
	var server sync.WaitGroup
	server.Add(1)
	go func() {
		defer server.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			server.Add(1)
			go func() {
				defer server.Done()
				defer c.Close()
				buf := make([]byte, len(clientHeader))
				if _, err := io.ReadFull(c, buf); err != nil {
					return
				}
				_, _ = c.Write([]byte(serverHeader + features))
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var recs []*inspect.Record
	sink := inspect.SinkFunc(func(r *inspect.Record) error {
		mu.Lock()
		defer mu.Unlock()
		recs = append(recs, r)
		return nil
	})
	seen := func(client net.Addr, tok string) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, got := range ourSequences(recs)[client.String()] {
			if got == tok {
				return true
			}
		}
		return false
	}
	var stderr syncWriter
	done := make(chan error, 1)
	go func() {
		_, err := ReadLive(ctx, "lo", Options{Ports: []int{port}}, sink, &stderr)
		done <- err
	}()
	// handshake opens a connection, sends a header and waits for the server's features,
	// so that everything after it comes later on the wire.
	handshake := func() net.Conn {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write([]byte(clientHeader)); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(serverHeader+features))
		if _, err := io.ReadFull(c, got); err != nil {
			t.Fatal(err)
		}
		return c
	}

	// The socket opens at an unknown moment: probe with short connections until the
	// capture shows one (after that, every packet on the port is seen). A permission
	// error returns at once.
	deadline := time.Now().Add(10 * time.Second)
	for ready := false; !ready; {
		select {
		case err := <-done:
			if errors.Is(err, ErrPermission) {
				if got := stderr.String(); got != "stanzascope: capturing on lo needs root or CAP_NET_RAW\n" {
					t.Fatalf("message %q", got)
				}
				if os.Geteuid() == 0 {
					t.Fatal("no permission to capture, as root")
				}
				t.Skip("no permission to capture: checked the message only")
			}
			t.Fatalf("ReadLive returned early: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the capture saw none of the probe connections")
		}
		probe := handshake()
		for end := time.Now().Add(100 * time.Millisecond); !ready && time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
			ready = seen(probe.LocalAddr(), "s2c features")
		}
		probe.Close()
	}

	c := handshake()
	if _, err := c.Write([]byte(message(1))); err != nil {
		t.Fatal(err)
	}
	for !seen(c.LocalAddr(), "c2s message") {
		if time.Now().After(deadline) {
			t.Fatal("the message was not captured")
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.Close()
	ln.Close()
	server.Wait()
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	got := ourSequences(recs)[c.LocalAddr().String()]
	want := []string{"c2s stream", "s2c stream", "s2c features", "c2s message"}
	if len(got) < len(want) || strings.Join(got[:len(want)], ",") != strings.Join(want, ",") {
		t.Fatalf("captured %q", got)
	}
	t.Log(stderr.String())
	if !strings.Contains(stderr.String(), "stanzascope: capture on lo: ") {
		t.Fatalf("summary %q", stderr.String())
	}
}

// syncWriter is a strings.Builder safe for ReadLive's goroutine and the test.
type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
