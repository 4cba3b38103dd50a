package scram

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
)

// clientFirst is a parsed client-first-message (RFC 5802 section 7).
type clientFirst struct {
	gs2Header []byte // "n,," or "y,,a=authzid," exactly as sent, for the c= check
	authzid   string // unescaped, empty when absent
	bare      []byte // client-first-message-bare, part of AuthMessage
	username  string // unescaped, not yet normalised
	nonce     string
}

// parseClientFirst parses gs2-header and client-first-message-bare. Channel binding ("p=")
// is refused because the -PLUS mechanisms are not offered.
func parseClientFirst(msg []byte) (clientFirst, error) {
	var cf clientFirst
	flag, rest, ok := bytes.Cut(msg, []byte{','})
	if !ok {
		return cf, fmt.Errorf("%w: missing gs2 header", ErrMalformed)
	}
	switch {
	case string(flag) == "n" || string(flag) == "y":
	case bytes.HasPrefix(flag, []byte("p=")):
		return cf, fmt.Errorf("%w: channel binding is not supported", ErrMalformed)
	default:
		return cf, fmt.Errorf("%w: bad channel binding flag %q", ErrMalformed, clip(flag))
	}
	az, bare, ok := bytes.Cut(rest, []byte{','})
	if !ok {
		return cf, fmt.Errorf("%w: missing gs2 header", ErrMalformed)
	}
	if len(az) > 0 {
		if !bytes.HasPrefix(az, []byte("a=")) || len(az) == 2 {
			return cf, fmt.Errorf("%w: bad authzid", ErrMalformed)
		}
		s, err := unescapeSaslname(az[2:])
		if err != nil {
			return cf, err
		}
		cf.authzid = s
	}
	cf.gs2Header = msg[:len(msg)-len(bare)]
	cf.bare = bare
	attrs := bytes.Split(bare, []byte{','})
	if len(attrs) < 2 {
		return cf, fmt.Errorf("%w: client-first needs n= and r=", ErrMalformed)
	}
	if err := checkAttrs(attrs); err != nil {
		return cf, err
	}
	if attrs[0][0] == 'm' {
		// RFC 5802 section 5.1: a reserved extension must fail authentication.
		return cf, fmt.Errorf("%w: mandatory extension not supported", ErrMalformed)
	}
	if attrs[0][0] != 'n' || attrs[1][0] != 'r' {
		return cf, fmt.Errorf("%w: client-first must start with n= then r=", ErrMalformed)
	}
	u, err := unescapeSaslname(attrs[0][2:])
	if err != nil {
		return cf, err
	}
	if u == "" {
		return cf, fmt.Errorf("%w: empty username", ErrMalformed)
	}
	cf.username = u
	if err := checkNonce(attrs[1][2:]); err != nil {
		return cf, err
	}
	cf.nonce = string(attrs[1][2:])
	return cf, nil
}

// clientFinal is a parsed client-final-message.
type clientFinal struct {
	withoutProof []byte // client-final-message-without-proof, part of AuthMessage
	binding      []byte // decoded c= value
	nonce        string
	proof        []byte // decoded p= value
}

func parseClientFinal(msg []byte) (clientFinal, error) {
	var cf clientFinal
	i := bytes.LastIndex(msg, []byte(",p="))
	if i < 0 {
		return cf, fmt.Errorf("%w: client-final without proof", ErrMalformed)
	}
	cf.withoutProof = msg[:i]
	attrs := bytes.Split(cf.withoutProof, []byte{','})
	if len(attrs) < 2 {
		return cf, fmt.Errorf("%w: client-final needs c= and r=", ErrMalformed)
	}
	if err := checkAttrs(attrs); err != nil {
		return cf, err
	}
	if attrs[0][0] != 'c' || attrs[1][0] != 'r' {
		return cf, fmt.Errorf("%w: client-final must start with c= then r=", ErrMalformed)
	}
	var err error
	if cf.binding, err = decode64(attrs[0][2:], "c"); err != nil {
		return cf, err
	}
	cf.nonce = string(attrs[1][2:])
	if cf.proof, err = decode64(msg[i+3:], "p"); err != nil {
		return cf, err
	}
	return cf, nil
}

// checkAttrs checks that every attribute has the form ALPHA "=" value.
func checkAttrs(attrs [][]byte) error {
	for _, a := range attrs {
		if len(a) < 2 || a[1] != '=' || !(a[0] >= 'a' && a[0] <= 'z' || a[0] >= 'A' && a[0] <= 'Z') {
			return fmt.Errorf("%w: bad attribute %q", ErrMalformed, clip(a))
		}
	}
	return nil
}

// checkNonce enforces RFC 5802's "printable": ASCII 0x21..0x7E except ','.
func checkNonce(n []byte) error {
	if len(n) == 0 {
		return fmt.Errorf("%w: empty nonce", ErrMalformed)
	}
	for _, c := range n {
		if c < 0x21 || c > 0x7e || c == ',' {
			return fmt.Errorf("%w: nonce has a non-printable byte 0x%02x", ErrMalformed, c)
		}
	}
	return nil
}

func decode64(v []byte, name string) ([]byte, error) {
	out := make([]byte, base64.StdEncoding.DecodedLen(len(v)))
	n, err := base64.StdEncoding.Strict().Decode(out, v)
	if err != nil || len(v) == 0 {
		return nil, fmt.Errorf("%w: %s= is not base64", ErrIncorrectEncoding, name)
	}
	return out[:n], nil
}

// unescapeSaslname reverses the "=2C" / "=3D" escaping of RFC 5802 section 5.1; any other
// '=' is malformed.
func unescapeSaslname(s []byte) (string, error) {
	if bytes.IndexByte(s, '=') < 0 {
		return string(s), nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case bytes.HasPrefix(s[i:], []byte("=2C")):
			b.WriteByte(',')
		case bytes.HasPrefix(s[i:], []byte("=3D")):
			b.WriteByte('=')
		default:
			return "", fmt.Errorf("%w: bad '=' escape in saslname", ErrMalformed)
		}
		i += 2
	}
	return b.String(), nil
}

// clip shortens client data quoted in error messages.
func clip(b []byte) []byte {
	if len(b) > 32 {
		return b[:32]
	}
	return b
}
