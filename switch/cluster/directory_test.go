package cluster_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stanzascope/stanzascope/switch/cluster"
	"github.com/stanzascope/stanzascope/switch/cluster/natstest"
	"github.com/stanzascope/stanzascope/switch/server"
	"github.com/stanzascope/stanzascope/switch/server/dirtest"
	"github.com/stanzascope/stanzascope/switch/store"
)

var bucketSeq atomic.Int64

// TestDirectory runs the directory conformance suite on a cluster node, each test on its
// own bucket of one NATS server.
func TestDirectory(t *testing.T) {
	ns := natstest.Start(t)
	dirtest.Run(t, func(t *testing.T) server.Directory {
		n := bucketSeq.Add(1)
		node, err := cluster.Open(context.Background(), cluster.Config{
			URL: ns.URL(), Node: "a", Store: store.NewMemory(),
			Bucket: fmt.Sprintf("dirtest%d", n), Subject: fmt.Sprintf("dirtest%d", n),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { node.Close() })
		return node
	})
}

// TestReplicas: the session bucket is created with the replicas asked for, one by default;
// a single NATS server keeps one when three are asked for, and the node says so; more
// than five are refused.
func TestReplicas(t *testing.T) {
	ns := natstest.Start(t)
	cfg := cluster.Config{URL: ns.URL(), Node: "a", Store: store.NewMemory(), Bucket: "replicas", Subject: "replicas"}
	node, err := cluster.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	node.Close()
	js := jetStreamOf(t, ns.URL())
	kv, err := js.KeyValue(context.Background(), "replicas")
	if err != nil {
		t.Fatal(err)
	}
	st, err := kv.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if r := st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.Replicas; r != 1 {
		t.Fatalf("bucket with %d replicas, want 1", r)
	}
	// One NATS server keeps one replica whatever is asked: the node says so.
	var logged strings.Builder
	cfg.Replicas = 3
	cfg.Logf = func(f string, a ...any) { fmt.Fprintf(&logged, f+"\n", a...) }
	node, err = cluster.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	node.Close()
	if !strings.Contains(logged.String(), "is kept by 1 NATS server(s), not the 3 replicas asked for") {
		t.Fatalf("nothing said of the replicas; logged:\n%s", logged.String())
	}
	cfg.Replicas = 6
	if _, err := cluster.Open(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "give 1 to 5") {
		t.Fatalf("6 replicas: %v", err)
	}
}
