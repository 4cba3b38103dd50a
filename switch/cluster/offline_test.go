package cluster_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/switch/store"
)

// killWrites wraps a node's listener so that, once armed, the first write that contains
// trigger blocks until the test kills that connection (kill): then the write fails and
// the socket is closed, as when the client's connection is reset in the middle of an
// offline delivery.
type killWrites struct {
	net.Listener
	trigger []byte
	armed   atomic.Bool
	held    chan struct{} // closed when the write is held
	kill    chan struct{} // closed by the test: the held write fails
	once    sync.Once
}

func (k *killWrites) Accept() (net.Conn, error) {
	c, err := k.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &killConn{Conn: c, k: k}, nil
}

type killConn struct {
	net.Conn
	k *killWrites
}

func (c *killConn) Write(p []byte) (int, error) {
	if bytes.Contains(p, c.k.trigger) && c.k.armed.CompareAndSwap(true, false) {
		c.k.once.Do(func() { close(c.k.held) })
		<-c.k.kill
		c.Conn.Close()
		return 0, net.ErrClosed
	}
	return c.Conn.Write(p)
}

var bodyRe = regexp.MustCompile(`<body>(m\d+)</body>`)

// bodies returns the bodies of the whole messages r has read since its last expect (or
// bodies), and forgets them.
func (r *raw) bodies() []string {
	seen := r.seen.String()
	end := strings.LastIndex(seen, "</message>")
	if end < 0 {
		return nil
	}
	end += len("</message>")
	var got []string
	for _, m := range bodyRe.FindAllStringSubmatch(seen[:end], -1) {
		got = append(got, m[1])
	}
	r.seen.Reset()
	r.seen.WriteString(seen[end:])
	return got
}

// syncBodies sends a ping and returns the bodies of the messages read before its answer.
func (r *raw) syncBodies(id string) []string {
	r.t.Helper()
	r.send("<iq type='get' id='" + id + "' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	r.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	for !strings.Contains(r.seen.String(), "id='"+id+"'") {
		k, err := r.r.Read(buf)
		r.seen.Write(buf[:k])
		if err != nil {
			r.t.Fatalf("waiting for the ping's answer: %v; got %q", err, r.seen.String())
		}
	}
	return r.bodies()
}

// TestOfflineReconnectOtherNode: a user's offline messages are being delivered by a
// session on node a whose client stopped reading (its write held); the user logs in again
// at once on node b, whose own delivery finds every message claimed; then a's connection
// is killed. b's session gets every message a's did not write, in this login, in order,
// none twice: b hears a's release through the database, not at the end of the lease (a
// minute).
func TestOfflineReconnectOtherNode(t *testing.T) {
	e := newEnv(t)
	kw := &killWrites{trigger: []byte("<body>m3</body>"), held: make(chan struct{}), kill: make(chan struct{})}
	e.wrap = func(ln net.Listener) net.Listener {
		kw.Listener = ln
		return kw
	}
	a := e.startNode("a")
	e.wrap = nil
	b := e.startNode("b")
	var killOnce sync.Once
	kill := func() { killOnce.Do(func() { close(kw.kill) }) }
	defer kill() // before the nodes stop: a's writer may be held
	addAccount(t, a.db, "dana")
	const n = 24
	for i := range n {
		m := store.OfflineMessage{
			Stanza: fmt.Appendf(nil, "<message to='dana@localhost' type='chat' from='jane@localhost/Home'><body>m%d</body></message>", i),
			From:   "jane@localhost/Home",
			Stamp:  time.Now(),
		}
		if err := a.db.AddOffline(context.Background(), "dana", m); err != nil {
			t.Fatal(err)
		}
	}

	first := rawLogin(t, a.addr, "dana", "Home")
	kw.armed.Store(true)
	first.send("<presence/>")
	select {
	case <-kw.held:
	case <-time.After(30 * time.Second):
		t.Fatal("the delivery on node a never reached message 3")
	}

	second := rawLogin(t, b.addr, "dana", "Work")
	second.send("<presence/>")
	got := second.syncBodies("sync")

	killed := time.Now()
	kill()
	first.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	for {
		k, err := first.r.Read(buf)
		first.seen.Write(buf[:k])
		if err != nil {
			break
		}
	}
	firstGot := first.bodies()

	second.conn.SetReadDeadline(time.Now().Add(20 * time.Second)) // the lease is a minute
	for len(firstGot)+len(got) < n {
		k, err := second.r.Read(buf)
		second.seen.Write(buf[:k])
		got = append(got, second.bodies()...)
		if err != nil {
			t.Fatalf("node b's session got %d messages in this login (%v), node a's %d (%v); want %d in all: %v",
				len(got), got, len(firstGot), firstGot, n, err)
		}
	}
	t.Logf("%d messages on node a, %d on node b, the last %v after the kill", len(firstGot), len(got), time.Since(killed))
	all := append(firstGot, got...)
	for i, m := range all {
		if want := fmt.Sprintf("m%d", i); m != want {
			t.Fatalf("message %d over both nodes is %s (a %v, b %v)", i, m, firstGot, got)
		}
	}
	if more := second.syncBodies("sync2"); len(more) != 0 {
		t.Fatalf("messages again after all were delivered: %v", more)
	}
	if left, err := b.db.TakeOffline(context.Background(), "dana"); err != nil || len(left) != 0 {
		t.Fatalf("left in the store: %d messages, %v", len(left), err)
	}
}
