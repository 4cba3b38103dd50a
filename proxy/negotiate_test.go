package proxy

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stanzascope/stanzascope/inspect"
)

// The negotiator played without a socket, as mitmproxy's Playbook does: each step is an
// event and the exact operations it must return.

type play struct {
	by   legID
	e    nevent
	want []string
}

var (
	hdr10  = &inspect.Header{Prefix: "stream", ContentNS: inspect.NSClient, Version: "1.0", NS: map[string]string{"stream": inspect.NSStreams}}
	hdrOld = &inspect.Header{Prefix: "stream", ContentNS: inspect.NSClient, NS: map[string]string{"stream": inspect.NSStreams}}
)

// from makes the event of raw arriving from leg l.
func from(l legID, raw string) play {
	e := nevent{from: l, raw: []byte(raw), hdr: hdr10}
	switch {
	case strings.HasPrefix(raw, "<?xml") || strings.HasPrefix(raw, "<stream:stream"):
		e.kind = evHeader
		if !strings.Contains(raw, "version=") || strings.Count(raw, "version=") == 1 && strings.HasPrefix(raw, "<?xml") {
			e.hdr = hdrOld
		}
	case strings.TrimSpace(raw) == "":
		e.kind = evWhitespace
	default:
		e.kind = evStanza
		e.name = inspect.TopName(e.raw)
		e.ns = inspect.TopAttr(e.raw, "xmlns")
		if e.ns == "" {
			e.ns = inspect.NSClient
		}
		if strings.HasPrefix(raw, "<stream:") {
			e.ns = inspect.NSStreams
		}
	}
	return play{by: l, e: e}
}

// tlsUp is the event of a finished handshake on leg l (err nil: success).
func tlsUp(l legID, err error) play {
	st := &tls.ConnectionState{Version: tls.VersionTLS13, CipherSuite: tls.TLS_AES_128_GCM_SHA256, ServerName: "localhost"}
	if err != nil {
		st = nil
	}
	by := l
	if l == legClient && err == nil {
		by = legUpstream // the upstream's pipe runs the client's handshake after <proceed/>
	}
	return play{by: by, e: nevent{kind: evTLS, from: l, tlsErr: err, tlsState: st}}
}

// inProcessUp is the upstream leg secured without TLS, as an in-process link
// (Config.UpstreamInProcess).
func inProcessUp() play {
	return play{by: legUpstream, e: nevent{kind: evTLS, from: legUpstream, inProcess: true}}
}

func (p play) then(want ...string) play { p.want = want; return p }

func (p play) inPipe(l legID) play { p.by = l; return p }

var opNames = map[opKind]string{
	opForward: "forward", opSpace: "space", opAwait: "await", opIntercept: "intercept", opHold: "hold", opRelease: "release",
	opDropHeld: "drop-held", opWrite: "write", opStartTLS: "starttls", opResetReader: "reset",
	opRestartReader: "restart-reader", opRestarted: "restarted", opResume: "resume", opSettle: "settle",
	opMilestone: "milestone", opNote: "note", opFail: "fail", opPlainUpstream: "plain-upstream",
	opStreamError: "stream-error", opClose: "close", opEnd: "end",
}

var awaitNames = [...]string{awaitTLS: "tls", awaitSASL: "sasl", awaitOwnTLS: "own-tls"}

// String is how the tables write an operation.
func (o op) String() string {
	s := opNames[o.kind]
	switch o.kind {
	case opForward:
		if o.raw != nil {
			s += " edited"
		}
	case opIntercept, opDropHeld:
		s += " " + o.verdict.String()
	case opWrite:
		s += " " + o.leg.String() + " " + inspect.TopName(o.raw)
	case opStartTLS:
		s += " " + o.leg.String()
		if o.fwd {
			s += " forwarding <proceed/>"
		}
	case opAwait:
		s += " " + awaitNames[o.await]
	case opSpace, opResetReader, opRestartReader, opRestarted, opClose:
		s += " " + o.leg.String()
	case opResume:
		if o.then != 0 {
			s += " then " + opNames[o.then]
		}
	case opMilestone:
		s += " " + milestoneText(o.m)
	case opStreamError:
		s += " " + o.leg.String() + " " + string(o.cond)
	}
	return s
}

const (
	featTLS    = "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>"
	featPlain  = "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>"
	featStrip  = "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-1-PLUS</mechanism><mechanism>PLAIN</mechanism></mechanisms><compression xmlns='http://jabber.org/features/compress'><method>zlib</method></compression></stream:features>"
	cHdr       = clientHeader
	sHdr       = serverHeader
	sHdrOld    = "<?xml version='1.0'?><stream:stream from='localhost' id='s1' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
	startTLSx  = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
	proceedx   = "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
	failTLSx   = "<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
	authx      = "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAHNlY3JldA==</auth>"
	successx   = "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
	saslFailx  = "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>"
	bindResult = "<iq type='result' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>alice@localhost/r</jid></bind></iq>"
)

func TestNegotiator(t *testing.T) {
	errHandshake := errors.New("remote error: tls: bad certificate")
	for _, tc := range []struct {
		name                      string
		direct, hasCA, allowPlain bool
		plays                     []play
	}{
		{
			name: "STARTTLS with the upstream an in-process link: its milestone says so, the client's leg is TLS", hasCA: true,
			plays: []play{
				from(legClient, cHdr).then("forward"),
				from(legUpstream, sHdr).then("forward"),
				from(legUpstream, featTLS).then("forward"),
				from(legClient, startTLSx).then("forward", "space client", "await tls"),
				from(legUpstream, proceedx).then("starttls upstream"),
				inProcessUp().then("milestone STARTTLS with upstream: secured as an in-process link, not encrypted (nothing leaves this process)",
					"reset upstream", "starttls client forwarding <proceed/>"),
				tlsUp(legClient, nil).then("milestone TLS with client: TLS 1.3, TLS_AES_128_GCM_SHA256, SNI localhost", "resume then reset"),
				from(legClient, cHdr).then("forward"),
			},
		},
		{
			name: "STARTTLS on both legs, features edited, SASL success, restart, bind", hasCA: true,
			plays: []play{
				from(legClient, cHdr).then("forward"),
				from(legUpstream, sHdr).then("forward"),
				from(legUpstream, featTLS).then("forward"),
				from(legClient, startTLSx).then("forward", "space client", "await tls"),
				from(legUpstream, proceedx).then("starttls upstream"),
				tlsUp(legUpstream, nil).then("milestone TLS with upstream: TLS 1.3, TLS_AES_128_GCM_SHA256, SNI localhost",
					"reset upstream", "starttls client forwarding <proceed/>"),
				tlsUp(legClient, nil).then("milestone TLS with client: TLS 1.3, TLS_AES_128_GCM_SHA256, SNI localhost", "resume then reset"),
				from(legClient, cHdr).then("forward"),
				from(legUpstream, sHdr).then("forward"),
				from(legUpstream, featStrip).then("note", "note", "forward edited"),
				from(legClient, authx).then("milestone SASL: client chose mechanism PLAIN", "forward", "space client", "await sasl"),
				from(legUpstream, successx).then("forward", "milestone SASL: success", "restart-reader upstream",
					"restarted upstream", "restarted client", "resume then restart-reader"),
				from(legClient, cHdr).then("forward"),
				from(legUpstream, sHdr).then("forward"),
				from(legUpstream, "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>").then("forward"),
				from(legUpstream, bindResult).then("milestone bound JID alice@localhost/r", "forward"),
				from(legUpstream, "<message id='m'/>").then("forward"),
				from(legUpstream, " ").then("forward"),
			},
		},
		{
			// go-sendxmpp sends "<auth>...</auth>\n", then after <success/>
			// "<?xml version='1.0'?>\n<stream:stream ...>": the "\n" is forwarded before
			// the answer, never after the restart (where Prosody finds it not well-formed).
			name: "whitespace behind <auth/> goes before the answer", hasCA: true,
			plays: []play{
				from(legClient, authx).then("milestone SASL: client chose mechanism PLAIN", "forward", "space client", "await sasl"),
				from(legClient, "\n").then("forward"),
				from(legUpstream, successx).then("forward", "milestone SASL: success", "restart-reader upstream",
					"restarted upstream", "restarted client", "resume then restart-reader"),
				from(legClient, "<?xml version='1.0'?>\n"+cHdr).then("forward"),
			},
		},
		{
			name: "whitespace behind <starttls/> goes before <proceed/>", hasCA: true,
			plays: []play{
				from(legUpstream, featTLS).then("forward"),
				from(legClient, startTLSx).then("forward", "space client", "await tls"),
				from(legClient, "\r\n").then("forward"),
				from(legUpstream, proceedx).then("starttls upstream"),
			},
		},
		{
			name: "SASL failure resumes the client", hasCA: true,
			plays: []play{
				from(legClient, authx).then("milestone SASL: client chose mechanism PLAIN", "forward", "space client", "await sasl"),
				from(legUpstream, saslFailx).then("forward", "milestone SASL: failure not-authorized", "resume"),
			},
		},
		{
			name: "plaintext upstream: no STARTTLS of the proxy's own, and a client that asks is refused", hasCA: true,
			plays: []play{
				from(legUpstream, sHdr).then("forward"),
				from(legUpstream, featPlain).then("note", "forward"),
				from(legClient, startTLSx).then("intercept intercepted", "write client failure", "fail",
					"stream-error client policy-violation", "close upstream", "end"),
			},
		},
		{
			name: "the upstream refuses STARTTLS", hasCA: true,
			plays: []play{
				from(legUpstream, featTLS).then("forward"),
				from(legClient, startTLSx).then("forward", "space client", "await tls"),
				from(legUpstream, failTLSx).then("forward", "fail", "close upstream", "end"),
			},
		},
		{
			name: "the upstream's TLS handshake fails", hasCA: true,
			plays: []play{
				from(legUpstream, featTLS).then("forward"),
				from(legClient, startTLSx).then("forward", "space client", "await tls"),
				from(legUpstream, proceedx).then("starttls upstream"),
				tlsUp(legUpstream, errHandshake).then("intercept intercepted", "fail",
					"stream-error client remote-connection-failed", "restarted upstream", "end"),
			},
		},
		{
			name: "no CA: STARTTLS removed from the features, refused when asked",
			plays: []play{
				from(legUpstream, featTLS).then("note", "forward edited"),
				from(legClient, startTLSx).then("intercept intercepted", "write client failure", "fail",
					"stream-error client policy-violation", "end"),
			},
		},
		{
			name: "STARTTLS answered by the proxy (allowed plaintext upstream)", hasCA: true, allowPlain: true,
			plays: []play{
				from(legClient, cHdr).then("forward"),
				from(legUpstream, sHdr).then("forward"),
				from(legUpstream, featPlain).then("note", "forward edited"),
				from(legClient, startTLSx).then("intercept intercepted", "plain-upstream", "starttls client"),
				tlsUp(legClient, nil).inPipe(legClient).then("milestone TLS with client: TLS 1.3, TLS_AES_128_GCM_SHA256, SNI localhost", "reset client"),
				from(legClient, cHdr).then("intercept intercepted", "note", "write client stream", "write client features"),
				from(legClient, authx).then("milestone SASL: client chose mechanism PLAIN", "forward", "space client", "await sasl"),
			},
		},
		{
			name: "the client's TLS handshake fails", hasCA: true, allowPlain: true,
			plays: []play{
				from(legUpstream, featPlain).then("note", "forward edited"),
				from(legClient, startTLSx).then("intercept intercepted", "plain-upstream", "starttls client"),
				tlsUp(legClient, errHandshake).inPipe(legClient).then("fail", "end"),
			},
		},
		{
			name: "Direct TLS: the proxy's own STARTTLS upstream", direct: true, hasCA: true,
			plays: []play{
				from(legClient, cHdr).then("forward"), // setup writes it; the negotiator keeps it
				from(legUpstream, sHdr).then("hold"),
				from(legUpstream, "\n").then("intercept intercepted"),
				from(legUpstream, featTLS).then("drop-held intercepted", "intercept intercepted", "note", "write upstream starttls"),
				from(legUpstream, " ").then("intercept intercepted"),
				from(legUpstream, proceedx).then("intercept intercepted", "starttls upstream"),
				tlsUp(legUpstream, nil).then("milestone TLS with upstream: TLS 1.3, TLS_AES_128_GCM_SHA256, SNI localhost",
					"reset upstream", "write upstream stream", "settle"),
				from(legUpstream, sHdr).then("forward"),
				from(legUpstream, featStrip).then("note", "note", "forward edited"),
			},
		},
		{
			name: "Direct TLS refused: no STARTTLS upstream", direct: true, hasCA: true,
			plays: []play{
				from(legUpstream, sHdr).then("hold"),
				from(legUpstream, featPlain).then("drop-held dropped", "intercept dropped", "fail",
					"stream-error client policy-violation", "close upstream", "end"),
			},
		},
		{
			name: "Direct TLS allowed over a plaintext upstream", direct: true, hasCA: true, allowPlain: true,
			plays: []play{
				from(legUpstream, sHdr).then("hold"),
				from(legUpstream, featPlain).then("plain-upstream", "release", "settle", "forward"),
			},
		},
		{
			name: "Direct TLS refused: a pre-1.0 upstream", direct: true, hasCA: true,
			plays: []play{
				from(legUpstream, sHdrOld).then("intercept dropped", "fail", "stream-error client policy-violation", "close upstream", "end"),
			},
		},
		{
			name: "Direct TLS allowed over a pre-1.0 upstream", direct: true, hasCA: true, allowPlain: true,
			plays: []play{
				from(legUpstream, sHdrOld).then("plain-upstream", "settle", "forward"),
			},
		},
		{
			name: "stream error from the upstream",
			plays: []play{
				from(legUpstream, "<stream:error><system-shutdown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>").then("note", "forward"),
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := newNegotiator(tc.direct, tc.hasCA, tc.allowPlain)
			for i, p := range tc.plays {
				ops := n.handle(p.by, p.e)
				got := make([]string, len(ops))
				for j, o := range ops {
					got[j] = o.String()
				}
				if fmt.Sprint(got) != fmt.Sprint(p.want) {
					t.Fatalf("step %d (%s %q):\n got %q\nwant %q", i, p.e.from, p.e.raw, got, p.want)
				}
			}
		})
	}
}

// What the negotiator edits: the features a plaintext client of an upstream without TLS
// gets when the proxy answers STARTTLS itself, and what it replays after that TLS.
func TestNegotiatorReplay(t *testing.T) {
	n := newNegotiator(false, true, true)
	n.handle(legUpstream, from(legUpstream, sHdr).e)
	ops := n.handle(legUpstream, from(legUpstream, featPlain).e)
	edited := string(ops[len(ops)-1].raw)
	if !strings.Contains(edited, "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'") {
		t.Fatalf("the client is offered no STARTTLS: %s", edited)
	}
	n.handle(legClient, from(legClient, startTLSx).e)
	n.handle(legClient, tlsUp(legClient, nil).e)
	ops = n.handle(legClient, from(legClient, cHdr).e)
	if got := string(ops[2].raw) + string(ops[3].raw); got != sHdr+featPlain {
		t.Errorf("replayed %q, want the upstream's header and features as it sent them", got)
	}
}
