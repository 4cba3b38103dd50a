package proxy

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestQuietLegsDropReadBuffers: a proxied plaintext connection quiet for idleRelease
// waits on both legs without its readers' buffers, and a stanza each way afterwards
// arrives whole (the byte read outside the reader reaches it).
func TestQuietLegsDropReadBuffers(t *testing.T) {
	msg := "<message to='b@localhost' type='chat'><body>after a quiet while</body></message>"
	up := echoMessage(t, msg)
	tp := startProxy(t, Config{Upstream: up}, false)
	before := quietLegs.Load() // other tests' connections may be quiet too
	c := dial(t, tp.addr)
	io.WriteString(c, clientHeader)
	readUntil(t, c, plainFeatures)
	deadline := time.Now().Add(10 * time.Second)
	for quietLegs.Load() < before+2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d legs wait without a read buffer, want %d", quietLegs.Load()-before, 2)
		}
		time.Sleep(10 * time.Millisecond) // poll: the legs go quiet after idleRelease
	}
	io.WriteString(c, msg)
	if out := readUntil(t, c, msg); !strings.HasSuffix(out, msg) {
		t.Fatalf("got %q, want the echoed message", out)
	}
	tp.sink.waitNote(t, "client") // the records are still made
}

// TestSlowTypistWithoutIdleTimeout: without an idle timeout, a person who types a stanza
// slowly (its first byte read by the quiet wait, the rest more than idleRelease later) is
// not taken for an idle client: the quiet wait's deadline does not outlive its read.
func TestSlowTypistWithoutIdleTimeout(t *testing.T) {
	msg := "<message to='b@localhost' type='chat'><body>typed slowly</body></message>"
	up := echoMessage(t, msg)
	tp := startProxy(t, Config{Upstream: up}, false)
	c := dial(t, tp.addr)
	io.WriteString(c, clientHeader)
	readUntil(t, c, plainFeatures)
	half := len(msg) / 2
	io.WriteString(c, msg[:half])
	// The person is still typing: the pause is the scenario, longer than the quiet time.
	time.Sleep(idleRelease + idleRelease/2)
	io.WriteString(c, msg[half:])
	if out := readUntil(t, c, msg); !strings.HasSuffix(out, msg) {
		t.Fatalf("got %q, want the echoed message", out)
	}
}

// TestQuietServerWithIdleTimeout: with an idle timeout for clients, a server quiet for
// longer than idleRelease is not taken for an idle one (the idle timeout is the client's
// alone): what it sends afterwards reaches the client.
func TestQuietServerWithIdleTimeout(t *testing.T) {
	msg := "<message to='b@localhost' type='chat'><body>after the server was quiet</body></message>"
	up := echoMessage(t, msg)
	tp := startProxy(t, Config{Upstream: up, IdleTimeout: 5 * time.Second}, false)
	c := dial(t, tp.addr)
	io.WriteString(c, clientHeader)
	readUntil(t, c, plainFeatures)
	// The server says nothing for longer than the quiet time; the scenario is the pause.
	time.Sleep(idleRelease + idleRelease/2)
	io.WriteString(c, msg)
	if out := readUntil(t, c, msg); !strings.HasSuffix(out, msg) {
		t.Fatalf("got %q, want the echoed message", out)
	}
}

// echoMessage is a server that answers a client's stream header with its own and plain
// features, and sends msg back each time it has received it (after any pause).
func echoMessage(t *testing.T, msg string) string {
	t.Helper()
	return rawServer(t, func(c net.Conn) {
		var buf strings.Builder
		b := make([]byte, 4096)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		header := false
		for {
			n, err := c.Read(b)
			buf.Write(b[:n])
			if !header && strings.Contains(buf.String(), "version='1.0'>") {
				header = true
				io.WriteString(c, serverHeader+plainFeatures)
			}
			if strings.Contains(buf.String(), msg) {
				io.WriteString(c, msg)
				buf.Reset()
			}
			if err != nil {
				return
			}
		}
	})
}
