//go:build linux

package capture

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stanzascope/stanzascope/inspect"
)

// ReadLive captures the XMPP traffic of interface iface (ports 5222, 5269 and opt.Ports)
// until ctx is cancelled, writing records to sink as ReadFile does, then prints a summary
// line to stderr. It uses an AF_PACKET socket directly (no libpcap, no cgo), so it needs
// root or CAP_NET_RAW; without them it prints one line saying so and returns an error
// wrapping ErrPermission.
//
// Only connections on the XMPP ports are read live (header detection would need every
// TCP packet of the machine); the filtering is done on our side of the socket.
func ReadLive(ctx context.Context, iface string, opt Options, sink inspect.Sink, stderr io.Writer) (Summary, error) {
	ifc, err := net.InterfaceByName(iface)
	if err != nil {
		return Summary{}, fmt.Errorf("capture: interface %q: %w", iface, err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
	if err != nil {
		if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			fmt.Fprintf(stderr, "stanzascope: capturing on %s needs root or CAP_NET_RAW\n", iface)
			return Summary{}, fmt.Errorf("capture: capturing on %s needs root or CAP_NET_RAW: %w", iface, ErrPermission)
		}
		return Summary{}, fmt.Errorf("capture: packet socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifc.Index}); err != nil {
		return Summary{}, fmt.Errorf("capture: binding to %s: %w", iface, err)
	}
	// A receive timeout lets the loop notice ctx without a second goroutine.
	tv := unix.NsecToTimeval((200 * time.Millisecond).Nanoseconds())
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return Summary{}, fmt.Errorf("capture: socket timeout: %w", err)
	}
	link := uint32(linkEthernet)
	if arphrd(iface) == 65534 { // ARPHRD_NONE: tun devices carry bare IP
		link = linkRaw
	}
	loopback := ifc.Flags&net.FlagLoopback != 0
	e := newEngine(opt, sink)
	if link == linkEthernet {
		if err := attachFilter(fd, e.ports); err != nil {
			fmt.Fprintf(stderr, "stanzascope: no kernel filter on %s (%v); filtering in stanzascope\n", iface, err)
		}
	}
	// A large buffer rides out bursts while a slow terminal holds the printer; as root
	// SO_RCVBUFFORCE passes the system limit.
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20); err != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<20)
	}

	e.onlyPorts = true
	buf := make([]byte, maxFrame)
	var readErr error
	for ctx.Err() == nil && e.err == nil {
		n, from, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				e.tick(time.Now())
				continue
			}
			readErr = fmt.Errorf("capture: reading %s: %w", iface, err)
			break
		}
		// On loopback every packet is seen twice, leaving and arriving; keep one.
		if sa, ok := from.(*unix.SockaddrLinklayer); ok && loopback && sa.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		e.packet(buf[:n], time.Now(), link)
	}
	e.finish("capture stopped")
	sum := e.sum
	drops := ""
	if st, err := unix.GetsockoptTpacketStats(fd, unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil && st.Drops > 0 {
		drops = fmt.Sprintf(", %d dropped by the kernel", st.Drops)
	}
	fmt.Fprintf(stderr, "stanzascope: capture on %s: %s%s\n", iface, sum, drops)
	if e.err != nil {
		return sum, fmt.Errorf("capture: writing records: %w", e.err)
	}
	return sum, readErr
}

// attachFilter makes the kernel pass only TCP segments on the XMPP ports.
func attachFilter(fd int, ports map[uint16]bool) error {
	var list []uint16
	for p := range ports {
		list = append(list, p)
	}
	raw, err := portFilter(list)
	if err != nil {
		return err
	}
	filter := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		filter[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// arphrd returns the ARPHRD_* hardware type of an interface, or 0 when unknown.
func arphrd(iface string) int {
	b, err := os.ReadFile("/sys/class/net/" + iface + "/type")
	if err != nil {
		return 0
	}
	var t int
	_, _ = fmt.Sscan(strings.TrimSpace(string(b)), &t)
	return t
}
