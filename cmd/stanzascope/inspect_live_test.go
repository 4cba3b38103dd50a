//go:build linux

package main

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestInspectLiveLogIsLive: `inspect --iface` writes its --log as the traffic comes, not
// at exit: a stanza captured on the loopback interface is in the log file while inspect
// still runs. It needs root or CAP_NET_RAW (it fails as root or under CI without them).
func TestInspectLiveLogIsLive(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var server sync.WaitGroup
	server.Add(1)
	go func() { // answers each header with its own and features, then reads on
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
				buf := make([]byte, len(liveClientHeader))
				if _, err := io.ReadFull(c, buf); err != nil {
					return
				}
				c.Write([]byte(liveServerHeader + "<stream:features/>"))
				io.Copy(io.Discard, c)
			}()
		}
	}()
	defer server.Wait()
	defer ln.Close()

	logPath := filepath.Join(t.TempDir(), "live.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan int, 1)
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	go func() {
		done <- run(ctx, []string{"inspect", "--iface", "lo", "--port", port, "--log", logPath, "--format", "json"}, &out, &errb)
	}()
	logHas := func(sub string) bool {
		b, _ := os.ReadFile(logPath)
		return strings.Contains(string(b), sub)
	}
	// The capture starts at an unknown moment: send messages on new connections until
	// one is in the log (each connection is seen whole once the capture runs).
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; ; i++ {
		select {
		case code := <-done:
			if strings.Contains(errb.String(), "needs root or CAP_NET_RAW") {
				if os.Geteuid() == 0 || os.Getenv("CI") != "" {
					t.Fatalf("no permission to capture (root %v, CI %q): %s", os.Geteuid() == 0, os.Getenv("CI"), errb.String())
				}
				t.Skip("no permission to capture")
			}
			t.Fatalf("inspect ended early (exit %d): %s", code, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no message in the log while inspect runs (stderr %q)", errb.String())
		}
		token := "live-" + strconv.Itoa(i)
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte(liveClientHeader))
		got := make([]byte, len(liveServerHeader+"<stream:features/>"))
		io.ReadFull(c, got)
		c.Write([]byte("<message to='b@localhost'><body>" + token + "</body></message>"))
		seen := false
		for end := time.Now().Add(300 * time.Millisecond); !seen && time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			seen = logHas(token)
		}
		c.Close()
		if seen {
			break
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("inspect did not stop on cancellation")
	}
}

const (
	liveClientHeader = "<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
	liveServerHeader = "<?xml version='1.0'?><stream:stream from='localhost' id='s1' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
)
