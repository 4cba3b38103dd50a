package proxy

import (
	"bytes"
	"crypto/tls"
	"fmt"

	"github.com/stanzascope/stanzascope/inspect"
)

// The proxy's negotiation (STARTTLS on two legs, Direct TLS, SASL, restarts) is a sans-IO
// state machine, as mitmproxy's layers are: the negotiator takes events (a header or a
// stanza from either leg, the result of a TLS handshake) and returns operations (forward,
// write the proxy's own bytes, start TLS on a leg, restart or reset a reader, wait for or
// resume the client's pipe, record a milestone, close with a stream error). It touches no
// socket; the two pipes execute what it returns (exec.go), and negotiate_test.go plays
// whole negotiations through it without one.

// legID names a leg of a proxied connection.
type legID uint8

const (
	legClient legID = iota + 1
	legUpstream
)

func (l legID) String() string {
	if l == legClient {
		return "client"
	}
	return "upstream"
}

// evKind is what an event to the negotiator is.
type evKind uint8

const (
	evHeader     evKind = iota + 1 // a stream header from a leg
	evStanza                       // a top-level element from a leg
	evWhitespace                   // whitespace between stanzas from a leg
	evTLS                          // a TLS handshake on a leg ended (tlsErr, tlsState)
)

// nevent is one event for the negotiator.
type nevent struct {
	kind     evKind
	from     legID // the leg the bytes came from; for evTLS, the leg of the handshake
	name, ns string
	raw      []byte
	hdr      *inspect.Header // the stream header in force on the leg (evStanza, evHeader)
	tlsErr   error
	tlsState *tls.ConnectionState
	// inProcess: the upstream leg was secured without TLS, being an in-process link
	// (Config.UpstreamInProcess).
	inProcess bool
}

// opKind is what an operation of the negotiator asks a pipe to do.
type opKind uint8

const (
	opForward       opKind = iota + 1 // pass the event on through the rules (raw: edited bytes)
	opSpace                           // forward the whitespace that leg's reader already holds behind the event (before opAwait)
	opAwait                           // the client's pipe waits for the upstream's answer (await) if the last forward left
	opIntercept                       // record the event as handled by the proxy (verdict), do not forward it
	opHold                            // keep the upstream's header back from the client (Direct TLS)
	opRelease                         // write the held header to the client
	opDropHeld                        // record the held header with verdict, never write it
	opWrite                           // write the proxy's own bytes raw (a header when open) to leg
	opStartTLS                        // TLS on leg: as a client upstream; toward the client, after writing raw (fwd: the upstream's <proceed/>)
	opResetReader                     // the leg's reader starts over on its TLS connection
	opRestartReader                   // the leg's reader expects a new header on the same bytes
	opRestarted                       // the stream toward leg is replaced: no closing tag until its next header
	opResume                          // the client's pipe may read on; then: opResetReader, opRestartReader or 0
	opSettle                          // a Direct TLS client's bytes may go to the upstream
	opMilestone                       // record a typed milestone
	opNote                            // record a note for a person
	opFail                            // log and record a failure
	opPlainUpstream                   // the upstream leg stays plaintext under a TLS client leg (allowed): warn and tag
	opStreamError                     // a stream error (cond, text) to leg
	opClose                           // a closing tag to leg
	opEnd                             // the connection ends here (handled)
)

// op is one operation.
type op struct {
	kind    opKind
	leg     legID
	raw     []byte
	open    bool      // opWrite: raw is a stream header
	fwd     bool      // opStartTLS toward the client: raw is the event's own bytes, forwarded
	await   awaitKind // opAwait: the answer waited for
	then    opKind    // opResume: what the client's pipe does before reading on
	verdict inspect.Verdict
	cond    inspect.Cond
	text    string
	m       inspect.Milestone
}

// negotiator holds the state of one connection's negotiation. It is not safe for
// concurrent use: the session calls it under its lock. Each direction has its own buffer
// of operations, so that the ops a pipe executes are not overwritten by the other pipe.
type negotiator struct {
	direct, hasCA, allowPlain bool
	ws                        bool // the client is a WebSocket: it cannot STARTTLS (websocket.go)

	clientTLS, upTLS bool
	mode             tlsMode
	why              string
	await            awaitKind
	authenticated    bool
	replay           bool   // the client's next header is answered with the replay
	replayHdr        []byte // the upstream's last header
	replayFeat       []byte // its features, without a STARTTLS the proxy added
	clientHdr        []byte // the client's last header, sent again after the proxy's own STARTTLS
	upTLSTried       bool
	holding          bool   // the upstream's header is held (Direct TLS)
	proceed          []byte // the upstream's <proceed/>, forwarded once the upstream leg is TLS
	plainUp          bool
	bound            string

	buf [3][]op // by the leg whose pipe runs the call
}

func newNegotiator(direct, hasCA, allowPlain bool) *negotiator {
	return &negotiator{direct: direct, clientTLS: direct, hasCA: hasCA, allowPlain: allowPlain}
}

// handle returns what to do about e. by is the leg whose pipe calls (the TLS events of
// the upstream leg come from the upstream's pipe). The slice is valid until by's next call.
func (n *negotiator) handle(by legID, e nevent) []op {
	ops := n.buf[by][:0]
	switch {
	case e.kind == evTLS:
		ops = n.tlsDone(ops, e)
	case e.from == legClient:
		ops = n.fromClient(ops, e)
	default:
		ops = n.fromUpstream(ops, e)
	}
	n.buf[by] = ops
	return ops
}

func (n *negotiator) fromClient(ops []op, e nevent) []op {
	switch e.kind {
	case evHeader:
		if n.replay {
			// The client's new stream after TLS that the proxy answered itself: the
			// upstream's stream goes on, so the client gets a copy of its header and
			// features instead.
			n.replay = false
			return append(ops, op{kind: opIntercept, verdict: inspect.Intercepted},
				op{kind: opNote, text: "stream restart after TLS with the proxy: header not forwarded, the upstream's header and features are repeated to the client"},
				op{kind: opWrite, leg: legClient, raw: n.replayHdr, open: true},
				op{kind: opWrite, leg: legClient, raw: n.replayFeat})
		}
		n.clientHdr = append(n.clientHdr[:0], e.raw...)
		return append(ops, op{kind: opForward})
	case evStanza:
	default:
		return append(ops, op{kind: opForward})
	}
	switch inspect.After(e.name, e.ns) {
	case inspect.NextMaybeTLS:
		return n.clientStartTLS(ops)
	case inspect.NextMaybeRestart:
		if e.name == "auth" {
			mech := inspect.TopAttr(e.raw, "mechanism")
			ops = append(ops, op{kind: opMilestone, m: inspect.Milestone{Kind: inspect.MilestoneSASL, Mechanism: mech, Result: inspect.SASLChosen}})
		}
		// The client's whitespace already read behind it leaves before the wait
		// (opSpace): held until after <success/>, it would reach the server on the
		// restarted stream, before the new XML declaration, where it is not
		// well-formed (go-sendxmpp sends "<auth>...</auth>\n").
		n.await = awaitSASL
		return append(ops, op{kind: opForward}, op{kind: opSpace, leg: legClient}, op{kind: opAwait, await: awaitSASL})
	}
	return append(ops, op{kind: opForward})
}

// notForwarded says that a stanza whose answer was awaited did not leave (a rule dropped it):
// no answer will come.
func (n *negotiator) notForwarded() { n.await = awaitNone }

// clientStartTLS decides about the client's <starttls/> by what the features offered.
func (n *negotiator) clientStartTLS(ops []op) []op {
	switch n.mode {
	case tlsForward:
		n.await = awaitTLS
		return append(ops, op{kind: opForward}, op{kind: opSpace, leg: legClient}, op{kind: opAwait, await: awaitTLS})
	case tlsLocal:
		n.plainUp, n.replay = true, true
		return append(ops, op{kind: opIntercept, verdict: inspect.Intercepted},
			op{kind: opPlainUpstream, text: "the client asked for STARTTLS, answered by the proxy"},
			op{kind: opStartTLS, leg: legClient, raw: proceedTLS})
	}
	why := n.why
	if why == "" {
		why = "STARTTLS was not offered"
	}
	ops = append(ops, op{kind: opIntercept, verdict: inspect.Intercepted},
		op{kind: opWrite, leg: legClient, raw: failureTLS})
	if why == whyPlainUpstream {
		return n.refusePlain(ops, "the client asked for STARTTLS")
	}
	return append(ops, op{kind: opFail, text: "the client asked for STARTTLS: refused (" + why + "); <failure/> and policy-violation sent"},
		op{kind: opStreamError, leg: legClient, cond: inspect.CondPolicyViolation, text: "stanzascope: " + why},
		op{kind: opEnd})
}

// refusePlain ends a connection whose client leg is TLS, or asked for it, when the
// upstream leg cannot be (see downgrade.go).
func (n *negotiator) refusePlain(ops []op, what string) []op {
	return append(ops, op{kind: opFail, text: "refused: " + what + ", but the upstream offers no STARTTLS (a man-in-the-middle may have removed it); " +
		"policy-violation sent to the client (--allow-plaintext-upstream would let it through with a plaintext upstream leg)"},
		op{kind: opStreamError, leg: legClient, cond: inspect.CondPolicyViolation, text: textPlainUpstream},
		op{kind: opClose, leg: legUpstream},
		op{kind: opEnd})
}

func (n *negotiator) fromUpstream(ops []op, e nevent) []op {
	switch e.kind {
	case evHeader:
		n.replayHdr = append(n.replayHdr[:0], e.raw...)
		if !n.direct || n.upTLSTried || n.upTLS {
			return append(ops, op{kind: opForward})
		}
		if e.hdr.Legacy() {
			// A pre-1.0 stream has no features, so no STARTTLS: the upstream leg cannot be TLS.
			n.upTLSTried = true
			if n.ws && !n.clientTLS {
				// A WebSocket client over plain http: both legs plaintext, neither weaker.
				return append(ops, op{kind: opSettle}, op{kind: opForward})
			}
			if !n.allowPlain {
				return n.refusePlain(append(ops, op{kind: opIntercept, verdict: inspect.Dropped}), "the client uses Direct TLS")
			}
			n.plainUp = true
			return append(ops, op{kind: opPlainUpstream, text: "the client uses Direct TLS"}, op{kind: opSettle}, op{kind: opForward})
		}
		// The client already speaks TLS: hold the header until the features say whether
		// the proxy can secure the upstream leg before the client sees anything.
		n.holding = true
		return append(ops, op{kind: opHold})
	case evWhitespace:
		if n.holding || n.await == awaitOwnTLS {
			return append(ops, op{kind: opIntercept, verdict: inspect.Intercepted})
		}
		return append(ops, op{kind: opForward})
	case evStanza:
	default:
		return append(ops, op{kind: opForward})
	}
	switch {
	case e.ns == inspect.NSStreams && e.name == "features":
		return n.features(ops, e)
	case inspect.After(e.name, e.ns) == inspect.NextTLS:
		switch n.await {
		case awaitTLS:
			n.await, n.proceed = awaitNone, append(n.proceed[:0], e.raw...)
			return append(ops, op{kind: opStartTLS, leg: legUpstream})
		case awaitOwnTLS:
			n.await = awaitNone
			return append(ops, op{kind: opIntercept, verdict: inspect.Intercepted}, op{kind: opStartTLS, leg: legUpstream})
		}
	case e.ns == inspect.NSTLS && e.name == "failure":
		switch n.await {
		case awaitTLS:
			// The client asked for TLS and cannot have it; RFC 6120 section 5.4.2.2 says
			// the stream ends here, and the proxy makes sure it does, so that nothing
			// more of the client's crosses the plaintext legs.
			n.await = awaitNone
			return append(ops, op{kind: opForward},
				op{kind: opFail, text: "the upstream refused STARTTLS (<failure/> forwarded to the client): connection closed"},
				op{kind: opClose, leg: legUpstream}, op{kind: opEnd})
		case awaitOwnTLS:
			n.await = awaitNone
			return n.upstreamTLSFailed(append(ops, op{kind: opIntercept, verdict: inspect.Intercepted}),
				fmt.Errorf("upstream answered <%s/> to <starttls/>", e.name))
		}
	case inspect.After(e.name, e.ns) == inspect.NextRestart:
		// Both sides start new streams on the same connections (RFC 6120 6.4.6).
		n.authenticated = true
		ops = append(ops, op{kind: opForward},
			op{kind: opMilestone, m: inspect.Milestone{Kind: inspect.MilestoneSASL, Result: inspect.SASLSuccess}},
			op{kind: opRestartReader, leg: legUpstream},
			op{kind: opRestarted, leg: legUpstream}, op{kind: opRestarted, leg: legClient})
		if n.await == awaitSASL {
			n.await = awaitNone
			ops = append(ops, op{kind: opResume, then: opRestartReader})
		}
		return ops
	case e.ns == inspect.NSSASL && (e.name == "challenge" || e.name == "failure"):
		ops = append(ops, op{kind: opForward})
		if e.name == "failure" {
			ops = append(ops, op{kind: opMilestone, m: inspect.Milestone{Kind: inspect.MilestoneSASL, Result: inspect.SASLFailure, Condition: firstChild(e.raw, e.hdr)}})
		}
		if n.await == awaitSASL {
			n.await = awaitNone
			ops = append(ops, op{kind: opResume})
		}
		return ops
	case e.ns == inspect.NSStreams && e.name == "error":
		ops = append(ops, op{kind: opNote, text: "upstream sent a stream error: " + firstChild(e.raw, e.hdr)})
	case e.name == "iq" && bytes.Contains(e.raw, bindNS):
		if jid := boundJIDOf(e.raw, e.hdr); jid != "" {
			n.bound = jid
			ops = append(ops, op{kind: opMilestone, m: inspect.Milestone{Kind: inspect.MilestoneBound, JID: jid}})
		}
	}
	return append(ops, op{kind: opForward})
}

// ownTLSNote says why the proxy negotiates STARTTLS with the upstream itself.
func (n *negotiator) ownTLSNote() string {
	if n.ws {
		return "client uses WebSocket: the proxy negotiates STARTTLS with the upstream itself"
	}
	return "client uses Direct TLS: the proxy negotiates STARTTLS with the upstream itself"
}

// clientSecureWhat names how the client leg is secured, for the downgrade refusal.
func (n *negotiator) clientSecureWhat() string {
	if n.ws {
		return "the client uses WebSocket over TLS (https)"
	}
	return "the client uses Direct TLS"
}

// features decides about <stream:features> from the upstream: first, for a held Direct TLS
// header, whether the upstream leg can be secured; then what to edit (editFeatures).
func (n *negotiator) features(ops []op, e nevent) []op {
	if n.holding {
		n.holding, n.upTLSTried = false, true
		if el, err := inspect.ParseElement(e.raw, e.hdr); err == nil && el.Child(inspect.NSTLS, "starttls") != nil {
			n.await = awaitOwnTLS
			return append(ops, op{kind: opDropHeld, verdict: inspect.Intercepted},
				op{kind: opIntercept, verdict: inspect.Intercepted},
				op{kind: opNote, text: n.ownTLSNote()},
				op{kind: opWrite, leg: legUpstream, raw: startTLS})
		}
		switch {
		case n.ws && !n.clientTLS:
			// A WebSocket client over plain http: both legs plaintext, neither weaker.
			ops = append(ops, op{kind: opRelease}, op{kind: opSettle})
		case !n.allowPlain:
			return n.refusePlain(append(ops, op{kind: opDropHeld, verdict: inspect.Dropped}, op{kind: opIntercept, verdict: inspect.Dropped}),
				n.clientSecureWhat())
		default:
			n.plainUp = true
			ops = append(ops, op{kind: opPlainUpstream, text: n.clientSecureWhat()}, op{kind: opRelease}, op{kind: opSettle})
		}
	}
	fe := n.editFeatures(e.raw, e.hdr)
	n.mode, n.why = fe.mode, fe.why
	switch {
	case fe.base != nil:
		n.replayFeat = fe.base
	case fe.out != nil:
		n.replayFeat = fe.out
	default:
		n.replayFeat = append([]byte(nil), e.raw...)
	}
	for _, t := range fe.notes {
		ops = append(ops, op{kind: opNote, text: t})
	}
	return append(ops, op{kind: opForward, raw: fe.out})
}

// tlsDone goes on after a handshake: the upstream's first (then the client's, with the
// upstream's <proceed/>), or the proxy's own toward either.
func (n *negotiator) tlsDone(ops []op, e nevent) []op {
	if e.from == legUpstream {
		if e.tlsErr != nil {
			if n.proceed != nil { // the upstream's <proceed/> never reaches the client
				n.proceed = nil
				ops = append(ops, op{kind: opIntercept, verdict: inspect.Intercepted})
			}
			return n.upstreamTLSFailed(ops, e.tlsErr)
		}
		n.upTLS = true
		m := tlsMilestone("upstream", e.tlsState, false)
		m.InProcess = e.inProcess
		ops = append(ops, op{kind: opMilestone, m: m},
			op{kind: opResetReader, leg: legUpstream})
		if n.proceed != nil {
			p := n.proceed
			n.proceed = nil
			return append(ops, op{kind: opStartTLS, leg: legClient, raw: p, fwd: true})
		}
		// The proxy's own STARTTLS for a Direct TLS client: the client's header again.
		return append(ops, op{kind: opWrite, leg: legUpstream, raw: n.clientHdr, open: true}, op{kind: opSettle})
	}
	if e.tlsErr != nil {
		return append(ops, op{kind: opFail, text: "client TLS handshake failed (does the client trust the stanzascope CA? see 'stanzascope ca'): " + e.tlsErr.Error()},
			op{kind: opEnd})
	}
	n.clientTLS = true
	ops = append(ops, op{kind: opMilestone, m: tlsMilestone("client", e.tlsState, false)})
	if n.replay { // answered by the proxy, in the client's own pipe
		return append(ops, op{kind: opResetReader, leg: legClient})
	}
	return append(ops, op{kind: opResume, then: opResetReader})
}

// upstreamTLSFailed tells the client the upstream cannot be reached securely.
func (n *negotiator) upstreamTLSFailed(ops []op, err error) []op {
	return append(ops, op{kind: opFail, text: "TLS with the upstream failed (remote-connection-failed sent to the client): " + err.Error()},
		op{kind: opStreamError, leg: legClient, cond: inspect.CondRemoteConnectionFailed, text: "stanzascope could not secure the connection to the upstream server"},
		op{kind: opRestarted, leg: legUpstream},
		op{kind: opEnd})
}

// firstChild returns the name of the first child element (the condition of a SASL failure
// or a stream error), for the log.
func firstChild(raw []byte, h *inspect.Header) string {
	el, err := inspect.ParseElement(raw, h)
	if err != nil {
		return "(unparsable)"
	}
	if c := el.FirstElement(); c != nil {
		return c.Local
	}
	return "(no condition)"
}

// boundJIDOf returns the JID of a resource binding result (RFC 6120 section 7.6.1), or "".
func boundJIDOf(raw []byte, h *inspect.Header) string {
	if inspect.TopAttr(raw, "type") != "result" {
		return ""
	}
	el, err := inspect.ParseElement(raw, h)
	if err != nil {
		return ""
	}
	if b := el.Child(inspect.NSBind, "bind"); b != nil {
		if j := b.Child(inspect.NSBind, "jid"); j != nil {
			return j.Text()
		}
	}
	return ""
}
