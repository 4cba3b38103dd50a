package proxy

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// rec makes the record of an event read in direction dir; it owns a copy of the bytes.
// Its time is when the read that completed the event returned: the stanzas that one read
// brought arrived together, and share it.
func (s *session) rec(ev inspect.Event, dir inspect.Direction) *inspect.Record {
	r := ev.Record()
	if at := s.readAt[dir].Load(); at != 0 {
		r.Time = time.Unix(0, at)
	} else {
		r.Time = time.Now() // an event not read through the pipe's source
	}
	r.Conn = s.info
	r.Dir = dir
	if r.Header == nil {
		r.Header = s.hdr[dir].Load()
	}
	if s.ws != nil && dir == inspect.ClientToServer && (r.Kind == inspect.KindStreamOpen || r.Kind == inspect.KindStreamClose) {
		// What the upstream gets is the TCP form; what the client sent was its frame.
		r.SetOriginal(s.ws.TakeSpecial())
	}
	return r
}

// recOf returns the record of an event read in direction dir, or nil without a Sink (so
// that forwarding copies nothing when nothing is recorded).
func (s *session) recOf(ev inspect.Event, dir inspect.Direction) *inspect.Record {
	if s.p.cfg.Sink == nil {
		return nil
	}
	return s.rec(ev, dir)
}

// noteRec makes a connection record (note, open, close) with a message.
func (s *session) noteRec(kind inspect.Kind, format string, args ...any) *inspect.Record {
	return (&inspect.Record{Time: time.Now(), Conn: s.info, Kind: kind}).WithNote(fmt.Sprintf(format, args...))
}

// milestone records a typed step of the negotiation, with its sentence for a person.
func (s *session) milestone(m inspect.Milestone, format string, args ...any) {
	s.emit(milestoneRec(s.noteRec(inspect.KindNote, format, args...), m))
}

func milestoneRec(r *inspect.Record, m inspect.Milestone) *inspect.Record {
	r.SetMilestone(&m)
	return r
}

// tlsMilestone describes a finished handshake on a leg ("client" or "upstream").
func tlsMilestone(leg string, st *tls.ConnectionState, direct bool) inspect.Milestone {
	m := inspect.Milestone{Kind: inspect.MilestoneTLS, Leg: leg, Direct: direct}
	if st != nil {
		m.Version, m.Cipher, m.SNI = tls.VersionName(st.Version), tls.CipherSuiteName(st.CipherSuite), st.ServerName
	}
	return m
}

// note records a milestone of the connection.
func (s *session) note(format string, args ...any) {
	s.emit(s.noteRec(inspect.KindNote, format, args...))
}

// ownRec is proxyRec, or nil when nothing is recorded.
func (s *session) ownRec(dir inspect.Direction, kind inspect.Kind, raw []byte) *inspect.Record {
	if s.p.cfg.Sink == nil {
		return nil
	}
	return s.proxyRec(dir, kind, raw)
}

// proxyRec records bytes the proxy itself sent in direction dir.
func (s *session) proxyRec(dir inspect.Direction, kind inspect.Kind, raw []byte) *inspect.Record {
	return &inspect.Record{Time: time.Now(), Conn: s.info, Dir: dir, Kind: kind,
		Raw: append([]byte(nil), raw...), Name: inspect.TopName(raw), Header: s.hdr[dir].Load(), Verdict: inspect.Injected,
		Origin: inspect.OriginProxy}
}

func (s *session) emit(r *inspect.Record) {
	s.ofSession(r, s.plainUp.Load())
	s.p.emit(r)
}

// ofSession gives r what every record of the session carries: its connection, and the
// tag of a plaintext upstream leg (plain).
func (s *session) ofSession(r *inspect.Record, plain bool) {
	if r.Conn == nil {
		r.Conn = s.info
	}
	if plain {
		r.AddTag(plainUpstreamTag) // in a fresh array: the tags may be a rule's outcome
	}
}

// emitAll hands on records made before the connection's info was known, together.
func (s *session) emitAll(rs []*inspect.Record) {
	for _, r := range rs {
		r.Conn = s.info
	}
	s.emitBatch(rs)
}

// emitBatch is emit for records that come together (those of one write toward a peer):
// a sink chain takes them in one call (inspect.BatchSink), paying its fixed costs of a
// record (its lock, the wake-ups of its outputs) once for them all. The records of rs
// belong to the sink afterwards, and the sink may replace them in rs (see
// inspect.BatchSink): the caller only reuses the slice.
func (s *session) emitBatch(rs []*inspect.Record) {
	plain := s.plainUp.Load()
	for _, r := range rs {
		s.ofSession(r, plain)
	}
	if sink := s.p.cfg.Sink; sink != nil && len(rs) > 0 {
		inspect.WriteBatch(sink, rs)
	}
}

// tlsSummary describes a finished handshake for the log.
func tlsSummary(st *tls.ConnectionState) string {
	if st == nil {
		return "none"
	}
	s := tls.VersionName(st.Version) + ", " + tls.CipherSuiteName(st.CipherSuite)
	if st.ServerName != "" {
		s += ", SNI " + st.ServerName
	}
	return s
}
