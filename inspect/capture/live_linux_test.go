//go:build linux

package capture

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// TestReadLive captures a real TCP connection on the loopback interface. It needs root
// or CAP_NET_RAW; without them it checks the one-line message instead.
func TestReadLive(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	server := make(chan struct{})
	go func() {
		defer close(server)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, len(clientHeader))
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		_, _ = c.Write([]byte(serverHeader + features))
		_, _ = io.Copy(io.Discard, c)
	}()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var recs []*inspect.Record
	seen := make(chan struct{}, 1)
	sink := inspect.SinkFunc(func(r *inspect.Record) error {
		mu.Lock()
		defer mu.Unlock()
		recs = append(recs, r)
		if r.Kind == inspect.KindStanza && r.Name == "message" {
			select {
			case seen <- struct{}{}:
			default:
			}
		}
		return nil
	})
	var stderr strings.Builder
	done := make(chan error, 1)
	go func() {
		_, err := ReadLive(ctx, "lo", Options{Ports: []int{port}}, sink, &stderr)
		done <- err
	}()
	// Give the socket time to open; a permission error returns at once.
	select {
	case err := <-done:
		if errors.Is(err, ErrPermission) {
			if got := stderr.String(); got != "stanzascope: capturing on lo needs root or CAP_NET_RAW\n" {
				t.Fatalf("message %q", got)
			}
			t.Skip("no permission to capture: checked the message only")
		}
		t.Fatalf("ReadLive returned early: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = c.Write([]byte(clientHeader))
	time.Sleep(20 * time.Millisecond)
	_, _ = c.Write([]byte(message(1)))
	select {
	case <-seen:
	case <-time.After(5 * time.Second):
		t.Error("the message was not captured")
	}
	c.Close()
	<-server
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
