package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stanzascope/stanzascope/proxy"
	"github.com/stanzascope/stanzascope/switch/server"
)

// transportTCP is the transport label of every connection so far; WebSocket (RFC 7395)
// connections will be "websocket".
const transportTCP = "tcp"

// The metrics read from proxy.Stats and server.Stats at scrape time: the proxy and the
// switch only add to atomic counters, and know nothing of Prometheus.
var (
	connsTotal = prometheus.NewDesc("stanzascope_connections_total",
		"Client connections accepted, by transport and by TLS when accepted (none: plaintext, which may start TLS later; direct: Direct TLS, XEP-0368).",
		[]string{"transport", "tls"}, nil)
	connsOpen = prometheus.NewDesc("stanzascope_connections_open",
		"Client connections open now, by transport and TLS (none, starttls: upgraded with STARTTLS, direct: Direct TLS).",
		[]string{"transport", "tls"}, nil)
	startTLS = prometheus.NewDesc("stanzascope_starttls_total",
		"Client connections upgraded to TLS with STARTTLS, by transport.",
		[]string{"transport"}, nil)
	registrations = prometheus.NewDesc("stanzascope_registrations_total",
		"Accounts created in-band (XEP-0077) on the switch.", nil, nil)
	offlineStored = prometheus.NewDesc("stanzascope_offline_messages_stored_total",
		"Messages the switch kept for a user who was offline.", nil, nil)
	offlineDelivered = prometheus.NewDesc("stanzascope_offline_messages_delivered_total",
		"Kept messages the switch handed to the user's session after login.", nil, nil)
	outboxCloses = prometheus.NewDesc("stanzascope_outbox_closes_total",
		"Sessions the switch closed with policy-violation because they did not take what was sent to them (their outbox was full).", nil, nil)
	limitRefusals = prometheus.NewDesc("stanzascope_limit_refusals_total",
		"What the switch's limits per client address refused: connections, logins, registrations, and failed authentications answered after the delay (auth_failure_delay).",
		[]string{"limit"}, nil)
)

type proxyCollector struct{ st *proxy.Stats }

func (c proxyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- connsTotal
	ch <- connsOpen
	ch <- startTLS
}

func (c proxyCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.st
	counter(ch, connsTotal, st.Accepted.Load(), transportTCP, "none")
	counter(ch, connsTotal, st.AcceptedDirectTLS.Load(), transportTCP, "direct")
	gauge(ch, connsOpen, st.OpenPlain.Load(), transportTCP, "none")
	gauge(ch, connsOpen, st.OpenStartTLS.Load(), transportTCP, "starttls")
	gauge(ch, connsOpen, st.OpenDirectTLS.Load(), transportTCP, "direct")
	counter(ch, startTLS, st.StartTLS.Load(), transportTCP)
}

type switchCollector struct {
	st    *server.Stats
	conns bool // export the connections (the switch alone, not behind the proxy)
}

func (c switchCollector) Describe(ch chan<- *prometheus.Desc) {
	if c.conns {
		ch <- connsTotal
		ch <- connsOpen
		ch <- startTLS
	}
	ch <- registrations
	ch <- offlineStored
	ch <- offlineDelivered
	ch <- outboxCloses
	ch <- limitRefusals
}

func (c switchCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.st
	if c.conns {
		counter(ch, connsTotal, st.Accepted.Load(), transportTCP, "none")
		gauge(ch, connsOpen, st.OpenPlain.Load(), transportTCP, "none")
		gauge(ch, connsOpen, st.OpenStartTLS.Load(), transportTCP, "starttls")
		counter(ch, startTLS, st.StartTLS.Load(), transportTCP)
	}
	counter(ch, registrations, st.Registrations.Load())
	counter(ch, offlineStored, st.OfflineStored.Load())
	counter(ch, offlineDelivered, st.OfflineDelivered.Load())
	counter(ch, outboxCloses, st.OutboxCloses.Load())
	counter(ch, limitRefusals, st.RefusedConns.Load(), "connections")
	counter(ch, limitRefusals, st.RefusedLogins.Load(), "logins")
	counter(ch, limitRefusals, st.RefusedRegistrations.Load(), "registrations")
	counter(ch, limitRefusals, st.DelayedAuthFailures.Load(), "auth_failure_delay")
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v uint64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v int64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
}
