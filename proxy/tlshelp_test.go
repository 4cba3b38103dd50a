package proxy

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"
)

func tlsClient(t testing.TB, c net.Conn, roots *x509.CertPool) *tls.Conn {
	t.Helper()
	tc := tls.Client(c, &tls.Config{ServerName: "localhost", RootCAs: roots})
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if err := tc.Handshake(); err != nil {
		t.Fatalf("TLS with the proxy: %v", err)
	}
	c.SetDeadline(time.Time{})
	return tc
}

// readUntilConn is readUntil for any connection.
func readUntilConn(t testing.TB, c net.Conn, sub string) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	var buf bytes.Buffer
	b := make([]byte, 4096)
	for !strings.Contains(buf.String(), sub) {
		n, err := c.Read(b)
		buf.Write(b[:n])
		if err != nil {
			t.Fatalf("reading until %q: %v; got %q", sub, err, buf.String())
		}
	}
	return buf.String()
}
