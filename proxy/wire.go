package proxy

import (
	"crypto/rand"
	"encoding/hex"

	"github.com/stanzascope/stanzascope/inspect"
)

// Bytes the proxy writes itself.
var (
	proceedTLS  = []byte("<proceed xmlns='" + inspect.NSTLS + "'/>")
	failureTLS  = []byte("<failure xmlns='" + inspect.NSTLS + "'/>")
	startTLS    = []byte("<starttls xmlns='" + inspect.NSTLS + "'/>")
	closeStream = []byte("</stream:stream>")
)

// Stream error conditions the proxy sends besides those of the reader.
const (
	condRemoteConnectionFailed = "remote-connection-failed"
	condHostUnknown            = "host-unknown"
	condConnectionTimeout      = "connection-timeout"
	condSystemShutdown         = "system-shutdown"
	condInternalServerError    = "internal-server-error"
)

// appendHeader appends a stream header. As a server we name ourselves with from=domain;
// as a client with to=domain.
func appendHeader(b []byte, server bool, domain, contentNS string) []byte {
	if contentNS == "" {
		contentNS = inspect.NSClient
	}
	b = append(b, "<?xml version='1.0'?><stream:stream xmlns='"...)
	b = append(b, inspect.EscapeAttr(contentNS)...)
	b = append(b, "' xmlns:stream='"+inspect.NSStreams+"' version='1.0'"...)
	if domain != "" {
		if server {
			b = append(b, " from='"...)
		} else {
			b = append(b, " to='"...)
		}
		b = append(b, inspect.EscapeAttr(domain)...)
		b = append(b, '\'')
	}
	if server {
		var id [8]byte
		rand.Read(id[:])
		b = append(b, " id='"...)
		b = append(b, hex.EncodeToString(id[:])...)
		b = append(b, '\'')
	}
	return append(b, '>')
}

// appendStreamError appends <stream:error> with the condition and an optional text.
func appendStreamError(b []byte, cond, text string) []byte {
	b = append(b, "<stream:error><"...)
	b = append(b, cond...)
	b = append(b, " xmlns='"+inspect.NSStreamErrors+"'/>"...)
	if text != "" {
		b = append(b, "<text xmlns='"+inspect.NSStreamErrors+"'>"...)
		b = append(b, inspect.EscapeText(text)...)
		b = append(b, "</text>"...)
	}
	return append(b, "</stream:error>"...)
}
