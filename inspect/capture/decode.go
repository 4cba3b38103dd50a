package capture

import (
	"encoding/binary"
	"net/netip"
)

// Link types (LINKTYPE_* values of pcap and pcapng) that the decoder understands.
const (
	linkNull     = 0   // BSD loopback: 4-byte address family in host byte order
	linkEthernet = 1   // Ethernet II, optionally with 802.1Q/802.1ad tags
	linkRawOld   = 12  // raw IP on some platforms (DLT_RAW)
	linkRawOld2  = 14  // raw IP on OpenBSD (DLT_RAW)
	linkRaw      = 101 // raw IPv4 or IPv6, version in the first nibble
	linkLoop     = 108 // OpenBSD loopback: 4-byte address family in network byte order
	linkSLL      = 113 // Linux cooked capture v1
	linkIPv4     = 228 // raw IPv4
	linkIPv6     = 229 // raw IPv6
	linkSLL2     = 276 // Linux cooked capture v2
)

// TCP flags the reassembler looks at.
const (
	flagFIN = 1 << 0
	flagSYN = 1 << 1
	flagRST = 1 << 2
	flagACK = 1 << 4
)

// segment is one decoded TCP segment. Payload points into the packet buffer and is only
// valid until the next packet is read.
type segment struct {
	src, dst netip.AddrPort
	seq, ack uint32
	flags    uint8
	payload  []byte
}

// linkSupported reports whether decodeLink can handle the link type.
func linkSupported(link uint32) bool {
	switch link {
	case linkNull, linkEthernet, linkRawOld, linkRawOld2, linkRaw, linkLoop, linkSLL, linkIPv4, linkIPv6, linkSLL2:
		return true
	}
	return false
}

// decodeTCP decodes a captured frame of the given link type down to TCP. It reports false
// for anything that is not a complete-enough TCP segment (other protocols, IP fragments,
// damaged headers). We decode by hand rather than with gopacket's DecodingLayerParser:
// gopacket 1.1.19 has no SLL2, and this path runs once per packet of captures of many
// gigabytes, so it must not allocate and must tolerate any bytes.
func decodeTCP(link uint32, data []byte, s *segment) bool {
	ip, etype, ok := decodeLink(link, data)
	if !ok {
		return false
	}
	switch etype {
	case 0x0800:
		return decodeIPv4(ip, s)
	case 0x86DD:
		return decodeIPv6(ip, s)
	}
	return false
}

// decodeLink strips the link-layer header and returns the network packet with its
// EtherType (0x0800 IPv4, 0x86DD IPv6).
func decodeLink(link uint32, d []byte) ([]byte, uint16, bool) {
	switch link {
	case linkEthernet:
		if len(d) < 14 {
			return nil, 0, false
		}
		etype := binary.BigEndian.Uint16(d[12:14])
		d = d[14:]
		for etype == 0x8100 || etype == 0x88A8 { // VLAN tags, possibly stacked
			if len(d) < 4 {
				return nil, 0, false
			}
			etype = binary.BigEndian.Uint16(d[2:4])
			d = d[4:]
		}
		return d, etype, true
	case linkSLL:
		if len(d) < 16 {
			return nil, 0, false
		}
		return d[16:], binary.BigEndian.Uint16(d[14:16]), true
	case linkSLL2:
		if len(d) < 20 {
			return nil, 0, false
		}
		return d[20:], binary.BigEndian.Uint16(d[0:2]), true
	case linkNull, linkLoop:
		if len(d) < 4 {
			return nil, 0, false
		}
		// The family is in the writer's byte order; it is small, so whichever end holds
		// the non-zero byte tells.
		fam := uint32(d[0]) | uint32(d[3])
		if d[0] == 0 && d[3] == 0 {
			fam = uint32(d[1]) | uint32(d[2])
		}
		switch fam {
		case 2:
			return d[4:], 0x0800, true
		case 10, 24, 28, 30: // AF_INET6 on Linux, NetBSD/OpenBSD, FreeBSD, macOS
			return d[4:], 0x86DD, true
		}
		return nil, 0, false
	case linkRaw, linkRawOld, linkRawOld2, linkIPv4, linkIPv6:
		if len(d) < 1 {
			return nil, 0, false
		}
		switch d[0] >> 4 {
		case 4:
			return d, 0x0800, true
		case 6:
			return d, 0x86DD, true
		}
	}
	return nil, 0, false
}

func decodeIPv4(d []byte, s *segment) bool {
	if len(d) < 20 || d[0]>>4 != 4 {
		return false
	}
	ihl := int(d[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(d[2:4]))
	if ihl < 20 || total < ihl || len(d) < ihl {
		return false
	}
	// Fragments are rare for TCP (path MTU discovery); we do not reassemble IP.
	if frag := binary.BigEndian.Uint16(d[6:8]); frag&0x3fff != 0 {
		return false
	}
	if d[9] != 6 {
		return false
	}
	if total < len(d) { // Ethernet padding
		d = d[:total]
	}
	src := netip.AddrFrom4([4]byte(d[12:16]))
	dst := netip.AddrFrom4([4]byte(d[16:20]))
	return decodeSegment(d[ihl:], src, dst, s)
}

func decodeIPv6(d []byte, s *segment) bool {
	if len(d) < 40 || d[0]>>4 != 6 {
		return false
	}
	plen := int(binary.BigEndian.Uint16(d[4:6]))
	next := d[6]
	src := netip.AddrFrom16([16]byte(d[8:24]))
	dst := netip.AddrFrom16([16]byte(d[24:40]))
	d = d[40:]
	if plen != 0 && plen < len(d) { // 0 is a jumbogram; keep what we have
		d = d[:plen]
	}
	// Skip the extension headers that may precede TCP.
	for i := 0; i < 8; i++ {
		switch next {
		case 6:
			return decodeSegment(d, src, dst, s)
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(d) < 8 {
				return false
			}
			n := (int(d[1]) + 1) * 8
			if len(d) < n {
				return false
			}
			next, d = d[0], d[n:]
		default: // fragments, ESP, anything else: not for us
			return false
		}
	}
	return false
}

func decodeSegment(d []byte, src, dst netip.Addr, s *segment) bool {
	if len(d) < 20 {
		return false
	}
	off := int(d[12]>>4) * 4
	if off < 20 || off > len(d) {
		return false
	}
	s.src = netip.AddrPortFrom(src.Unmap(), binary.BigEndian.Uint16(d[0:2]))
	s.dst = netip.AddrPortFrom(dst.Unmap(), binary.BigEndian.Uint16(d[2:4]))
	s.seq = binary.BigEndian.Uint32(d[4:8])
	s.ack = binary.BigEndian.Uint32(d[8:12])
	s.flags = d[13]
	s.payload = d[off:]
	return true
}
