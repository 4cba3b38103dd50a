package cluster_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stanzascope/stanzascope/switch/cluster"
	"github.com/stanzascope/stanzascope/switch/cluster/natstest"
)

// TestReplicasNATSCluster runs two nodes with --cluster-replicas 3 on a NATS cluster of
// three servers: the session bucket is kept by all three (and the nodes say nothing of
// it), and the directory survives the loss of one of them. The server that leads the
// bucket is killed (SIGKILL); the nodes reconnect to the others, a message still crosses,
// a login after the loss reaches the other node, and a node that starts afterwards loads
// every session, the ones bound before the loss too, from the bucket.
func TestReplicasNATSCluster(t *testing.T) {
	servers := natstest.StartCluster(t, 3)
	var urls []string
	for _, s := range servers {
		urls = append(urls, s.URL())
	}
	e := newEnvURL(t, strings.Join(urls, ","))
	var logged strings.Builder // the nodes' logs, read after they closed
	logs := make(chan string, 1024)
	e.tune = func(c *cluster.Config) {
		c.Replicas = 3
		// Long enough that the other node's sessions do not expire while JetStream elects
		// a new leader of the bucket on a loaded machine.
		c.TTL = 15 * time.Second
		logf := c.Logf
		c.Logf = func(f string, a ...any) {
			logf(f, a...)
			select {
			case logs <- fmt.Sprintf(f, a...):
			default:
			}
		}
	}
	js := jetStreamReady(t, urls[0])

	na, nb := e.startNode("a"), e.startNode("b")
	reportOnFailure(t, na, nb)
	for _, u := range []string{"alice", "bob", "carol"} {
		addAccount(t, na.db, u)
	}
	alice := rawLogin(t, na.addr, "alice", "r")
	bob := rawLogin(t, nb.addr, "bob", "r")
	waitUntil(t, 10*time.Second, "node a sees bob", func() bool { return na.node.Lookup(mustJID(t, "bob@localhost/r")) != nil })

	kv, err := js.KeyValue(context.Background(), "stanzascope_sessions")
	if err != nil {
		t.Fatal(err)
	}
	info := bucketInfo(t, kv)
	if r := info.Config.Replicas; r != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("the session bucket has %d replicas (cluster %+v), want 3: its leader and 2 more", r, info.Cluster)
	}
	leader := info.Cluster.Leader
	for len(logs) > 0 {
		logged.WriteString(<-logs + "\n")
	}
	if strings.Contains(logged.String(), "replicas asked for") {
		t.Fatalf("a node said the bucket has fewer replicas than asked:\n%s", logged.String())
	}

	// Kill the server that leads the bucket.
	var survivors []string
	for _, s := range servers {
		if s.Name() == leader {
			if err := s.Stop(); err != nil {
				t.Fatal(err)
			}
			continue
		}
		survivors = append(survivors, s.URL())
	}
	if len(survivors) != 2 {
		t.Fatalf("the bucket's leader %q is none of the 3 servers", leader)
	}
	waitUntil(t, 30*time.Second, "both nodes connected to NATS again", func() bool {
		return na.node.Connected() && nb.node.Connected()
	})
	// The node that sees it first may find the bucket without a leader for a moment:
	// JetStream elects one among the two servers left.
	js2 := jetStreamReady(t, strings.Join(survivors, ","))
	var kv2 jetstream.KeyValue
	waitUntil(t, 60*time.Second, "a new leader of the bucket", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		kv, err := js2.KeyValue(ctx, "stanzascope_sessions")
		if err != nil {
			return false
		}
		st, err := kv.Status(ctx)
		if err != nil {
			return false
		}
		ci := st.(*jetstream.KeyValueBucketStatus).StreamInfo().Cluster
		kv2 = kv
		return ci != nil && ci.Leader != "" && ci.Leader != leader
	})

	alice.send("<message to='bob@localhost/r' type='chat'><body>after the loss</body></message>")
	bob.expect("after the loss")
	carol := rawLogin(t, nb.addr, "carol", "r")
	waitUntil(t, 20*time.Second, "node a sees carol, who logged in after the loss", func() bool {
		return na.node.Lookup(mustJID(t, "carol@localhost/r")) != nil
	})
	carol.send("<message to='alice@localhost/r' type='chat'><body>from carol</body></message>")
	alice.expect("from carol")

	// The bucket holds every session: the ones bound before the loss and carol's (her
	// node retries a write that found no leader at its next refresh, TTL/3).
	jids := []string{"alice@localhost/r", "bob@localhost/r", "carol@localhost/r"}
	waitUntil(t, 30*time.Second, "the three sessions in the bucket", func() bool {
		for _, j := range jids {
			if _, err := kv2.Get(context.Background(), base64.RawURLEncoding.EncodeToString([]byte(j))); err != nil {
				return false
			}
		}
		return true
	})
	// A start has 10 s to watch the bucket. Just after the loss of a JetStream server, on
	// a loaded machine (CI, every package at once), that was not always enough: node c is
	// then started again, as an operator would, within a minute; an error other than a
	// time-out fails at once.
	var nc *cluster.Node
	waitUntil(t, 60*time.Second, "node c to start on the surviving servers", func() bool {
		var err error
		nc, err = cluster.Open(context.Background(), cluster.Config{URL: strings.Join(survivors, ","), Node: "c", Store: na.db, Replicas: 3, TTL: 15 * time.Second})
		if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
			t.Fatal(err)
		}
		if err != nil {
			t.Logf("node c did not start: %v; starting it again", err)
		}
		return err == nil
	})
	defer nc.Close()
	for _, j := range jids {
		if nc.Lookup(mustJID(t, j)) == nil {
			t.Errorf("node c, started after the loss, does not know %s", j)
		}
	}
}

// jetStreamOf connects to the NATS server at url for the test's duration and returns its
// JetStream.
func jetStreamOf(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// jetStreamReady waits until JetStream at url answers and can place a stream of 3 replicas
// (a cluster elects its leaders a few seconds after it starts) and returns it.
func jetStreamReady(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	js := jetStreamOf(t, url)
	var last error
	waitUntil(t, 60*time.Second, "JetStream ready", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, last = js.AccountInfo(ctx)
		return last == nil
	})
	if last != nil && !errors.Is(last, context.DeadlineExceeded) {
		t.Logf("JetStream: %v", last)
	}
	// A meta leader answers AccountInfo before every server has joined JetStream's meta
	// group; until then a stream of 3 replicas finds "no suitable peers for placement".
	// Ready means such a stream can be made (and is then deleted).
	waitUntil(t, 60*time.Second, "JetStream places 3 replicas", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, last = js.CreateStream(ctx, jetstream.StreamConfig{Name: "natstest_ready", Subjects: []string{"natstest.ready"},
			Replicas: 3, Storage: jetstream.MemoryStorage}); last != nil {
			return false
		}
		last = js.DeleteStream(ctx, "natstest_ready")
		return last == nil
	})
	if last != nil {
		t.Logf("JetStream: %v", last)
	}
	return js
}

func bucketInfo(t *testing.T, kv jetstream.KeyValue) *jetstream.StreamInfo {
	t.Helper()
	st, err := kv.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.(*jetstream.KeyValueBucketStatus).StreamInfo()
}
