package cluster_test

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stanzascope/stanzascope/switch/cluster"
)

// twoUsers starts nodes a and b with alice logged in on a and bob on b (raw clients, no
// presence: a message to bob's full JID crosses), and waits until node a sees bob.
func twoUsers(t *testing.T, e *env) (na, nb *node, alice, bob *raw) {
	t.Helper()
	na, nb = e.startNode("a"), e.startNode("b")
	reportOnFailure(t, na, nb)
	addAccount(t, na.db, "alice")
	addAccount(t, na.db, "bob")
	alice = rawLogin(t, na.addr, "alice", "r")
	bob = rawLogin(t, nb.addr, "bob", "r")
	waitUntil(t, 10*time.Second, "node a sees bob", func() bool { return na.node.Lookup(mustJID(t, "bob@localhost/r")) != nil })
	return na, nb, alice, bob
}

// loseFirst has the first publish of what by node vanish, as NATS core may lose it.
func loseFirst(t *testing.T, what int, node string) {
	var k atomic.Int32
	t.Cleanup(cluster.Lose(func(w int, n string) bool { return w == what && n == node && k.Add(1) == 1 }))
}

// deliveredOnce checks that body reached bob once, not offline: node a got its answer,
// nothing failed; a marker sent afterwards comes with nothing of body before it (a second
// copy would be in bob's stream before the marker: both nodes handle a sender's stanzas
// in order).
func deliveredOnce(t *testing.T, na *node, alice, bob *raw, body string) {
	t.Helper()
	waitUntil(t, 20*time.Second, "node a has its answer", func() bool { return na.node.Pending() == 0 })
	alice.send("<message to='bob@localhost/r' type='chat'><body>marker</body></message>")
	if before := bob.expect("marker"); strings.Contains(before, body) {
		t.Errorf("%q was delivered twice", body)
	}
	if f, k := na.stats.Failed.Load(), na.stats.KeptOffline.Load(); f != 0 || k != 0 {
		t.Errorf("node a: %d stanzas failed, %d kept offline; want none", f, k)
	}
	if off, err := na.db.TakeOffline(context.Background(), "bob"); err != nil || len(off) != 0 {
		t.Errorf("kept offline for bob: %d messages (%v), want none", len(off), err)
	}
}

// TestRetryLostDelivery: NATS loses a stanza on its way to the other node (as it may just
// after a failover, or on a connection that breaks). The sending node sends it again
// before its AckTimeout, and it reaches the recipient, online on the other node, once:
// not offline, for his next login.
func TestRetryLostDelivery(t *testing.T) {
	na, _, alice, bob := twoUsers(t, newEnv(t))
	loseFirst(t, cluster.LossDelivery, "a")
	alice.send("<message to='bob@localhost/r' type='chat'><body>lost once</body></message>")
	bob.expect("lost once")
	deliveredOnce(t, na, alice, bob, "lost once")
	if r := na.stats.Retried.Load(); r == 0 {
		t.Error("node a counted no stanza sent again")
	}
}

// TestRetryLostAnswer: the stanza was taken, and the answer saying so was lost. The
// sending node sends it again; the receiving node, which took it already, answers
// "taken" again and does not deliver it twice.
func TestRetryLostAnswer(t *testing.T) {
	na, nb, alice, bob := twoUsers(t, newEnv(t))
	loseFirst(t, cluster.LossAnswers, "b")
	alice.send("<message to='bob@localhost/r' type='chat'><body>taken once</body></message>")
	bob.expect("taken once")
	deliveredOnce(t, na, alice, bob, "taken once")
	if r, d := na.stats.Retried.Load(), nb.stats.Duplicates.Load(); r == 0 || d == 0 {
		t.Errorf("node a sent %d stanzas again, node b had %d of them already; want both > 0", r, d)
	}
}

// TestRetryNoResponders: the node of the recipient's session is in the directory, but no
// NATS server knows of its subscription yet (it reconnected to another server after a
// failover, and the news has not crossed the NATS cluster): NATS answers "no responders".
// The sending node tries again, and once the subscription is there the stanza arrives,
// with the same SEQ, and is not kept offline. The node is played by a NATS client that
// subscribes only once node a tried again.
func TestRetryNoResponders(t *testing.T) {
	e := newEnv(t)
	// Tries 3 s apart: the test's client subscribes between two of them; and its session
	// (which it does not refresh) lives until then.
	e.tune = func(c *cluster.Config) { c.AckTimeout, c.TTL = 9*time.Second, 60*time.Second }
	na := e.startNode("a")
	reportOnFailure(t, na)
	addAccount(t, na.db, "alice")
	addAccount(t, na.db, "bob")
	alice := rawLogin(t, na.addr, "alice", "a")
	nc, err := nats.Connect(e.nats.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	b := `{"op":"bind","node":"ghost","jid":"bob@localhost/r1","id":"ghost.1.1","bound":` + strconv.FormatInt(time.Now().UnixNano(), 10) + `,"ver":1}`
	if err := nc.Publish("stanzascope.all", []byte(b)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "node a sees ghost's bob/r1", func() bool { return na.node.Lookup(mustJID(t, "bob@localhost/r1")) != nil })

	alice.send("<message to='bob@localhost/r1' type='chat'><body>found later</body></message>")
	waitUntil(t, 20*time.Second, "node a tries again", func() bool { return na.stats.Retried.Load() >= 1 })
	sub, err := nc.SubscribeSync("stanzascope.node.ghost")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	m, err := sub.NextMsg(20 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(m.Data, []byte("d ghost.1.1\n<message")) || !bytes.Contains(m.Data, []byte("<body>found later</body>")) {
		t.Fatalf("on the node's subject: %q", m.Data)
	}
	dot := strings.LastIndexByte(m.Reply, '.')
	if seq := m.Reply[dot+1:]; seq != "1" {
		t.Errorf("the stanza came again with SEQ %s, want its own, 1", seq)
	}
	if err := nc.Publish(m.Reply[:dot+1]+"ok", []byte("+1-1")); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, "node a has its answer", func() bool { return na.node.Pending() == 0 })
	if f, k := na.stats.Failed.Load(), na.stats.KeptOffline.Load(); f != 0 || k != 0 {
		t.Errorf("node a: %d stanzas failed, %d kept offline; want none", f, k)
	}
}
