package capture

import (
	"encoding/binary"
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

func serialize(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func TestDecodeEdges(t *testing.T) {
	tcp := func(ip gopacket.NetworkLayer) *layers.TCP {
		l := &layers.TCP{SrcPort: 40000, DstPort: 5222, Seq: 7, ACK: true, Ack: 9, Window: 100}
		_ = l.SetNetworkLayerForChecksum(ip)
		return l
	}
	v4 := func() *layers.IPv4 {
		return &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IP{10, 0, 0, 1}, DstIP: net.IP{10, 0, 0, 2}}
	}
	eth := func(t layers.EthernetType) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: t}
	}
	payload := gopacket.Payload("<iq/>")

	ip := v4()
	vlan := serialize(t, eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 5, Type: layers.EthernetTypeIPv4}, ip, tcp(ip), payload)

	ip = v4()
	ip.Flags = layers.IPv4MoreFragments
	frag := serialize(t, eth(layers.EthernetTypeIPv4), ip, tcp(ip), payload)

	ip = v4()
	padded := append(serialize(t, eth(layers.EthernetTypeIPv4), ip, tcp(ip), payload), 0, 0, 0, 0, 0, 0)

	// IPv6 with a hop-by-hop options header before TCP, inserted by hand.
	ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: net.ParseIP("2001:db8::1"), DstIP: net.ParseIP("2001:db8::2")}
	plain6 := serialize(t, ip6, tcp(ip6), payload)
	hbh := []byte{6, 0, 1, 4, 0, 0, 0, 0} // next TCP, length 8, PadN
	ext6 := append(append(append([]byte(nil), plain6[:40]...), hbh...), plain6[40:]...)
	ext6[6] = 0
	binary.BigEndian.PutUint16(ext6[4:6], uint16(len(ext6)-40))

	nullBE := append([]byte{0, 0, 0, 2}, serialize(t, v4(), tcp(v4()), payload)...)

	cases := []struct {
		name string
		link uint32
		data []byte
		ok   bool
	}{
		{"vlan", linkEthernet, vlan, true},
		{"fragment", linkEthernet, frag, false},
		{"padding", linkEthernet, padded, true},
		{"ipv6 hop-by-hop", linkRaw, ext6, true},
		{"null big-endian", linkNull, nullBE, true},
		{"empty", linkEthernet, nil, false},
		{"short tcp", linkRaw, plain6[:50], false},
		{"unknown family", linkNull, append([]byte{99, 0, 0, 0}, plain6...), false},
	}
	for _, tc := range cases {
		var s segment
		ok := decodeTCP(tc.link, tc.data, &s)
		if ok != tc.ok {
			t.Errorf("%s: decoded %v, want %v", tc.name, ok, tc.ok)
			continue
		}
		if ok && (string(s.payload) != "<iq/>" || s.seq != 7 || s.ack != 9 || s.dst.Port() != 5222 || s.flags&flagACK == 0) {
			t.Errorf("%s: %+v %q", tc.name, s, s.payload)
		}
	}
}
