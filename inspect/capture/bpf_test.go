package capture

import (
	"net"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/net/bpf"
)

func TestPortFilter(t *testing.T) {
	raw, err := portFilter([]uint16{5222, 5269, 40001})
	if err != nil {
		t.Fatal(err)
	}
	ins := make([]bpf.Instruction, len(raw))
	for i, r := range raw {
		ins[i] = r.Disassemble()
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		t.Fatal(err)
	}
	frame := func(v6 bool, udp bool, sport, dport uint16, ipOptions bool, frag bool) []byte {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}}
		var ip gopacket.SerializableLayer
		var nl gopacket.NetworkLayer
		proto := layers.IPProtocolTCP
		if udp {
			proto = layers.IPProtocolUDP
		}
		if v6 {
			eth.EthernetType = layers.EthernetTypeIPv6
			l := &layers.IPv6{Version: 6, HopLimit: 1, NextHeader: proto, SrcIP: net.ParseIP("::1"), DstIP: net.ParseIP("::1")}
			ip, nl = l, l
		} else {
			eth.EthernetType = layers.EthernetTypeIPv4
			l := &layers.IPv4{Version: 4, TTL: 1, Protocol: proto, SrcIP: net.IP{127, 0, 0, 1}, DstIP: net.IP{127, 0, 0, 1}}
			if ipOptions {
				l.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 1}}
			}
			if frag {
				l.FragOffset = 10
			}
			ip, nl = l, l
		}
		var tr gopacket.SerializableLayer
		if udp {
			u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
			_ = u.SetNetworkLayerForChecksum(nl)
			tr = u
		} else {
			c := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), ACK: true}
			_ = c.SetNetworkLayerForChecksum(nl)
			tr = c
		}
		return serialize(t, eth, ip, tr, gopacket.Payload("x"))
	}
	for _, tc := range []struct {
		name string
		data []byte
		want bool
	}{
		{"v4 dst", frame(false, false, 40000, 5222, false, false), true},
		{"v4 src", frame(false, false, 5269, 40000, false, false), true},
		{"v4 other", frame(false, false, 40000, 80, false, false), false},
		{"v4 options", frame(false, false, 40000, 40001, true, false), true},
		{"v4 fragment", frame(false, false, 40000, 5222, false, true), false},
		{"v4 udp", frame(false, true, 40000, 5222, false, false), false},
		{"v6 dst", frame(true, false, 40000, 5222, false, false), true},
		{"v6 other", frame(true, false, 40000, 443, false, false), false},
		{"v6 udp", frame(true, true, 5222, 5222, false, false), false},
	} {
		n, err := vm.Run(tc.data)
		if err != nil {
			t.Fatal(err)
		}
		if (n > 0) != tc.want {
			t.Errorf("%s: accepted %d bytes, want accepted=%v", tc.name, n, tc.want)
		}
	}
	if _, err := portFilter(nil); err == nil {
		t.Error("no ports")
	}
}
