// Package proxy is stanzascope's XMPP middlebox: it accepts client connections, opens a
// second connection to an upstream server, intercepts TLS on both legs, re-parses both
// directions stanza by stanza, offers each stanza to a Hook (the rules engine) and gives
// every event to a Sink (printers, logs), forwarding unchanged stanzas byte for byte.
package proxy

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/proxy/ca"
	"github.com/stanzascope/stanzascope/rules"
)

// Config configures a Proxy. Only one of Upstream and Dial is needed.
type Config struct {
	// Upstream is the server to connect to: HOST:PORT, or HOST alone, which is resolved
	// with the _xmpp-client._tcp SRV record (RFC 6120 section 3.2) with fallback to port
	// 5222.
	Upstream string
	// Node names this proxy among several (behind one load balancer): every record's
	// connection carries it (inspect.ConnInfo.Node, "node" in the JSON log), so that the
	// logs of the proxies merge with their connections apart. "" for a proxy alone.
	Node string
	// Dial, when set, opens the upstream connection instead of Upstream (for example to
	// the embedded switch). ConnID(ctx) tells which connection it is for.
	Dial func(ctx context.Context) (net.Conn, error)
	// AfterDial, when set, is called with each new upstream connection before anything
	// else is written to it (for example to write a PROXY protocol header, which no record
	// carries); its error fails the dial. ClientAddr(ctx) tells whose connection it is.
	AfterDial func(ctx context.Context, c net.Conn) error
	// Resolver looks up SRV records; nil means net.DefaultResolver. When it also has a
	// LookupHost method, host names are resolved with it too (tests use this so no query
	// leaves the machine).
	Resolver Resolver
	// CA signs the certificates the proxy presents to clients. Without it the proxy
	// cannot intercept TLS: it removes STARTTLS from the features it forwards and ServeTLS
	// fails.
	CA *ca.CA
	// UpstreamTLS is the TLS client configuration toward the upstream (roots,
	// InsecureSkipVerify). ServerName, when empty, is set per stream from the stream's to.
	// nil means the system roots.
	UpstreamTLS *tls.Config
	// UpstreamInProcess says that Dial reaches a server in this process over a link that
	// never leaves its memory (the embedded switch over switch/local, configured with
	// server.Config.InProcessLink): after the upstream's <proceed/>, the upstream leg is
	// taken as secured without a TLS handshake, as the server takes it, so that nothing is
	// encrypted memory to memory. The exchange (<starttls/>, <proceed/>, the new stream and
	// its features) stays what it is; the leg's TLS milestone says InProcess instead of a
	// version and cipher. Never for a connection that leaves the process.
	UpstreamInProcess bool
	// Hook decides the fate of each stanza; nil forwards everything unchanged.
	Hook Hook
	// Sink receives every record. It must be safe for concurrent use (inspect.Chain is).
	// It may block while a lossless output catches up: that is the backpressure that
	// slows the traffic down instead of losing a log record. nil discards records.
	Sink inspect.Sink
	// Limits bound what each peer can make a reader hold.
	Limits inspect.Limits
	// Logf receives operational messages (failures, refused connections); nil means
	// log.Printf.
	Logf func(format string, args ...any)
	// IdleTimeout closes a connection whose client has sent nothing (not even a
	// whitespace keep-alive) for this long, with a connection-timeout stream error to the
	// client and a closing tag to the upstream; zero means no limit.
	IdleTimeout time.Duration
	// AllowPlaintextUpstream lets a connection go on when its client leg is TLS (Direct
	// TLS, or STARTTLS) and the upstream offers no STARTTLS, so that the upstream leg is
	// plaintext. Every record of such a connection, from the moment the proxy knows, carries
	// the tag PlaintextUpstreamLabel, and Logf gets a warning. Without it the proxy never lets
	// the upstream leg be weaker than the client leg: such a connection is refused with a
	// policy-violation stream error, and a plaintext client is offered no STARTTLS that the
	// upstream could not continue.
	AllowPlaintextUpstream bool
	// WriteTimeout bounds every write toward either side. A side that has not taken a
	// write within it has stopped reading: its connection is closed, the other side gets a
	// clean close, and the log says why. What waits for one side is bounded in bytes too:
	// at most 32 KiB plus one stanza are queued; beyond that the pipe waits for the write,
	// which slows the other side down through TCP. Zero means DefaultWriteTimeout.
	WriteTimeout time.Duration
	// SetupTimeout bounds the time from accept to the client's stream header, a Direct TLS
	// handshake included; zero means DefaultSetupTimeout. A client that does not make it
	// gets connection-timeout and a record; Logf gets the first such line at once and then
	// one summary line per interval, so that many silent connections (slowloris) do not
	// print a line each.
	SetupTimeout time.Duration
	// KeyLogWriter, when set, receives the TLS secrets of both legs (the client's and the
	// upstream's) in the SSLKEYLOGFILE format (crypto/tls Config.KeyLogWriter), so that
	// Wireshark can decrypt a capture taken beside the proxy. Anyone who reads it can
	// decrypt the traffic: for debugging only.
	KeyLogWriter io.Writer
	// Stats, if set, is where the proxy counts the connections it accepts and holds, for
	// an operator (see Stats); nil keeps them private.
	Stats *Stats
	// HoldTimeout is how long a stanza held at a breakpoint (see Control) waits for a
	// decision before it is released unchanged, so that a forgotten breakpoint never
	// stalls a session for good; zero means DefaultHoldTimeout.
	HoldTimeout time.Duration
	// MaxHeld bounds the bytes held per connection and direction while a stanza is held:
	// the held stanza and what arrives behind it. Beyond it the pipe stops reading that
	// peer (TCP backpressure) and the record says so; zero means DefaultMaxHeld.
	MaxHeld int
	// Control is the control model (breakpoints, held stanzas, send) the proxy serves;
	// nil: one of its own (Proxy.Control). It serves one proxy.
	Control *Control
	// ShowSecrets shows held stanzas to controllers as they are; by default credentials
	// in them are redacted, as in every output.
	ShowSecrets bool
}

// DefaultHoldTimeout is the hold timeout when Config.HoldTimeout is zero.
const DefaultHoldTimeout = 5 * time.Minute

// DefaultMaxHeld is Config.MaxHeld when zero.
const DefaultMaxHeld = 1 << 20

// DefaultSetupTimeout is the setup timeout when Config.SetupTimeout is zero.
const DefaultSetupTimeout = 30 * time.Second

// DefaultWriteTimeout is the write timeout when Config.WriteTimeout is zero: long enough
// for a slow link to take 32 KiB, short enough that a client which stopped reading does
// not pin its connection.
const DefaultWriteTimeout = 10 * time.Second

// PlaintextUpstreamLabel is the label of the tag on every record of a connection whose
// upstream leg is plaintext while its client leg is TLS (allowed by
// Config.AllowPlaintextUpstream). Every output shows tags: pretty as [plaintext-upstream],
// JSON in "tags".
const PlaintextUpstreamLabel = "plaintext-upstream"

var plainUpstreamTag = inspect.Tag{Label: PlaintextUpstreamLabel, Color: "red"}

// Resolver is the part of *net.Resolver the proxy uses to find the upstream.
type Resolver interface {
	LookupSRV(ctx context.Context, service, proto, name string) (string, []*net.SRV, error)
}

// hostResolver is the optional part of a Resolver that resolves host names.
type hostResolver interface {
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// Hook is where the rules engine plugs in: it is offered each stanza and says whether to
// forward, drop, reject, replace, delay or inject. Apply is called from one goroutine per
// direction of each connection, so it must be safe for concurrent use. *rules.Engine
// implements it.
type Hook interface {
	Apply(in rules.Input) rules.Outcome
}

// HookFunc adapts a function to Hook.
type HookFunc func(in rules.Input) rules.Outcome

// Apply calls f(in).
func (f HookFunc) Apply(in rules.Input) rules.Outcome { return f(in) }

// Timeouts that bound the phases of a connection which a silent peer could stall.
const (
	dialTimeout      = 15 * time.Second // upstream connection, SRV included
	handshakeTimeout = 15 * time.Second // one TLS handshake
	closeGrace       = 5 * time.Second  // for the other side to close after one side did
	shutdownGrace    = time.Second      // for writes of closing tags at shutdown
)
