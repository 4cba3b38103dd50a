package inspect

import "strconv"

// MilestoneKind says which step of a connection's negotiation a Milestone records.
type MilestoneKind string

// Milestone kinds.
const (
	MilestoneTLS   MilestoneKind = "tls"   // a TLS handshake finished on a leg
	MilestoneSASL  MilestoneKind = "sasl"  // a SASL mechanism was chosen, or the exchange ended
	MilestoneBound MilestoneKind = "bound" // the server bound a full JID (RFC 6120 §7.6.1)
	// MilestoneUnacked: the proxy closed a leg while bytes it had written toward the peer
	// were not acknowledged by the peer's TCP: the peer may not have received them.
	MilestoneUnacked MilestoneKind = "unacked"
	// MilestoneUnwritten: a write toward the peer failed after the records of its bytes
	// were handed on (they are, just before the write, so that a quick answer's record
	// cannot come first): the last bytes of those records did not reach the peer.
	MilestoneUnwritten MilestoneKind = "unwritten"
)

// SASL results of a MilestoneSASL.
const (
	SASLChosen  = "chosen"  // the client chose Mechanism (<auth/>)
	SASLSuccess = "success" // <success/>
	SASLFailure = "failure" // <failure/>, with Condition
)

// Milestone is a typed step of a connection's negotiation, carried by the note record
// that announces it (Record.Note keeps the sentence for a person). Consumers read these
// fields, not the sentence. Only the fields of its Kind are set.
type Milestone struct {
	Kind MilestoneKind `json:"kind"`
	// MilestoneTLS: the leg ("client" or "upstream"), the TLS version and cipher suite by
	// their Go names, and the server name the client asked for.
	Leg     string `json:"leg,omitempty"`
	Version string `json:"version,omitempty"`
	Cipher  string `json:"cipher,omitempty"`
	SNI     string `json:"sni,omitempty"`
	Direct  bool   `json:"direct,omitempty"` // Direct TLS (XEP-0368), not STARTTLS
	// InProcess: the leg was secured by STARTTLS without encryption, being a link inside
	// one process (the main job's link to its embedded switch); Version and Cipher are
	// empty then.
	InProcess bool `json:"in_process,omitempty"`
	// MilestoneSASL: the mechanism (on SASLChosen), the result, and the condition of a
	// failure.
	Mechanism string `json:"mechanism,omitempty"`
	Result    string `json:"result,omitempty"`
	Condition string `json:"condition,omitempty"`
	// MilestoneBound: the full JID the server bound.
	JID string `json:"jid,omitempty"`
	// MilestoneUnacked: the leg (Leg) and how many bytes written toward its peer the
	// peer had not acknowledged when the proxy closed the connection (on a TLS leg,
	// bytes of TLS records), and how many of the last records forwarded toward the peer
	// those bytes reach into (0: not known, as on a TLS leg).
	UnackedBytes   int64 `json:"unacked_bytes,omitempty"`
	UnackedRecords int   `json:"unacked_records,omitempty"`
	// MilestoneUnwritten: the leg (Leg), how many of the last bytes recorded toward its
	// peer were not written, and how many of the last records before the note (toward
	// the same peer) those bytes reach into. A consumer that wants what the peer got
	// takes those bytes off the end of those records.
	UnwrittenBytes   int64 `json:"unwritten_bytes,omitempty"`
	UnwrittenRecords int   `json:"unwritten_records,omitempty"`
}

// appendJSON appends m as a JSON object, fields in declaration order, empty ones left out.
func (m *Milestone) appendJSON(b []byte) []byte {
	b = append(b, `{"kind":`...)
	b = appendJSONString(b, string(m.Kind))
	for _, f := range [...]struct{ name, v string }{
		{"leg", m.Leg}, {"version", m.Version}, {"cipher", m.Cipher}, {"sni", m.SNI},
	} {
		if f.v != "" {
			b = append(b, ',', '"')
			b = append(b, f.name...)
			b = append(b, '"', ':')
			b = appendJSONString(b, f.v)
		}
	}
	if m.Direct {
		b = append(b, `,"direct":true`...)
	}
	if m.InProcess {
		b = append(b, `,"in_process":true`...)
	}
	for _, f := range [...]struct{ name, v string }{
		{"mechanism", m.Mechanism}, {"result", m.Result}, {"condition", m.Condition}, {"jid", m.JID},
	} {
		if f.v != "" {
			b = append(b, ',', '"')
			b = append(b, f.name...)
			b = append(b, '"', ':')
			b = appendJSONString(b, f.v)
		}
	}
	for _, f := range [...]struct {
		name string
		v    int64
	}{
		{"unacked_bytes", m.UnackedBytes}, {"unacked_records", int64(m.UnackedRecords)},
		{"unwritten_bytes", m.UnwrittenBytes}, {"unwritten_records", int64(m.UnwrittenRecords)},
	} {
		if f.v != 0 {
			b = append(b, ',', '"')
			b = append(b, f.name...)
			b = append(b, '"', ':')
			b = strconv.AppendInt(b, f.v, 10)
		}
	}
	return append(b, '}')
}
