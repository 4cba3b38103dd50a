package capture

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/stanzascope/stanzascope/inspect"
)

// maxSegment is the most payload put in one synthetic segment; it keeps an IPv4 packet
// under its 64 KiB limit with headers.
const maxSegment = 65000

// Placeholders for connections whose addresses are unknown (documentation ranges).
var (
	placeholderClient = netip.MustParseAddrPort("192.0.2.1:49152")
	placeholderServer = netip.MustParseAddrPort("192.0.2.2:5222")
	macClient         = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	macServer         = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
)

// PcapWriter is a Sink that writes the bytes of the records it receives as a pcap file of
// synthetic TCP/IP packets over Ethernet, so that Wireshark and tshark can open the
// plaintext of a proxied session (the decrypted side of a TLS connection is written as if
// it were plaintext). Each connection gets a three-way handshake (at KindConnOpen, or at
// its first record), segments with correct sequence and acknowledgement numbers in both
// directions, and FIN/ACK at KindConnClose, with the records' timestamps and the real
// client and server addresses and ports.
//
// Records a rule dropped or rejected are not written (they never reached the peer);
// injected ones are. Records without a connection or without bytes (notes, errors) are
// skipped. A PcapWriter is safe for concurrent use.
type PcapWriter struct {
	mu     sync.Mutex
	bw     *bufio.Writer
	pw     *pcapgo.Writer
	conns  map[*inspect.ConnInfo]*wconn
	buf    gopacket.SerializeBuffer
	err    error // sticky: the first write error
	closed bool
}

// wconn is the TCP state of one synthetic connection.
type wconn struct {
	client, server netip.AddrPort
	next           [2]uint32 // next sequence number: [0] client, [1] server
	closed         bool
	last           time.Time
}

// NewPcapWriter writes the pcap file header to w and returns the writer. Close flushes;
// it does not close w.
func NewPcapWriter(w io.Writer) (*PcapWriter, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	pw := pcapgo.NewWriterNanos(bw)
	if err := pw.WriteFileHeader(maxFrame, layers.LinkTypeEthernet); err != nil {
		return nil, fmt.Errorf("capture: pcap header: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("capture: pcap header: %w", err)
	}
	return &PcapWriter{bw: bw, pw: pw, conns: make(map[*inspect.ConnInfo]*wconn), buf: gopacket.NewSerializeBuffer()}, nil
}

// Write writes the packets for one record into a buffer. Flush writes the buffer out; the
// sink chain calls it whenever its queue runs empty, so the file can be opened while the
// proxy runs and is written in large pieces under load.
func (p *PcapWriter) Write(r *inspect.Record) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errors.New("capture: pcap writer closed")
	}
	if p.err != nil {
		return p.err
	}
	if r.Conn == nil || !r.Verdict.Delivered() {
		return nil
	}
	ts := r.Time
	if ts.IsZero() {
		ts = time.Now()
	}
	switch r.Kind {
	case inspect.KindConnOpen:
		p.open(r.Conn, ts)
	case inspect.KindConnClose:
		if c := p.conns[r.Conn]; c != nil {
			p.close(c, ts)
			delete(p.conns, r.Conn)
		}
	case inspect.KindStreamOpen, inspect.KindStanza, inspect.KindWhitespace, inspect.KindStreamClose:
		if len(r.Raw) == 0 || (r.Dir != inspect.ClientToServer && r.Dir != inspect.ServerToClient) {
			return nil
		}
		c := p.conns[r.Conn]
		if c == nil {
			c = p.open(r.Conn, ts)
		}
		p.data(c, r.Dir, r.Raw, ts)
	default:
		return nil
	}
	return p.err
}

// Flush writes out what is buffered.
func (p *PcapWriter) Flush() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil && !p.closed {
		p.err = p.bw.Flush()
	}
	return p.err
}

// Close writes FIN for the connections still open and flushes. It does not close the
// underlying writer.
func (p *PcapWriter) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	for info, c := range p.conns {
		p.close(c, c.last)
		delete(p.conns, info)
	}
	if p.err == nil {
		p.err = p.bw.Flush()
	}
	return p.err
}

// open writes a three-way handshake.
func (p *PcapWriter) open(info *inspect.ConnInfo, ts time.Time) *wconn {
	if c := p.conns[info]; c != nil {
		return c
	}
	c := &wconn{client: info.Client, server: info.Server, last: ts}
	if !c.client.IsValid() {
		c.client = placeholderClient
	}
	if !c.server.IsValid() {
		c.server = placeholderServer
	}
	// Fixed initial sequence numbers derived from the connection number: reproducible
	// files, and distinct connections do not look like one another.
	isnC, isnS := uint32(info.ID)*0x9E3779B1+1000, uint32(info.ID)*0x85EBCA77+2000
	p.conns[info] = c
	p.packet(c, 0, isnC, 0, tcpSYN, nil, ts)
	p.packet(c, 1, isnS, isnC+1, tcpSYN|tcpACK, nil, ts)
	c.next = [2]uint32{isnC + 1, isnS + 1}
	p.packet(c, 0, c.next[0], c.next[1], tcpACK, nil, ts)
	return c
}

func (p *PcapWriter) data(c *wconn, dir inspect.Direction, b []byte, ts time.Time) {
	i := 0
	if dir == inspect.ServerToClient {
		i = 1
	}
	// Records of one connection can reach the sink slightly out of time order (the two
	// directions are logged by different goroutines); a capture where a segment precedes
	// the handshake confuses analysers, so time never goes back within a connection.
	if ts.Before(c.last) {
		ts = c.last
	}
	c.last = ts
	for len(b) > 0 {
		n := min(len(b), maxSegment)
		p.packet(c, i, c.next[i], c.next[1-i], tcpACK|tcpPSH, b[:n], ts)
		c.next[i] += uint32(n)
		b = b[n:]
	}
}

// close writes the client's FIN, the server's FIN and the last ACK.
func (p *PcapWriter) close(c *wconn, ts time.Time) {
	if c.closed {
		return
	}
	c.closed = true
	if ts.Before(c.last) {
		ts = c.last
	}
	p.packet(c, 0, c.next[0], c.next[1], tcpFIN|tcpACK, nil, ts)
	c.next[0]++
	p.packet(c, 1, c.next[1], c.next[0], tcpFIN|tcpACK, nil, ts)
	c.next[1]++
	p.packet(c, 0, c.next[0], c.next[1], tcpACK, nil, ts)
}

const (
	tcpFIN = 1 << iota
	tcpSYN
	tcpRST
	tcpPSH
	tcpACK
)

// packet serialises one segment from side (0 client, 1 server) and writes it.
func (p *PcapWriter) packet(c *wconn, side int, seq, ack uint32, flags int, payload []byte, ts time.Time) {
	if p.err != nil {
		return
	}
	src, dst := c.client, c.server
	smac, dmac := macClient, macServer
	if side == 1 {
		src, dst, smac, dmac = dst, src, dmac, smac
	}
	tcp := &layers.TCP{
		SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()),
		Seq: seq, Ack: ack, Window: 65535,
		FIN: flags&tcpFIN != 0, SYN: flags&tcpSYN != 0, RST: flags&tcpRST != 0,
		PSH: flags&tcpPSH != 0, ACK: flags&tcpACK != 0,
	}
	eth := &layers.Ethernet{SrcMAC: smac, DstMAC: dmac}
	var ip gopacket.SerializableLayer
	sa, da := src.Addr(), dst.Addr()
	if sa.Is4() && da.Is4() {
		eth.EthernetType = layers.EthernetTypeIPv4
		v4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, Flags: layers.IPv4DontFragment,
			SrcIP: net.IP(sa.AsSlice()), DstIP: net.IP(da.AsSlice())}
		_ = tcp.SetNetworkLayerForChecksum(v4)
		ip = v4
	} else {
		// Mixed families: write both as IPv6 (IPv4 as IPv4-mapped addresses).
		eth.EthernetType = layers.EthernetTypeIPv6
		s16, d16 := sa.As16(), da.As16()
		v6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP,
			SrcIP: net.IP(s16[:]), DstIP: net.IP(d16[:])}
		_ = tcp.SetNetworkLayerForChecksum(v6)
		ip = v6
	}
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(p.buf, opts, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
		p.err = fmt.Errorf("capture: building packet: %w", err)
		return
	}
	data := p.buf.Bytes()
	ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: len(data)}
	if err := p.pw.WritePacket(ci, data); err != nil {
		p.err = fmt.Errorf("capture: writing pcap: %w", err)
	}
}
