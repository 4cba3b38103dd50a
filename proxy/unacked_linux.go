//go:build linux

package proxy

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// unackedBytes returns how many bytes written to c its peer has not acknowledged yet
// (SIOCOUTQ), not counting a FIN sent and not acknowledged; ok is false when c is not a
// socket the kernel can tell this of.
func unackedBytes(c net.Conn) (n int, ok bool) {
	n, _, ok = tcpCounts(c)
	return n, ok
}

// tcpCounts returns unackedBytes and how many bytes the peer acknowledged in all
// (tcpi_bytes_acked, Linux 4.1 on; 0 before).
func tcpCounts(c net.Conn) (n int, acked uint64, ok bool) {
	sc, isSC := c.(syscall.Conn)
	if !isSC {
		return 0, 0, false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, 0, false
	}
	var ierr error
	var state uint8
	err = rc.Control(func(fd uintptr) {
		// The count and the acknowledged total are two calls; an acknowledgement that
		// arrives between them would make acked+n overshoot what was written (markEnd
		// would then count a close_notify as recorded bytes). So the pair is taken again
		// until the acknowledged total is the same on both sides of the count.
		var before, after *unix.TCPInfo
		for try := 0; try < 8; try++ {
			if before, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); ierr != nil {
				return
			}
			if n, ierr = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ); ierr != nil {
				return
			}
			if after, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); ierr != nil {
				return
			}
			if before.Bytes_acked == after.Bytes_acked && before.State == after.State {
				break
			}
		}
		state, acked = after.State, after.Bytes_acked
	})
	if err != nil || ierr != nil {
		return 0, 0, false
	}
	// The FIN of a half-close takes one sequence number, counted until it is acknowledged.
	switch state {
	case tcpFinWait1, tcpClosing, tcpLastAck:
		if n > 0 {
			n--
		}
	}
	return n, acked, true
}

// TCP states (include/net/tcp_states.h) in which a FIN was sent and not acknowledged.
const (
	tcpFinWait1 = 4
	tcpLastAck  = 9
	tcpClosing  = 11
)
