//go:build !windows

package proxy

import "syscall"

// setRcvBuf sets the receive buffer of the socket fd, before it connects (the window
// scale is agreed on in the handshake).
func setRcvBuf(fd uintptr, n int) error {
	return syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n)
}
