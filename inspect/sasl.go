package inspect

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
)

// nsSASL2 elements decoded besides RFC 6120's: <authenticate> with its
// <initial-response>, <challenge>, <response>, and the <additional-data> of <success>.

// DescribeSASL says in one line what the payload of a SASL element holds, decoded from
// base64: PLAIN as authzid, authcid and password; SCRAM's client-first (user, nonce),
// server-first (nonce, salt, iterations), client-final (channel binding, nonce, proof) and
// server-final (signature or error); DIGEST-MD5's directives; EXTERNAL's authzid;
// ANONYMOUS's trace; the identity of OAuth mechanisms. Unless showSecrets, the secrets in
// it are replaced by [redacted]: the PLAIN (and X-OAUTH2) password or token, the SCRAM
// client proof, the DIGEST-MD5 response hash, OAuth bearer tokens. It returns "" for a
// record that is not a SASL element with a payload, or whose payload was redacted.
//
// e is the parsed element (RFC 6120 SASL or XEP-0388 SASL2). The mechanism comes from
// <auth> and <authenticate>; the steps after them are recognised by their content.
func DescribeSASL(e *Element, showSecrets bool) string {
	if e == nil || (e.Space != NSSASL && e.Space != nsSASL2) {
		return ""
	}
	var payload, mech string
	switch {
	case e.Local == "auth" && e.Space == NSSASL:
		mech, payload = e.Attr("mechanism"), e.Text()
	case e.Local == "authenticate" && e.Space == nsSASL2:
		mech = e.Attr("mechanism")
		if ir := e.Child(nsSASL2, "initial-response"); ir != nil {
			payload = ir.Text()
		}
	case e.Local == "challenge" || e.Local == "response":
		payload = e.Text()
	case e.Local == "success" && e.Space == NSSASL:
		payload = e.Text()
	case e.Local == "success" && e.Space == nsSASL2:
		if ad := e.Child(nsSASL2, "additional-data"); ad != nil {
			payload = ad.Text()
		}
	default:
		return ""
	}
	payload = strings.TrimSpace(payload)
	if strings.Contains(payload, redactedMarker) {
		return "" // nothing left to decode
	}
	d := saslDecoder{show: showSecrets}
	var data []byte
	switch payload {
	case "":
		switch {
		case mech != "":
			return mech + ": no initial response (the server sends a challenge first)"
		case e.Local == "success":
			return ""
		}
		return "empty " + e.Local
	case "=":
		// An empty message, as opposed to none (RFC 6120 section 6.4.2).
	default:
		var err error
		if data, err = decodeBase64(payload); err != nil {
			return fmt.Sprintf("%d characters that are not base64", len(payload))
		}
	}
	switch {
	case mech != "":
		return d.initial(mech, data)
	case e.Local == "response":
		return d.response(data)
	default:
		return d.server(data)
	}
}

// SASL returns DescribeSASL for the record's element, with the secrets of the bytes it
// carries: when the sink chain's redactor changed the record, what it decoded from the
// bytes before (secrets redacted); otherwise the bytes as they are, so the line shows a
// secret only when the record's bytes show it too (--show-secrets).
func (r *Record) SASL() string {
	if s := r.ext().sasl; s != "" {
		return s
	}
	if r.Kind != KindStanza || !isSASLName(r.Name) {
		return ""
	}
	e, err := r.Element()
	if err != nil {
		return ""
	}
	return DescribeSASL(e, true)
}

// describeRedacted is what the redactor keeps of a SASL element before it redacts the
// payload: the decoded line without its secrets.
func describeRedacted(r *Record) string {
	if r.Kind != KindStanza || !isSASLName(r.Name) {
		return ""
	}
	e, err := ParseElement(r.Raw, r.Header)
	if err != nil {
		return ""
	}
	return DescribeSASL(e, false)
}

func isSASLName(name string) bool {
	switch name {
	case "auth", "authenticate", "challenge", "response", "success":
		return true
	}
	return false
}

// decodeBase64 decodes standard base64, with or without padding, ignoring whitespace.
func decodeBase64(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
}

type saslDecoder struct{ show bool }

// secret shows v, or [redacted].
func (d saslDecoder) secret(v string) string {
	if d.show {
		return strconv.Quote(v)
	}
	return redactedMarker
}

// initial decodes the first message of mechanism mech.
func (d saslDecoder) initial(mech string, data []byte) string {
	m := strings.ToUpper(mech)
	switch {
	case m == "PLAIN" || m == "X-OAUTH2":
		parts := strings.SplitN(string(data), "\x00", 3)
		if len(parts) != 3 {
			return fmt.Sprintf("%s: %d bytes, not authzid NUL authcid NUL password", mech, len(data))
		}
		what := "password"
		if m == "X-OAUTH2" {
			what = "token"
		}
		return fmt.Sprintf("%s: authzid %s, authcid %q, %s %s", mech, orNone(parts[0]), parts[1], what, d.secret(parts[2]))
	case strings.HasPrefix(m, "SCRAM-"):
		return mech + " client-first: " + d.scramClientFirst(string(data))
	case m == "EXTERNAL":
		if len(data) == 0 {
			return "EXTERNAL: no authzid (the identity is the one the certificate proves)"
		}
		return fmt.Sprintf("EXTERNAL: authzid %q", data)
	case m == "ANONYMOUS":
		return fmt.Sprintf("ANONYMOUS: trace %q", data)
	case m == "OAUTHBEARER":
		return "OAUTHBEARER: " + d.oauthBearer(string(data))
	case m == "DIGEST-MD5":
		return "DIGEST-MD5 response: " + d.directives(string(data))
	}
	return fmt.Sprintf("%s: %d bytes (stanzascope does not decode this mechanism)", mech, len(data))
}

// response decodes a client's answer to a challenge by its content.
func (d saslDecoder) response(data []byte) string {
	s := string(data)
	switch {
	case len(s) == 0:
		return "empty response"
	case strings.HasPrefix(s, "c=") && strings.Contains(s, ",r=") && strings.Contains(s, ",p="):
		return "SCRAM client-final: " + d.scramAttrs(s, true)
	case strings.Contains(s, "username=") || strings.Contains(s, "response="):
		return "DIGEST-MD5 response: " + d.directives(s)
	}
	return fmt.Sprintf("response: %d bytes (not a SCRAM or DIGEST-MD5 message)", len(data))
}

// server decodes a challenge or the additional data of a success by its content.
func (d saslDecoder) server(data []byte) string {
	s := string(data)
	switch {
	case strings.HasPrefix(s, "r=") && strings.Contains(s, ",s=") && strings.Contains(s, ",i="):
		return "SCRAM server-first: " + d.scramAttrs(s, false)
	case strings.HasPrefix(s, "v="):
		return fmt.Sprintf("SCRAM server-final: server signature %q", s[2:])
	case strings.HasPrefix(s, "e="):
		return fmt.Sprintf("SCRAM server-final: error %q", s[2:])
	case strings.HasPrefix(s, "rspauth="):
		return "DIGEST-MD5 server proof: " + d.directives(s)
	case strings.Contains(s, "nonce=") && (strings.Contains(s, "qop=") || strings.Contains(s, "algorithm=")):
		return "DIGEST-MD5 challenge: " + d.directives(s)
	}
	return fmt.Sprintf("%d bytes (not a SCRAM or DIGEST-MD5 message)", len(data))
}

// scramClientFirst decodes "gs2-header client-first-bare" (RFC 5802 section 7).
func (d saslDecoder) scramClientFirst(s string) string {
	cb, rest, ok1 := strings.Cut(s, ",")
	authz, bare, ok2 := strings.Cut(rest, ",")
	if !ok1 || !ok2 {
		return fmt.Sprintf("%d bytes, not a SCRAM client-first message", len(s))
	}
	var parts []string
	switch {
	case cb == "n":
		parts = append(parts, "no channel binding (n)")
	case cb == "y":
		parts = append(parts, "channel binding supported but not used (y)")
	case strings.HasPrefix(cb, "p="):
		parts = append(parts, fmt.Sprintf("channel binding %q", cb[2:]))
	default:
		parts = append(parts, fmt.Sprintf("gs2 flag %q", cb))
	}
	if a, ok := strings.CutPrefix(authz, "a="); ok {
		parts = append(parts, fmt.Sprintf("authzid %q", scramName(a)))
	}
	parts = append(parts, d.scramAttrs(bare, false))
	return strings.Join(parts, ", ")
}

// scramAttrs decodes the attributes of a SCRAM message. client says it is the client's
// final message, whose proof is a secret.
func (d saslDecoder) scramAttrs(s string, client bool) string {
	var parts []string
	for _, a := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(a, "=")
		if !ok || len(k) != 1 {
			parts = append(parts, fmt.Sprintf("%q", a))
			continue
		}
		switch k {
		case "n":
			parts = append(parts, fmt.Sprintf("user %q", scramName(v)))
		case "r":
			parts = append(parts, fmt.Sprintf("nonce %q", v))
		case "s":
			if salt, err := base64.StdEncoding.DecodeString(v); err == nil {
				parts = append(parts, fmt.Sprintf("salt %s (%d bytes)", v, len(salt)))
			} else {
				parts = append(parts, fmt.Sprintf("salt %q", v))
			}
		case "i":
			parts = append(parts, "iterations "+v)
		case "c":
			cb := v
			if raw, err := base64.StdEncoding.DecodeString(v); err == nil {
				cb = fmt.Sprintf("%s = %q", v, raw)
			}
			parts = append(parts, "channel binding "+cb)
		case "p":
			if client {
				parts = append(parts, "proof "+d.secret(v))
			} else {
				parts = append(parts, fmt.Sprintf("p %q", v))
			}
		case "m":
			parts = append(parts, fmt.Sprintf("extension %q", v))
		default:
			parts = append(parts, fmt.Sprintf("%s %q", k, v))
		}
	}
	return strings.Join(parts, ", ")
}

// scramName undoes SCRAM's escaping of ',' and '=' in names.
func scramName(s string) string {
	return strings.NewReplacer("=2C", ",", "=3D", "=").Replace(s)
}

// directives decodes DIGEST-MD5's key=value list (RFC 2831); the response hash is a
// secret (it allows a dictionary attack on the password).
func (d saslDecoder) directives(s string) string {
	list, ok := splitDirectives(s)
	if !ok && !d.show {
		// Unbalanced quotes: which value is the response cannot be told for sure.
		return fmt.Sprintf("%d bytes, not a well-formed list of directives", len(s))
	}
	var parts []string
	for _, kv := range list {
		k, v, _ := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		v = strings.Trim(strings.TrimSpace(v), `"`)
		if k == "response" {
			parts = append(parts, "response "+d.secret(v))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %q", k, v))
	}
	return strings.Join(parts, ", ")
}

// splitDirectives splits at commas outside quoted strings. ok is false when a quoted
// string does not end.
func splitDirectives(s string) (out []string, ok bool) {
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				if p := strings.TrimSpace(s[start:i]); p != "" {
					out = append(out, p)
				}
				start = i + 1
			}
		}
	}
	if start < len(s) {
		if p := strings.TrimSpace(s[start:]); p != "" {
			out = append(out, p)
		}
	}
	return out, !quoted
}

// oauthBearer decodes RFC 7628's client response: a GS2 header, then key=value pairs
// separated by ^A; the auth pair holds the bearer token.
func (d saslDecoder) oauthBearer(s string) string {
	head, rest, _ := strings.Cut(s, "\x01")
	var parts []string
	if _, authz, ok := strings.Cut(head, "a="); ok {
		parts = append(parts, fmt.Sprintf("authzid %q", strings.TrimSuffix(scramName(authz), ",")))
	}
	for _, kv := range bytes.Split([]byte(rest), []byte{1}) {
		k, v, ok := strings.Cut(string(kv), "=")
		if !ok {
			continue
		}
		if k == "auth" {
			parts = append(parts, "auth "+d.secret(v))
			continue
		}
		parts = append(parts, fmt.Sprintf("%s %q", k, v))
	}
	return strings.Join(parts, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return strconv.Quote(s)
}
