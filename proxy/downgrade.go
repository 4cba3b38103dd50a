package proxy

import (
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// The upstream leg is never weaker than the client leg. A man-in-the-middle on the
// upstream path can remove <starttls/> from the server's features; if the proxy then gave
// the client TLS of its own, the client would see verified TLS while its credentials
// crossed the upstream leg in clear. So, unless Config.AllowPlaintextUpstream:
//   - a Direct TLS client whose upstream offers no STARTTLS is refused with
//     policy-violation before any of its stanzas reaches the upstream (its bytes wait for
//     upReady);
//   - a plaintext client whose upstream offers no STARTTLS is offered none either (the
//     features pass as the server sent them, both legs stay plaintext), and if it asks for
//     STARTTLS all the same it gets <failure/> and policy-violation;
//   - an upstream that answers a forwarded <starttls/> with <failure/> ends the
//     connection, as RFC 6120 section 5.4.2.2 says it must.
// With AllowPlaintextUpstream the connection goes on, Logf gets a warning and every
// record from then on carries the plaintext-upstream tag.

// A refused downgrade ends the stream with policy-violation. RFC 6120 section
// 4.9.3.14: the entity has violated some local service policy, which the text may name. The
// proxy's policy is that the upstream leg is never weaker than the client leg; the client
// did nothing wrong, but no other condition fits better: remote-connection-failed says the
// upstream could not be reached (it was), and undefined-condition needs an
// application-specific condition a client would not know.

// Texts of the stream errors, for a person reading the client's log.
const (
	textPlainUpstream = "stanzascope will not carry a TLS connection over a plaintext connection to the upstream server: the upstream offered no STARTTLS (a man-in-the-middle may have removed it)"
	whyPlainUpstream  = "the upstream server offers no TLS, so stanzascope cannot give the client TLS that continues upstream"
)

// settleUpstream lets a Direct TLS client's stanzas through: the upstream leg is TLS now,
// or allowed to be plaintext.
func (s *session) settleUpstream() {
	s.upReadyOnce.Do(func() { close(s.upReady) })
}

// waitUpstream holds the c2s pipe of a Direct TLS client until the upstream leg is
// settled, so that nothing the client sends before it (a pipelined <auth/>) can cross a
// plaintext upstream leg or interleave with the proxy's own STARTTLS toward the upstream.
// An upstream that does not get there within the setup timeout ends the connection: the
// client is not read meanwhile, so its idle timeout cannot.
func (s *session) waitUpstream() error {
	if !s.direct && s.ws == nil {
		return nil
	}
	t := time.NewTimer(s.p.cfg.SetupTimeout)
	defer t.Stop()
	select {
	case <-s.upReady:
		return nil
	case <-s.s2cDone:
		return errPeerGone
	case <-t.C:
		s.fail("the upstream did not answer with its stream features within %v (setup timeout); remote-connection-failed sent to the client", s.p.cfg.SetupTimeout)
		s.streamErrorTo(s.client, inspect.CondRemoteConnectionFailed, "the upstream server did not answer in time")
		return errHandled
	}
}

// allowPlainUpstream marks a connection whose upstream leg stays plaintext while its
// client leg is TLS, as Config.AllowPlaintextUpstream allows: a warning in the log, and
// the tag on every record from now on.
func (s *session) allowPlainUpstream(why string) {
	s.plainUp.Store(true)
	s.fail("WARNING: %s, but the upstream offers no STARTTLS: its leg stays plaintext while the client's is TLS "+
		"(allowed by --allow-plaintext-upstream; every record of this connection is tagged %s)", why, PlaintextUpstreamLabel)
}

// streamErrorTo sends a stream error to one side, after a header of the proxy's own when
// that side got none yet; the side records what it wrote.
func (s *session) streamErrorTo(to *side, cond inspect.Cond, text string) {
	to.streamError(cond, text, func() []byte {
		ns, version := "", ""
		if h := s.hdr[inspect.ClientToServer].Load(); h != nil {
			ns, version = h.ContentNS, h.Version
		}
		return appendHeader(nil, to.server, s.domain, ns, version)
	})
}

// closeStreamTo closes the stream toward one side; the side records the closing tag.
func (s *session) closeStreamTo(to *side) { to.closeStream() }

// attach lets a side record what is written to it: bytes travelling in the direction
// toward it, the proxy's own made by proxyRec.
func (s *session) attach(sd *side) {
	if s.p.cfg.Sink == nil {
		return
	}
	dir := inspect.ClientToServer
	if sd == s.client {
		dir = inspect.ServerToClient
	}
	sd.emit, sd.emitBatch = s.emit, s.emitBatch
	sd.own = func(kind inspect.Kind, raw []byte) *inspect.Record { return s.proxyRec(dir, kind, raw) }
}

// emitHeld emits the record of the upstream header held for a Direct TLS client, with the
// verdict of what became of it.
func (s *session) emitHeld(verdict inspect.Verdict) {
	if r := s.heldRec; r != nil {
		s.heldRec = nil
		r.Verdict = verdict
		s.emit(r)
	}
}
