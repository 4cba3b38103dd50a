package capture

import (
	"net/netip"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// maxPending bounds the out-of-order bytes kept per direction while waiting for a missing
// segment. Beyond it the missing bytes are declared lost (a gap) and reading goes on.
const maxPending = 1 << 20

type flowState uint8

const (
	stUndecided flowState = iota // not on an XMPP port; waiting for the client's first bytes
	stXMPP                       // read as XMPP
	stTLS                        // encrypted: listed, not read
	stIgnored                    // not XMPP
	stClosed                     // ended; kept briefly so late packets are not a new flow
)

// flowKey names a TCP connection independently of the direction of a packet.
type flowKey struct{ a, b netip.AddrPort }

func keyOf(src, dst netip.AddrPort) flowKey {
	if src.Compare(dst) < 0 {
		return flowKey{src, dst}
	}
	return flowKey{dst, src}
}

// pend is an out-of-order segment waiting for the bytes before it.
type pend struct {
	seq  uint32
	data []byte
}

// half is the reassembly state of one direction.
type half struct {
	started  bool   // next is known
	next     uint32 // sequence number of the next byte to deliver
	pending  []pend // out-of-order segments, sorted by seq
	pendSize int
	acked    uint32 // highest acknowledgement the peer sent for this direction
	ackValid bool
	fin      bool
	finSeq   uint32
	midway   bool // bytes before the first delivered ones are unknown
}

// flow is one TCP connection.
type flow struct {
	state          flowState
	client, server netip.AddrPort
	info           *inspect.ConnInfo
	first, last    time.Time
	synSeen        bool
	h              [2]half       // [0] client to server, [1] server to client
	s              [2]*dirStream // the XMPP readers, created on the first bytes
	afterProceed   bool          // STARTTLS was accepted; the next bytes tell TLS or not
	hello          []byte        // TLS: the client's first bytes, for the SNI
	tlsNoted       bool
}

// defaultHeader is the namespace context for a connection picked up after its stream
// header: jabber:server on the server-to-server port, jabber:client elsewhere.
func (f *flow) defaultHeader() *inspect.Header {
	if f.server.Port() == 5269 {
		return &inspect.Header{Prefix: "stream", ContentNS: inspect.NSServer}
	}
	return nil
}

func dirOf(i int) inspect.Direction {
	if i == 0 {
		return inspect.ClientToServer
	}
	return inspect.ServerToClient
}

// seqLess reports a < b in sequence space (RFC 1982 arithmetic, 32 bits).
func seqLess(a, b uint32) bool { return int32(a-b) < 0 }

// addPending stores an out-of-order segment (copying it), keeping the list sorted.
func (h *half) addPending(seq uint32, b []byte) {
	i := len(h.pending)
	for i > 0 && seqLess(seq, h.pending[i-1].seq) {
		i--
	}
	if i > 0 && h.pending[i-1].seq == seq && len(h.pending[i-1].data) >= len(b) {
		return // a retransmission of a segment already waiting
	}
	p := pend{seq: seq, data: append([]byte(nil), b...)}
	h.pending = append(h.pending, pend{})
	copy(h.pending[i+1:], h.pending[i:])
	h.pending[i] = p
	h.pendSize += len(b)
}
