package proxy

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"

	"github.com/stanzascope/stanzascope/inspect"
)

// Bytes the proxy writes itself.
var (
	proceedTLS = []byte("<proceed xmlns='" + inspect.NSTLS + "'/>")
	failureTLS = []byte("<failure xmlns='" + inspect.NSTLS + "'/>")
	startTLS   = []byte("<starttls xmlns='" + inspect.NSTLS + "'/>")
)

// ownPrefix is the prefix the proxy's own stream headers bind to the streams namespace.
const ownPrefix = "stream"

// streamPrefix returns the prefix that the stream header hdr binds to the streams
// namespace (the prefix of its element name), so that what the proxy writes on that stream
// (a stream error, a closing tag) uses it.
func streamPrefix(hdr []byte) string {
	i := inspect.FirstStartTag(hdr)
	if i < 0 {
		return ownPrefix
	}
	name, _ := inspect.TagName(hdr[i:])
	if k := bytes.IndexByte(name, ':'); k >= 0 {
		return string(name[:k])
	}
	return ""
}

// appendHeader appends a stream header of the proxy's own. As a server we name ourselves
// with from=domain; as a client with to=domain. version is the client's stream version:
// "" (a pre-1.0 stream) writes none, so that a pre-1.0 client gets a pre-1.0 header.
func appendHeader(b []byte, server bool, domain, contentNS, version string) []byte {
	if contentNS == "" {
		contentNS = inspect.NSClient
	}
	b = append(b, "<?xml version='1.0'?><"+ownPrefix+":stream xmlns='"...)
	b = append(b, inspect.EscapeAttr(contentNS)...)
	b = append(b, "' xmlns:"+ownPrefix+"='"+inspect.NSStreams+"'"...)
	if version != "" {
		b = append(b, " version='"...)
		b = append(b, inspect.EscapeAttr(version)...)
		b = append(b, '\'')
	}
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
