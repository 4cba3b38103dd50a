//go:build !linux

package proxy

import "net"

// unackedBytes cannot ask the kernel on this platform: the count is unknown, and no
// note is recorded.
func unackedBytes(net.Conn) (int, bool) { return 0, false }

func tcpCounts(net.Conn) (int, uint64, bool) { return 0, 0, false }
