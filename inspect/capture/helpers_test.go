package capture

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/stanzascope/stanzascope/inspect"
)

// collect reads a capture held in memory and returns every record.
func collect(t testing.TB, data []byte, opt Options) ([]*inspect.Record, Summary, error) {
	t.Helper()
	var recs []*inspect.Record
	sum, err := Read(context.Background(), bytes.NewReader(data), opt, inspect.SinkFunc(func(r *inspect.Record) error {
		recs = append(recs, r)
		return nil
	}))
	return recs, sum, err
}

func collectFile(t testing.TB, path string) []*inspect.Record {
	t.Helper()
	var recs []*inspect.Record
	_, err := ReadFile(context.Background(), path, Options{}, inspect.SinkFunc(func(r *inspect.Record) error {
		recs = append(recs, r)
		return nil
	}))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return recs
}

// token names a stream event the way the tshark comparison does: direction and element.
func token(r *inspect.Record) string {
	switch r.Kind {
	case inspect.KindStreamOpen:
		return r.Dir.String() + " stream"
	case inspect.KindStreamClose:
		return r.Dir.String() + " /stream"
	case inspect.KindStanza:
		return r.Dir.String() + " " + r.Name
	}
	return ""
}

// sequences returns the stream events of each connection, by connection number.
func sequences(recs []*inspect.Record) map[uint64][]string {
	out := map[uint64][]string{}
	for _, r := range recs {
		if tok := token(r); tok != "" && r.Conn != nil {
			out[r.Conn.ID] = append(out[r.Conn.ID], tok)
		}
	}
	return out
}

// kinds lists the records of one kind.
func kinds(recs []*inspect.Record, k inspect.Kind) []*inspect.Record {
	var out []*inspect.Record
	for _, r := range recs {
		if r.Kind == k {
			out = append(out, r)
		}
	}
	return out
}

// synth builds capture files with gopacket: a TCP conversation as the kernel would put it
// on the wire, over any of the link types the reader supports.
type synth struct {
	t    testing.TB
	link uint32
	buf  bytes.Buffer
	w    *pcapgo.Writer
	ng   *pcapgo.NgWriter
	ts   time.Time
}

func newSynth(t testing.TB, link uint32) *synth {
	s := &synth{t: t, link: link, ts: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	s.w = pcapgo.NewWriterNanos(&s.buf)
	if err := s.w.WriteFileHeader(262144, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	// gopacket's LinkType is a byte; SLL2 (276) does not fit, so patch the header.
	binary.LittleEndian.PutUint32(s.buf.Bytes()[20:24], link)
	return s
}

func newSynthNg(t testing.TB) *synth {
	s := &synth{t: t, link: linkEthernet, ts: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	var err error
	s.ng, err = pcapgo.NewNgWriter(&s.buf, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *synth) bytes() []byte {
	if s.ng != nil {
		if err := s.ng.Flush(); err != nil {
			s.t.Fatal(err)
		}
	}
	return s.buf.Bytes()
}

// packet writes one TCP segment from src to dst.
func (s *synth) packet(src, dst netip.AddrPort, seq, ack uint32, flags string, payload []byte) {
	s.t.Helper()
	s.ts = s.ts.Add(time.Millisecond)
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()), Seq: seq, Ack: ack,
		Window: 65535, SYN: strings.Contains(flags, "S"), ACK: strings.Contains(flags, "A"),
		FIN: strings.Contains(flags, "F"), RST: strings.Contains(flags, "R"), PSH: len(payload) > 0}
	var ip gopacket.SerializableLayer
	var etype layers.EthernetType
	if src.Addr().Is4() {
		v4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP,
			SrcIP: net.IP(src.Addr().AsSlice()), DstIP: net.IP(dst.Addr().AsSlice())}
		_ = tcp.SetNetworkLayerForChecksum(v4)
		ip, etype = v4, layers.EthernetTypeIPv4
	} else {
		v6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP,
			SrcIP: net.IP(src.Addr().AsSlice()), DstIP: net.IP(dst.Addr().AsSlice())}
		_ = tcp.SetNetworkLayerForChecksum(v6)
		ip, etype = v6, layers.EthernetTypeIPv6
	}
	buf := gopacket.NewSerializeBuffer()
	opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
	if err := gopacket.SerializeLayers(buf, opts, ip, tcp, gopacket.Payload(payload)); err != nil {
		s.t.Fatal(err)
	}
	pkt := buf.Bytes()
	var frame []byte
	switch s.link {
	case linkEthernet:
		eb := gopacket.NewSerializeBuffer()
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: etype}
		if err := gopacket.SerializeLayers(eb, opts, eth, gopacket.Payload(pkt)); err != nil {
			s.t.Fatal(err)
		}
		frame = eb.Bytes()
	case linkSLL:
		h := make([]byte, 16)
		binary.BigEndian.PutUint16(h[0:2], 0) // to us
		binary.BigEndian.PutUint16(h[2:4], 772)
		binary.BigEndian.PutUint16(h[4:6], 6)
		binary.BigEndian.PutUint16(h[14:16], uint16(etype))
		frame = append(h, pkt...)
	case linkSLL2:
		h := make([]byte, 20)
		binary.BigEndian.PutUint16(h[0:2], uint16(etype))
		binary.BigEndian.PutUint32(h[4:8], 1) // interface index
		binary.BigEndian.PutUint16(h[8:10], 772)
		h[11] = 6
		frame = append(h, pkt...)
	case linkNull:
		h := make([]byte, 4)
		fam := uint32(2)
		if etype == layers.EthernetTypeIPv6 {
			fam = 30
		}
		binary.LittleEndian.PutUint32(h, fam) // host byte order of a little-endian writer
		frame = append(h, pkt...)
	case linkLoop:
		h := make([]byte, 4)
		fam := uint32(2)
		if etype == layers.EthernetTypeIPv6 {
			fam = 24
		}
		binary.BigEndian.PutUint32(h, fam)
		frame = append(h, pkt...)
	default: // raw IP
		frame = pkt
	}
	ci := gopacket.CaptureInfo{Timestamp: s.ts, CaptureLength: len(frame), Length: len(frame)}
	var err error
	if s.ng != nil {
		err = s.ng.WritePacket(ci, frame)
	} else {
		err = s.w.WritePacket(ci, frame)
	}
	if err != nil {
		s.t.Fatal(err)
	}
}

// conn is a synthetic TCP connection with its own sequence numbers.
type conn struct {
	s              *synth
	client, server netip.AddrPort
	next           [2]uint32
}

func (s *synth) dial(client, server string) *conn {
	c := &conn{s: s, client: netip.MustParseAddrPort(client), server: netip.MustParseAddrPort(server)}
	c.next = [2]uint32{1000, 900000}
	s.packet(c.client, c.server, c.next[0]-1, 0, "S", nil)
	s.packet(c.server, c.client, c.next[1]-1, c.next[0], "SA", nil)
	s.packet(c.client, c.server, c.next[0], c.next[1], "A", nil)
	return c
}

// midway returns a connection whose handshake was not captured.
func (s *synth) midway(client, server string) *conn {
	return &conn{s: s, client: netip.MustParseAddrPort(client), server: netip.MustParseAddrPort(server), next: [2]uint32{5000, 7000}}
}

func (c *conn) ends(side int) (netip.AddrPort, netip.AddrPort) {
	if side == 0 {
		return c.client, c.server
	}
	return c.server, c.client
}

// send writes text from side 0 (client) or 1 (server) as one segment.
func (c *conn) send(side int, text string) {
	src, dst := c.ends(side)
	c.s.packet(src, dst, c.next[side], c.next[1-side], "A", []byte(text))
	c.next[side] += uint32(len(text))
}

// segs splits text into segments without writing them, for reordering tests.
type seg struct {
	seq  uint32
	data []byte
}

func (c *conn) segs(side int, text string, size int) []seg {
	var out []seg
	for len(text) > 0 {
		n := min(size, len(text))
		out = append(out, seg{c.next[side], []byte(text[:n])})
		c.next[side] += uint32(n)
		text = text[n:]
	}
	return out
}

func (c *conn) write(side int, sg seg) {
	src, dst := c.ends(side)
	c.s.packet(src, dst, sg.seq, c.next[1-side], "A", sg.data)
}

func (c *conn) close() {
	c.s.packet(c.client, c.server, c.next[0], c.next[1], "FA", nil)
	c.next[0]++
	c.s.packet(c.server, c.client, c.next[1], c.next[0], "FA", nil)
	c.next[1]++
	c.s.packet(c.client, c.server, c.next[0], c.next[1], "A", nil)
}

// A small XMPP 1.0 session used by many tests.
const (
	clientHeader = `<?xml version='1.0'?><stream:stream to='example.org' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`
	serverHeader = `<?xml version='1.0'?><stream:stream from='example.org' id='s1' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>`
	features     = `<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>`
)

func message(i int) string {
	return fmt.Sprintf(`<message to='bob@example.org' id='m%d' type='chat'><body>hello %d</body></message>`, i, i)
}

// session writes a whole session: headers, features, n messages each way, close.
func session(c *conn, n int) {
	c.send(0, clientHeader)
	c.send(1, serverHeader+features)
	for i := range n {
		c.send(0, message(i))
		c.send(1, message(1000+i))
	}
	c.send(0, "</stream:stream>")
	c.send(1, "</stream:stream>")
	c.close()
}

// sessionTokens is what session(c, n) must produce.
func sessionTokens(n int) []string {
	out := []string{"c2s stream", "s2c stream", "s2c features"}
	for range n {
		out = append(out, "c2s message", "s2c message")
	}
	return append(out, "c2s /stream", "s2c /stream")
}
