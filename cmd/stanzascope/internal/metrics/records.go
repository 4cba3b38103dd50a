package metrics

import (
	"bytes"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stanzascope/stanzascope/inspect"
)

// maxPending bounds the logins the record metrics follow at once (a SASL <auth/> or a
// jabber:iq:auth request waiting for its answer). Beyond it, a login's answer is counted
// under the mechanism "other"; the process never grows with what clients start.
const maxPending = 1 << 16

// iqBuckets are the bounds of the iq round-trip histogram, in seconds: from a loopback
// answer (100 µs) to the iq tracker's timeout (30 s).
var iqBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// recordMetrics are the metrics derived from the records, the one truth every output
// shows: stanzas and bytes, errors by condition, logins, rule matches and iq round trips.
// It is an inline output of the sink chain (inspect.Output.Inline), so the chain calls
// Write from one goroutine at a time, in the order the records were numbered; Write only
// reads the record, and parses it only for the rare records it must look into (errors,
// legacy logins), never through Record.Element.
type recordMetrics struct {
	stanzaVec, byteVec *prometheus.CounterVec
	// The counters of the usual label values, looked up once: the per-record cost is an
	// atomic add, not a map lookup.
	stanzas, bytes [len(directions)][numElems]prometheus.Counter
	streamErrors   *prometheus.CounterVec
	stanzaErrors   *prometheus.CounterVec
	logins         *prometheus.CounterVec
	rules          *prometheus.CounterVec
	rtt            [len(directions)]prometheus.Observer

	pending map[*inspect.ConnInfo]login // logins waiting for their answer, by connection
}

// login is a login attempt waiting for the server's answer.
type login struct {
	mech string // the mechanism label
	id   string // jabber:iq:auth: the request's id; SASL: ""
}

func newRecordMetrics(reg prometheus.Registerer) *recordMetrics {
	m := &recordMetrics{
		stanzaVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stanzascope_stanzas_total",
			Help: "Top-level elements that travelled, by direction (c2s, s2c) and element (message, presence, iq; other: features, SASL, STARTTLS, stream errors).",
		}, []string{"direction", "element"}),
		byteVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stanzascope_stream_bytes_total",
			Help: "Bytes of the XML streams (after TLS), by direction and element; stream headers, closing tags and whitespace count as other.",
		}, []string{"direction", "element"}),
		streamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stanzascope_stream_errors_total",
			Help: "Stream errors (<stream:error/>) that travelled, by direction and RFC 6120 condition (other: not one of RFC 6120's).",
		}, []string{"direction", "condition"}),
		stanzaErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stanzascope_stanza_errors_total",
			Help: "Stanzas of type error that travelled, by direction and RFC 6120 condition (other: not one of RFC 6120's).",
		}, []string{"direction", "condition"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stanzascope_logins_total",
			Help: "Logins answered by the server, by mechanism (SASL mechanism, iq-auth for XEP-0078, other for any name not on stanzascope's list) and result (success, failure).",
		}, []string{"mechanism", "result"}),
		rules: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stanzascope_rule_matches_total",
			Help: "Records a rule matched, by rule name (names come from the rule files, so there are as many as the files name).",
		}, []string{"rule"}),
		pending: make(map[*inspect.ConnInfo]login),
	}
	rtt := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "stanzascope_iq_rtt_seconds",
		Help:    "Time from an iq request to its answer, by the direction of the request (c2s: the client asked, the server answered).",
		Buckets: iqBuckets,
	}, []string{"direction"})
	reg.MustRegister(m.stanzaVec, m.byteVec, m.streamErrors, m.stanzaErrors, m.logins, m.rules, rtt)
	for d := range directions {
		if inspect.Direction(d) == inspect.DirNone {
			continue // live traffic always has a direction; such a series is made if ever needed
		}
		for e := range elements {
			m.stanzas[d][e] = m.stanzaVec.WithLabelValues(directions[d], elements[e])
			m.bytes[d][e] = m.byteVec.WithLabelValues(directions[d], elements[e])
		}
		m.rtt[d] = rtt.WithLabelValues(directions[d])
	}
	return m
}

// Write counts r. It never fails.
func (m *recordMetrics) Write(r *inspect.Record) error {
	d := dirIndex(r.Dir)
	switch r.Kind {
	case inspect.KindStanza:
		e := elemIndex(r.Name, r.NS)
		m.addBytes(d, e, len(r.Raw))
		if e == elemOther {
			m.streamLevel(r, d)
		} else {
			m.stanza(r, d, e)
		}
		for _, name := range r.Rules() {
			m.rules.WithLabelValues(name).Inc()
		}
	case inspect.KindStreamOpen, inspect.KindWhitespace, inspect.KindStreamClose:
		m.addBytes(d, elemOther, len(r.Raw))
	case inspect.KindConnClose:
		delete(m.pending, r.Conn)
	}
	return nil
}

// WriteBatch counts the records of rs in order (the chain hands it a batch in one call).
func (m *recordMetrics) WriteBatch(rs []*inspect.Record) error {
	for _, r := range rs {
		m.Write(r)
	}
	return nil
}

// addBytes counts n bytes of element e in direction d, making the counters of a
// direction not made in advance (none) when first needed.
func (m *recordMetrics) addBytes(d, e, n int) {
	if m.stanzas[d][e] == nil {
		m.stanzas[d][e] = m.stanzaVec.WithLabelValues(directions[d], elements[e])
		m.bytes[d][e] = m.byteVec.WithLabelValues(directions[d], elements[e])
	}
	m.bytes[d][e].Add(float64(n))
}

var (
	errorWord = []byte("error")
	authNS    = []byte(inspect.NSAuth)
)

// isErrorStanza reports whether the stanza's type is error: from where the Reader noted
// the type when it did (no scan of the bytes, which every stanza of the traffic would
// cost), else when the bytes hold the word at all and the type says so.
func isErrorStanza(r *inspect.Record) bool {
	if v, present, known := r.TopAttrRaw(inspect.TopType); known && bytes.IndexByte(v, '&') < 0 {
		return present && string(v) == "error"
	}
	return bytes.Contains(r.Raw, errorWord) && r.Attr("type") == "error"
}

// stanza counts a message, presence or iq: its errors, iq round trips and legacy logins.
func (m *recordMetrics) stanza(r *inspect.Record, d, e int) {
	m.stanzas[d][e].Inc()
	if e == elemIQ && r.RTT() > 0 {
		if o := m.rtt[dirIndex(r.Dir.Reverse())]; o != nil {
			o.Observe(r.RTT().Seconds())
		}
	}
	var typ string
	if isErrorStanza(r) {
		typ = "error"
		m.stanzaErrors.WithLabelValues(directions[d], stanzaCondLabel(stanzaCondition(r))).Inc()
	}
	if e != elemIQ {
		return
	}
	switch inspect.Direction(d) {
	case inspect.ClientToServer:
		if bytes.Contains(r.Raw, authNS) && r.Attr("type") == "set" && isLegacyAuth(r) {
			m.await(r.Conn, login{mech: legacyAuth, id: r.Attr("id")})
		}
	case inspect.ServerToClient:
		if len(m.pending) == 0 {
			return
		}
		p, ok := m.pending[r.Conn]
		if !ok || p.id == "" || r.Attr("id") != p.id {
			return
		}
		if typ == "" {
			typ = r.Attr("type")
		}
		switch typ {
		case "result":
			m.answered(r.Conn, "success")
		case "error":
			m.answered(r.Conn, "failure")
		}
	}
}

// streamLevel counts the elements between stanzas that the metrics care about: SASL and
// stream errors.
func (m *recordMetrics) streamLevel(r *inspect.Record, d int) {
	m.stanzas[d][elemOther].Inc()
	switch r.NS {
	case inspect.NSSASL, nsSASL2:
		switch {
		case inspect.Direction(d) == inspect.ClientToServer && (r.Name == "auth" || r.Name == "authenticate"):
			m.await(r.Conn, login{mech: mechanismLabel(r.Attr("mechanism"))})
		case inspect.Direction(d) == inspect.ServerToClient && (r.Name == "success" || r.Name == "failure"):
			m.answered(r.Conn, r.Name)
		}
	case inspect.NSStreams:
		if r.Name == "error" {
			m.streamErrors.WithLabelValues(directions[d], streamCondLabel(streamCondition(r))).Inc()
		}
	}
}

// await notes a login started on conn.
func (m *recordMetrics) await(conn *inspect.ConnInfo, l login) {
	if conn == nil {
		return
	}
	if _, ok := m.pending[conn]; ok || len(m.pending) < maxPending {
		m.pending[conn] = l
	}
}

// answered counts the server's answer to the login pending on conn.
func (m *recordMetrics) answered(conn *inspect.ConnInfo, result string) {
	mech := other
	if l, ok := m.pending[conn]; ok {
		mech = l.mech
		delete(m.pending, conn)
	}
	m.logins.WithLabelValues(mech, result).Inc()
}

// isLegacyAuth reports whether an iq set carries a jabber:iq:auth query (XEP-0078).
func isLegacyAuth(r *inspect.Record) bool {
	el, err := inspect.ParseElement(r.Raw, r.Header)
	return err == nil && el.Child(inspect.NSAuth, "query") != nil
}

// streamCondition returns the condition of a <stream:error/>, "" when it has none.
func streamCondition(r *inspect.Record) string {
	el, err := inspect.ParseElement(r.Raw, r.Header)
	if err != nil {
		return ""
	}
	for _, c := range el.Elements() {
		if c.Space == inspect.NSStreamErrors && c.Local != "text" {
			return c.Local
		}
	}
	return ""
}

// stanzaCondition returns the condition of a stanza of type error, "" when it has none.
func stanzaCondition(r *inspect.Record) string {
	el, err := inspect.ParseElement(r.Raw, r.Header)
	if err != nil {
		return ""
	}
	e := el.Child("", "error")
	if e == nil {
		return ""
	}
	for _, c := range e.Elements() {
		if c.Space == inspect.NSStanzas && c.Local != "text" {
			return c.Local
		}
	}
	return ""
}
