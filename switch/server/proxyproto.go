package server

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"time"
)

// Behind a proxy every connection comes from the proxy's address, so limits per client
// address would count every client as one. A proxy that says who its client is sends a
// PROXY protocol version 2 header (HAProxy's binary form, the one HAProxy's send-proxy-v2
// and most load balancers write) before anything else on the connection; with
// Config.TrustProxy the switch reads it and takes its source address as the client's.
// It must be trusted only where no one but the proxy can connect: the header is just
// bytes, and a client that can reach the switch directly could claim any address.

// proxySig opens every PROXY protocol version 2 header.
var proxySig = []byte("\r\n\r\n\x00\r\nQUIT\n")

// maxProxyHeader bounds the header (the addresses and the TLVs that may follow them) the
// switch reads; HAProxy's own headers are far smaller.
const maxProxyHeader = 16 + 512

// errNoProxyHeader is what a connection without a valid header gets with TrustProxy.
var errNoProxyHeader = errors.New("server: no valid PROXY protocol v2 header")

// ParseProxyHeader parses a PROXY protocol version 2 header at the start of b. It returns
// the header's length and the client's address: the source address of a PROXY command
// over TCP, or the zero AddrPort for a LOCAL command (a health check of the proxy's own)
// or an address family this server does not take (UDP, UNIX). It returns
// io.ErrUnexpectedEOF when b holds only the beginning of a header, and an error wrapping
// errNoProxyHeader when b does not begin with a valid one.
func ParseProxyHeader(b []byte) (n int, client netip.AddrPort, err error) {
	if len(b) < 16 {
		if !bytes.HasPrefix(proxySig, b[:min(len(b), len(proxySig))]) {
			return 0, netip.AddrPort{}, fmt.Errorf("%w: the signature is missing", errNoProxyHeader)
		}
		return 0, netip.AddrPort{}, io.ErrUnexpectedEOF
	}
	if !bytes.Equal(b[:12], proxySig) {
		return 0, netip.AddrPort{}, fmt.Errorf("%w: the signature is missing", errNoProxyHeader)
	}
	if b[12]>>4 != 2 {
		return 0, netip.AddrPort{}, fmt.Errorf("%w: version %d", errNoProxyHeader, b[12]>>4)
	}
	n = 16 + int(binary.BigEndian.Uint16(b[14:16]))
	if n > maxProxyHeader {
		return 0, netip.AddrPort{}, fmt.Errorf("%w: %d bytes, more than %d", errNoProxyHeader, n, maxProxyHeader)
	}
	if len(b) < n {
		return 0, netip.AddrPort{}, io.ErrUnexpectedEOF
	}
	body := b[16:n]
	switch b[12] & 0x0f {
	case 0: // LOCAL: the proxy's own connection
		return n, netip.AddrPort{}, nil
	case 1: // PROXY
	default:
		return 0, netip.AddrPort{}, fmt.Errorf("%w: command %d", errNoProxyHeader, b[12]&0x0f)
	}
	switch b[13] {
	case 0x11: // TCP over IPv4: source, destination, source port, destination port
		if len(body) < 12 {
			return 0, netip.AddrPort{}, fmt.Errorf("%w: short IPv4 addresses", errNoProxyHeader)
		}
		a := netip.AddrFrom4([4]byte(body[0:4]))
		return n, netip.AddrPortFrom(a, binary.BigEndian.Uint16(body[8:10])), nil
	case 0x21: // TCP over IPv6
		if len(body) < 36 {
			return 0, netip.AddrPort{}, fmt.Errorf("%w: short IPv6 addresses", errNoProxyHeader)
		}
		a := netip.AddrFrom16([16]byte(body[0:16]))
		return n, netip.AddrPortFrom(a, binary.BigEndian.Uint16(body[32:34])), nil
	}
	return n, netip.AddrPort{}, nil // UNSPEC, UDP, UNIX: no TCP client address
}

// AppendProxyHeader appends a PROXY protocol version 2 header for a TCP connection from
// client to server (the address the client reached). An invalid client gives a LOCAL
// header (no address); a server of the other address family, or invalid, is sent as the
// unspecified address of the client's family.
func AppendProxyHeader(dst []byte, client, server netip.AddrPort) []byte {
	dst = append(dst, proxySig...)
	ca := client.Addr().Unmap()
	if !client.IsValid() || !ca.IsValid() {
		return append(dst, 0x20, 0x00, 0, 0) // LOCAL, UNSPEC, no addresses
	}
	sa := server.Addr().Unmap()
	if ca.Is4() {
		if !sa.Is4() {
			sa = netip.IPv4Unspecified()
		}
		dst = append(dst, 0x21, 0x11, 0, 12)
		dst = append(dst, ca.AsSlice()...)
		dst = append(dst, sa.AsSlice()...)
	} else {
		if !sa.Is6() {
			sa = netip.IPv6Unspecified()
		}
		dst = append(dst, 0x21, 0x21, 0, 36)
		dst = append(dst, ca.AsSlice()...)
		dst = append(dst, sa.AsSlice()...)
	}
	dst = binary.BigEndian.AppendUint16(dst, client.Port())
	return binary.BigEndian.AppendUint16(dst, server.Port())
}

// readProxyHeader reads the PROXY header a trusted proxy sends first, and nothing after
// it, within the login deadline. It returns the client's address (invalid for a LOCAL
// header).
func (c *conn) readProxyHeader() (netip.AddrPort, error) {
	c.raw.SetReadDeadline(c.loginDeadline)
	defer c.raw.SetReadDeadline(time.Time{})
	b := make([]byte, 16, maxProxyHeader)
	if _, err := io.ReadFull(c.raw, b); err != nil {
		return netip.AddrPort{}, fmt.Errorf("%w: %v", errNoProxyHeader, err)
	}
	_, client, err := ParseProxyHeader(b)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		// The signature and length are good: read the rest (at most maxProxyHeader).
		b = b[:16+int(binary.BigEndian.Uint16(b[14:16]))]
		if _, err := io.ReadFull(c.raw, b[16:]); err != nil {
			return netip.AddrPort{}, fmt.Errorf("%w: %v", errNoProxyHeader, err)
		}
		_, client, err = ParseProxyHeader(b)
	}
	return client, err
}
