package cluster_test

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestRerouteNotTaken: a message to a full JID whose session another node no longer has
// when the message arrives there (it ended while the message crossed), or whose node is
// gone, goes to the account's other available resource, on any node (RFC 6121 section
// 8.5.3.2.1, as on one switch), not offline. The node of the ended session is played by a
// NATS client speaking the cluster's protocol: it announces bob/r1, answers that it did
// not take the message, then leaves (NATS then answers "no responders" to every try).
func TestRerouteNotTaken(t *testing.T) {
	e := newEnv(t)
	na, nb := e.startNode("a"), e.startNode("b")
	addAccount(t, na.db, "alice")
	addAccount(t, na.db, "bob")
	r2 := rawLogin(t, nb.addr, "bob", "r2")
	r2.send("<presence/>")
	waitUntil(t, 10*time.Second, "node a sees bob/r2 available", func() bool {
		s := na.node.Lookup(mustJID(t, "bob@localhost/r2"))
		return s != nil && s.Presence().Available
	})
	alice := rawLogin(t, na.addr, "alice", "a")

	nc, err := nats.Connect(e.nats.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("stanzascope.node.ghost")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	r1 := mustJID(t, "bob@localhost/r1")
	bound := strconv.FormatInt(time.Now().UnixNano(), 10)
	bind := func() {
		t.Helper()
		// The second time, a refresh: a session that did not take a stanza is not live for
		// node a until news of it comes.
		b := `{"op":"bind","node":"ghost","jid":"bob@localhost/r1","id":"ghost.1.1","bound":` + bound + `,"ver":1}`
		if err := nc.Publish("stanzascope.all", []byte(b)); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, 10*time.Second, "node a sees ghost's bob/r1", func() bool { return na.node.Lookup(r1) != nil })
	}

	// The session ended on its node as the message crossed: not taken.
	bind()
	alice.send("<message to='bob@localhost/r1' type='chat' id='m1'><body>not taken</body></message>")
	m, err := sub.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(m.Data, []byte("d ghost.1.1\n<message")) || !bytes.Contains(m.Data, []byte("<body>not taken</body>")) {
		t.Fatalf("on the node's subject: %q", m.Data)
	}
	dot := strings.LastIndexByte(m.Reply, '.')
	if err := nc.Publish(m.Reply[:dot+1]+"ok", []byte("-"+m.Reply[dot+1:])); err != nil {
		t.Fatal(err)
	}
	r2.expect("<body>not taken</body>")

	// The node is gone.
	if err := sub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	bind()
	alice.send("<message to='bob@localhost/r1' type='chat' id='m2'><body>no responders</body></message>")
	r2.expect("<body>no responders</body>")

	if got := na.stats.Failed.Load(); got != 2 {
		t.Errorf("node a counted %d stanzas not taken, want 2", got)
	}
	if off, err := na.db.TakeOffline(context.Background(), "bob"); err != nil || len(off) != 0 {
		t.Errorf("kept offline for bob: %d messages (%v), want none: they went to bob/r2", len(off), err)
	}
}
