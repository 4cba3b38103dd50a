package capture

import (
	"encoding/binary"
	"errors"
)

// maxHello bounds the client bytes kept to find the SNI of a TLS connection. A ClientHello
// with many extensions (post-quantum key shares) is a few KiB; 16 KiB is the TLS record
// limit.
const maxHello = 16 << 10

var errNotHello = errors.New("not a TLS ClientHello")

// clientHelloSNI extracts the server name from the start of a TLS client flight. It
// returns done=false while more bytes are needed, and an error when the bytes are not a
// ClientHello (the name is then unknown). A hello without the extension returns "".
func clientHelloSNI(b []byte) (sni string, done bool, err error) {
	// Gather the handshake message, which may span several records.
	var hs []byte
	for len(b) > 0 {
		if len(b) < 5 {
			return "", false, nil
		}
		if b[0] != 0x16 || b[1] != 3 {
			return "", true, errNotHello
		}
		n := int(binary.BigEndian.Uint16(b[3:5]))
		if len(b) < 5+n {
			hs = append(hs, b[5:]...)
			break
		}
		hs = append(hs, b[5:5+n]...)
		b = b[5+n:]
		if len(hs) >= 4 && len(hs) >= 4+hsLen(hs) {
			break
		}
	}
	if len(hs) < 4 {
		return "", false, nil
	}
	if hs[0] != 1 {
		return "", true, errNotHello
	}
	if len(hs) < 4+hsLen(hs) {
		return "", false, nil
	}
	return helloSNI(hs[4 : 4+hsLen(hs)])
}

func hsLen(hs []byte) int { return int(hs[1])<<16 | int(hs[2])<<8 | int(hs[3]) }

// helloSNI walks a ClientHello body to the server_name extension.
func helloSNI(h []byte) (string, bool, error) {
	p := parser{b: h}
	p.skip(2 + 32)  // version, random
	p.skip(p.u8())  // session id
	p.skip(p.u16()) // cipher suites
	p.skip(p.u8())  // compression methods
	if p.bad {
		return "", true, errNotHello
	}
	if len(p.b) == 0 {
		return "", true, nil // no extensions at all
	}
	ext := parser{b: p.take(p.u16())}
	for !ext.bad && len(ext.b) >= 4 {
		typ := ext.u16()
		body := parser{b: ext.take(ext.u16())}
		if typ != 0 {
			continue
		}
		list := parser{b: body.take(body.u16())}
		for !list.bad && len(list.b) >= 3 {
			kind := list.u8()
			name := list.take(list.u16())
			if kind == 0 && !list.bad {
				return string(name), true, nil
			}
		}
		return "", true, errNotHello
	}
	if p.bad || ext.bad {
		return "", true, errNotHello
	}
	return "", true, nil
}

// parser reads big-endian fields and remembers running past the end instead of panicking.
type parser struct {
	b   []byte
	bad bool
}

func (p *parser) take(n int) []byte {
	if p.bad || n > len(p.b) {
		p.bad = true
		return nil
	}
	v := p.b[:n]
	p.b = p.b[n:]
	return v
}

func (p *parser) skip(n int) { p.take(n) }

func (p *parser) u8() int {
	v := p.take(1)
	if v == nil {
		return 0
	}
	return int(v[0])
}

func (p *parser) u16() int {
	v := p.take(2)
	if v == nil {
		return 0
	}
	return int(binary.BigEndian.Uint16(v))
}
