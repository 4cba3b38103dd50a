package inspect

import (
	"encoding/base64"
	"strconv"
	"strings"
	"testing"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func saslElem(t testing.TB, xml string) *Element {
	t.Helper()
	e, err := ParseElement([]byte(xml), nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

const (
	saslNS  = "xmlns='urn:ietf:params:xml:ns:xmpp-sasl'"
	sasl2NS = "xmlns='urn:xmpp:sasl:2'"
)

func TestDescribeSASL(t *testing.T) {
	cases := []struct {
		name, xml string
		want      string // with secrets redacted
		secret    string // what must show only with showSecrets ("" when none)
	}{
		{"plain", "<auth " + saslNS + " mechanism='PLAIN'>" + b64("\x00juliet\x00r0m30") + "</auth>",
			`PLAIN: authzid none, authcid "juliet", password [redacted]`, "r0m30"},
		{"plain with authzid", "<auth " + saslNS + " mechanism='PLAIN'>" + b64("admin@example.org\x00juliet\x00pw") + "</auth>",
			`PLAIN: authzid "admin@example.org", authcid "juliet", password [redacted]`, "pw"},
		// RFC 5802 section 5 example.
		{"scram client-first", "<auth " + saslNS + " mechanism='SCRAM-SHA-1'>" + b64("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL") + "</auth>",
			`SCRAM-SHA-1 client-first: no channel binding (n), user "user", nonce "fyko+d2lbbFgONRv9qkxdawL"`, ""},
		{"scram client-first with authzid and binding", "<auth " + saslNS + " mechanism='SCRAM-SHA-256-PLUS'>" + b64("p=tls-exporter,a=adm=2Cin,n=us=3Der,r=abc") + "</auth>",
			`SCRAM-SHA-256-PLUS client-first: channel binding "tls-exporter", authzid "adm,in", user "us=er", nonce "abc"`, ""},
		{"scram server-first", "<challenge " + saslNS + ">" + b64("r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096") + "</challenge>",
			`SCRAM server-first: nonce "fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j", salt QSXCR+Q6sek8bf92 (12 bytes), iterations 4096`, ""},
		{"scram client-final", "<response " + saslNS + ">" + b64("c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0T+HI4Ts=") + "</response>",
			`SCRAM client-final: channel binding biws = "n,,", nonce "fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j", proof [redacted]`, "v0X8v3Bz2T0CJGbJQyF0T+HI4Ts="},
		{"scram server-final", "<success " + saslNS + ">" + b64("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=") + "</success>",
			`SCRAM server-final: server signature "rmF9pqV8S7suAoZWja4dJRkFsKQ="`, ""},
		{"scram server-final as challenge", "<challenge " + saslNS + ">" + b64("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=") + "</challenge>",
			`SCRAM server-final: server signature "rmF9pqV8S7suAoZWja4dJRkFsKQ="`, ""},
		{"scram error", "<challenge " + saslNS + ">" + b64("e=invalid-proof") + "</challenge>",
			`SCRAM server-final: error "invalid-proof"`, ""},
		// RFC 2831 section 4 example.
		{"digest challenge", "<challenge " + saslNS + ">" + b64(`realm="elwood.innosoft.com",nonce="OA6MG9tEQGm2hh",qop="auth",algorithm=md5-sess,charset=utf-8`) + "</challenge>",
			`DIGEST-MD5 challenge: realm "elwood.innosoft.com", nonce "OA6MG9tEQGm2hh", qop "auth", algorithm "md5-sess", charset "utf-8"`, ""},
		{"digest response", "<response " + saslNS + ">" + b64(`charset=utf-8,username="chris",realm="elwood.innosoft.com",nonce="OA6MG9tEQGm2hh",nc=00000001,cnonce="OA6MHXh6VqTrRk",digest-uri="imap/elwood.innosoft.com",response=d388dad90d4bbd760a152321f2143af7,qop=auth`) + "</response>",
			`DIGEST-MD5 response: charset "utf-8", username "chris", realm "elwood.innosoft.com", nonce "OA6MG9tEQGm2hh", nc "00000001", cnonce "OA6MHXh6VqTrRk", digest-uri "imap/elwood.innosoft.com", response [redacted], qop "auth"`, "d388dad90d4bbd760a152321f2143af7"},
		{"digest rspauth", "<challenge " + saslNS + ">" + b64("rspauth=ea40f60335c427b5527b84dbabcdfffd") + "</challenge>",
			`DIGEST-MD5 server proof: rspauth "ea40f60335c427b5527b84dbabcdfffd"`, ""},
		{"digest auth", "<auth " + saslNS + " mechanism='DIGEST-MD5'/>",
			`DIGEST-MD5: no initial response (the server sends a challenge first)`, ""},
		{"external empty", "<auth " + saslNS + " mechanism='EXTERNAL'>=</auth>",
			`EXTERNAL: no authzid (the identity is the one the certificate proves)`, ""},
		{"external authzid", "<auth " + saslNS + " mechanism='EXTERNAL'>" + b64("juliet@example.org") + "</auth>",
			`EXTERNAL: authzid "juliet@example.org"`, ""},
		{"anonymous", "<auth " + saslNS + " mechanism='ANONYMOUS'>" + b64("sirhc") + "</auth>", `ANONYMOUS: trace "sirhc"`, ""},
		{"x-oauth2", "<auth " + saslNS + " mechanism='X-OAUTH2'>" + b64("\x00juliet\x00ya29.tok") + "</auth>",
			`X-OAUTH2: authzid none, authcid "juliet", token [redacted]`, "ya29.tok"},
		{"oauthbearer", "<auth " + saslNS + " mechanism='OAUTHBEARER'>" + b64("n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01") + "</auth>",
			`OAUTHBEARER: authzid "user@example.com", host "server.example.com", port "143", auth [redacted]`, "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=="},
		{"sasl2 authenticate", "<authenticate " + sasl2NS + " mechanism='PLAIN'><initial-response>" + b64("\x00juliet\x00pw2") + "</initial-response><user-agent id='x'/></authenticate>",
			`PLAIN: authzid none, authcid "juliet", password [redacted]`, "pw2"},
		{"sasl2 success", "<success " + sasl2NS + "><additional-data>" + b64("v=rmF9pqV8S7suAoZWja4dJRkFsKQ=") + "</additional-data><authorization-identifier>juliet@example.org/x</authorization-identifier></success>",
			`SCRAM server-final: server signature "rmF9pqV8S7suAoZWja4dJRkFsKQ="`, ""},
		{"unknown mechanism", "<auth " + saslNS + " mechanism='X-TOKEN'>" + b64("abc") + "</auth>",
			`X-TOKEN: 3 bytes (stanzascope does not decode this mechanism)`, ""},
		{"not base64", "<auth " + saslNS + " mechanism='PLAIN'>%%%</auth>", `3 characters that are not base64`, ""},
		{"base64 without padding, folded", "<response " + saslNS + ">\n  " + strings.TrimRight(b64("c=biws,r=abc,p=secretproof"), "=") + "\n</response>",
			`SCRAM client-final: channel binding biws = "n,,", nonce "abc", proof [redacted]`, "secretproof"},
		{"redacted payload", "<auth " + saslNS + " mechanism='PLAIN'>[redacted]</auth>", "", ""},
		{"success without data", "<success " + saslNS + "/>", "", ""},
		{"empty challenge", "<challenge " + saslNS + "/>", "empty challenge", ""},
		{"not sasl", "<auth xmlns='jabber:iq:auth'>x</auth>", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := saslElem(t, tc.xml)
			got := DescribeSASL(e, false)
			if got != tc.want {
				t.Errorf("DescribeSASL:\n got  %s\n want %s", got, tc.want)
			}
			shown := DescribeSASL(e, true)
			if tc.secret != "" {
				if strings.Contains(got, tc.secret) {
					t.Errorf("the secret shows without showSecrets: %s", got)
				}
				if !strings.Contains(shown, tc.secret) {
					t.Errorf("with showSecrets the secret is missing: %s", shown)
				}
			} else if shown != got {
				t.Errorf("showSecrets changes a line without secrets: %s", shown)
			}
		})
	}
}

// FuzzDescribeSASL: any payload decodes without panic; a PLAIN password, a SCRAM proof
// or a DIGEST-MD5 response hash made from the fuzzer's bytes never shows without
// showSecrets.
func FuzzDescribeSASL(f *testing.F) {
	f.Add("PLAIN", "", "juliet", "r0m30", []byte("n,,n=user,r=abc"))
	f.Add("SCRAM-SHA-1", "admin", "us,er", "v0X8v3Bz2T0CJGbJQyF0T+HI4Ts=", []byte("r=abc,s=QSXCR+Q6sek8bf92,i=4096"))
	f.Add("DIGEST-MD5", "", "chris", "d388dad9", []byte(`realm="x",nonce="y",qop="auth"`))
	f.Fuzz(func(t *testing.T, mech, authz, user, secret string, other []byte) {
		for _, local := range []string{"auth", "challenge", "response", "success"} {
			x := "<" + local + " " + saslNS + " mechanism='" + EscapeAttr(mech) + "'>" + base64.StdEncoding.EncodeToString(other) + "</" + local + ">"
			if e, err := ParseElement([]byte(x), nil); err == nil {
				DescribeSASL(e, false)
				DescribeSASL(e, true)
			}
		}
		if len(secret) < 4 || strings.ContainsAny(secret, "\x00,=\x01\"\\") || strings.Contains(authz+user, secret) ||
			strings.Contains(secret, redactedMarker) || strings.Contains(mech, secret) {
			return
		}
		quoted := strconv.Quote(secret)
		for _, m := range []struct{ mech, local, payload string }{
			{"PLAIN", "auth", authz + "\x00" + user + "\x00" + secret},
			{"X-OAUTH2", "auth", authz + "\x00" + user + "\x00" + secret},
			{"", "response", "c=biws,r=" + user + ",p=" + secret},
			{"", "response", `username="` + user + `",response=` + secret + `,qop=auth`},
			{"OAUTHBEARER", "auth", "n,a=" + authz + ",\x01auth=Bearer " + secret + "\x01\x01"},
		} {
			x := "<" + m.local + " " + saslNS
			if m.mech != "" {
				x += " mechanism='" + m.mech + "'"
			}
			x += ">" + base64.StdEncoding.EncodeToString([]byte(m.payload)) + "</" + m.local + ">"
			e, err := ParseElement([]byte(x), nil)
			if err != nil {
				t.Fatal(err)
			}
			got := DescribeSASL(e, false)
			if strings.Contains(got, secret) || strings.Contains(got, quoted[1:len(quoted)-1]) {
				t.Fatalf("%s %s shows the secret %q: %s", m.mech, m.local, secret, got)
			}
		}
	})
}
