package cluster_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

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
