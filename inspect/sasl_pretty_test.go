package inspect

import (
	"bytes"
	"strings"
	"testing"
)

// TestSASLLineThroughRedactor: in the sink chain the pretty printer gets records the
// redactor changed: it shows the decoded line of the payload, never the password, the
// proof or the base64 payload; without the redactor (--show-secrets) it shows them.
func TestSASLLineThroughRedactor(t *testing.T) {
	plain := b64("\x00juliet\x00r0m30")
	final := b64("c=biws,r=nonce,p=THEPROOF=")
	recs := []*Record{
		rec(t, ClientToServer, "<auth "+saslNS+" mechanism='PLAIN'>"+plain+"</auth>"),
		rec(t, ClientToServer, "<auth "+saslNS+" mechanism='SCRAM-SHA-1'>"+b64("n,,n=juliet,r=nonce")+"</auth>"),
		rec(t, ClientToServer, "<response "+saslNS+">"+final+"</response>"),
	}
	var redacted, shown bytes.Buffer
	writeAll(t, NewRedactor(NewPretty(&redacted, PrettyOptions{})), recs)
	writeAll(t, NewPretty(&shown, PrettyOptions{}), recs)
	out := redacted.String()
	for _, want := range []string{
		`  = PLAIN: authzid none, authcid "juliet", password [redacted]`,
		`  = SCRAM-SHA-1 client-first: no channel binding (n), user "juliet", nonce "nonce"`,
		`  = SCRAM client-final: channel binding biws = "n,,", nonce "nonce", proof [redacted]`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("redacted output lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range []string{"r0m30", plain, "THEPROOF", final} {
		if strings.Contains(out, secret) {
			t.Errorf("redacted output shows %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{`password "r0m30"`, `proof "THEPROOF="`, plain} {
		if !strings.Contains(shown.String(), want) {
			t.Errorf("output without redactor lacks %q:\n%s", want, shown.String())
		}
	}
	// The producer's record is not changed by the redactor.
	if recs[0].SASL() != `PLAIN: authzid none, authcid "juliet", password "r0m30"` {
		t.Errorf("producer's record: %q", recs[0].SASL())
	}
}
