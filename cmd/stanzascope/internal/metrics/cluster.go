package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stanzascope/stanzascope/switch/cluster"
)

// The metrics of a switch node in a cluster (--cluster), read from cluster.Stats.
var (
	clusterConnected = prometheus.NewDesc("stanzascope_cluster_nats_connected",
		"1 while the switch node is connected to NATS, 0 while it serves its own sessions only.", nil, nil)
	clusterDisconnects = prometheus.NewDesc("stanzascope_cluster_nats_disconnects_total",
		"Times the switch node lost its connection to NATS.", nil, nil)
	clusterRemote = prometheus.NewDesc("stanzascope_cluster_remote_sessions",
		"Sessions of the other nodes that this node sees.", nil, nil)
	clusterStanzas = prometheus.NewDesc("stanzascope_cluster_stanzas_total",
		"Stanzas between nodes, by what happened: sent (to another node), received (for a session of this node), refused (not sent: NATS away or too many unanswered; the switch kept or bounced them), retried (sent again: no answer in time, or no responders), duplicate (received again and taken already: not delivered twice), failed (sent, not taken by the other node), kept_offline (of the failed messages, kept in the store), lost (neither delivered nor kept).",
		[]string{"result"}, nil)
	clusterExpired = prometheus.NewDesc("stanzascope_cluster_sessions_expired_total",
		"Sessions of other nodes dropped because their node stopped refreshing them (it died or lost NATS).", nil, nil)
	clusterConflicts = prometheus.NewDesc("stanzascope_cluster_conflicts_total",
		"Sessions of this node ended by a newer session with the same full JID on another node.", nil, nil)
)

type clusterCollector struct{ st *cluster.Stats }

func (c clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{clusterConnected, clusterDisconnects, clusterRemote, clusterStanzas, clusterExpired, clusterConflicts} {
		ch <- d
	}
}

func (c clusterCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.st
	gauge(ch, clusterConnected, st.Connected.Load())
	counter(ch, clusterDisconnects, st.Disconnects.Load())
	gauge(ch, clusterRemote, st.RemoteSessions.Load())
	counter(ch, clusterStanzas, st.Sent.Load(), "sent")
	counter(ch, clusterStanzas, st.Received.Load(), "received")
	counter(ch, clusterStanzas, st.Refused.Load(), "refused")
	counter(ch, clusterStanzas, st.Retried.Load(), "retried")
	counter(ch, clusterStanzas, st.Duplicates.Load(), "duplicate")
	counter(ch, clusterStanzas, st.Failed.Load(), "failed")
	counter(ch, clusterStanzas, st.KeptOffline.Load(), "kept_offline")
	counter(ch, clusterStanzas, st.Lost.Load(), "lost")
	counter(ch, clusterExpired, st.Expired.Load())
	counter(ch, clusterConflicts, st.Conflicts.Load())
}

// WatchCluster exports the counters of the switch's cluster node.
func (m *Metrics) WatchCluster(st *cluster.Stats) {
	m.reg.MustRegister(clusterCollector{st})
}
