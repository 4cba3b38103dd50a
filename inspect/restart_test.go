package inspect

import (
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

const (
	saslSuccess = "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
	saslAuth    = "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>"
	newHeader   = "<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
	// goSendXMPP is what go-sendxmpp (mattn/go-xmpp) sends after SASL success.
	goSendXMPP = "\n<?xml version='1.0'?>\n" + newHeader
)

func TestAfter(t *testing.T) {
	cases := []struct {
		name, ns string
		want     Next
	}{
		{"success", NSSASL, NextRestart},
		{"proceed", NSTLS, NextTLS},
		{"auth", NSSASL, NextMaybeRestart},
		{"response", NSSASL, NextMaybeRestart},
		{"starttls", NSTLS, NextMaybeTLS},
		{"challenge", NSSASL, NextStanza},
		{"failure", NSSASL, NextStanza},
		{"failure", NSTLS, NextStanza},
		{"success", "urn:xmpp:sasl:2", NextStanza}, // SASL2 does not restart
		{"message", NSClient, NextStanza},
	}
	for _, tc := range cases {
		if got := After(tc.name, tc.ns); got != tc.want || got.NewStream() != (tc.want != NextStanza) {
			t.Errorf("After(%s, %s) = %v, want %v", tc.name, tc.ns, got, tc.want)
		}
	}
}

// kindsOf reads every event, one byte at a time as well, and returns their kinds, with the
// raw bytes of stream headers.
func kindsOf(t *testing.T, mk func(io.Reader) *Reader, in string, restartAfter string) (string, error) {
	t.Helper()
	var first string
	var firstErr error
	for i, one := range []bool{false, true} {
		var src io.Reader = strings.NewReader(in)
		if one {
			src = iotest.OneByteReader(src)
		}
		r := mk(src)
		var out []string
		var err error
		for {
			var ev Event
			ev, err = r.Next()
			if err != nil {
				break
			}
			k := ev.Kind.String()
			switch ev.Kind {
			case KindStanza:
				k = ev.Name
			case KindStreamOpen:
				k = "open[" + string(ev.Raw[:min(len(ev.Raw), 8)]) + "]"
			case KindWhitespace:
				continue // a one-byte reader splits whitespace
			}
			out = append(out, k)
			if ev.Kind == KindStanza && ev.Name == restartAfter {
				r.Restart()
			}
		}
		if err == io.EOF {
			err = nil
		}
		got := strings.Join(out, " ")
		if i == 0 {
			first, firstErr = got, err
		} else if got != first || (err == nil) != (firstErr == nil) {
			t.Fatalf("one byte at a time: %q, %v; whole: %q, %v", got, err, first, firstErr)
		}
	}
	return first, firstErr
}

func TestReaderRestarts(t *testing.T) {
	full := func(src io.Reader) *Reader { return NewReader(src, Limits{}) }
	frag := func(src io.Reader) *Reader { return NewFragmentReader(src, nil, Limits{}) }
	cases := []struct {
		name    string
		mk      func(io.Reader) *Reader
		in      string
		restart string // call Restart after this stanza
		want    string
		cond    Cond // the error, if any
	}{
		{"go-sendxmpp after Restart", full, testHeader + saslSuccess + goSendXMPP + "<presence/>", "success",
			"open[<?xml ve] success open[\n<?xml v] presence", ""},
		{"XML declaration after Restart", full, testHeader + saslSuccess + "<?xml version='1.0'?>" + newHeader, "success",
			"open[<?xml ve] success open[<?xml ve]", ""},
		{"header after success without Restart", full, testHeader + saslSuccess + newHeader + "<presence/>", "",
			"open[<?xml ve] success open[<stream:] presence", ""},
		{"go-sendxmpp after success without Restart", full, testHeader + saslSuccess + goSendXMPP + "<presence/>", "",
			"open[<?xml ve] success open[<?xml ve] presence", ""},
		{"header after the client's auth", full, testHeader + saslAuth + "\n" + newHeader + "<iq type='get' id='1'/>", "",
			"open[<?xml ve] auth open[<stream:] iq", ""},
		{"header after the client's starttls", full, testHeader + "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>" + newHeader + "<presence/></stream:stream>", "",
			"open[<?xml ve] starttls open[<stream:] presence close", ""},
		{"header after proceed", full, testHeader + "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>" + newHeader, "",
			"open[<?xml ve] proceed open[<stream:]", ""},
		{"header with a default streams namespace", full, testHeader + saslSuccess + "<stream xmlns='http://etherx.jabber.org/streams'>", "",
			"open[<?xml ve] success open[<stream ]", ""},
		{"a stream element in another namespace is a stanza", full, testHeader + "<stream xmlns='urn:example'/>", "",
			"open[<?xml ve] stream", ""},
		{"header where a stanza was expected", full, testHeader + "<presence/>" + newHeader, "",
			"open[<?xml ve] presence", CondBadFormat},
		{"header after a message", full, testHeader + saslSuccess + "<message/>" + newHeader, "",
			"open[<?xml ve] success message", CondBadFormat},
		{"XML declaration where a stanza was expected", full, testHeader + "<presence/><?xml version='1.0'?>", "",
			"open[<?xml ve] presence", CondRestrictedXML},
		{"whitespace before the first XML declaration", full, " <?xml version='1.0'?>" + newHeader, "",
			"", CondRestrictedXML},
		{"fragment: a header first", frag, newHeader + "<presence/></stream:stream>", "",
			"open[<stream:] presence close", ""},
		{"fragment: the server's side from the middle", frag, "<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>x</challenge>\n" + saslSuccess + goSendXMPP + "\n<stream:features/>", "",
			"challenge success open[<?xml ve] features", ""},
		{"fragment: a header after stanzas", frag, "<presence/>" + newHeader, "",
			"presence", CondBadFormat},
		{"new header must declare its prefix", full, testHeader + saslSuccess + "<stream:stream xmlns='jabber:client'>", "",
			"open[<?xml ve] success", CondNotWellFormed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := kindsOf(t, tc.mk, tc.in, tc.restart)
			if got != tc.want {
				t.Errorf("events %q, want %q", got, tc.want)
			}
			if tc.cond == "" && err != nil {
				t.Fatalf("error %v", err)
			}
			if tc.cond != "" {
				if se := AsStreamError(err); se == nil || se.Condition != tc.cond {
					t.Fatalf("error %v, want %s", err, tc.cond)
				}
			}
		})
	}
}

// After a restart the new header is the one in force, and a close must match it.
func TestReaderRestartHeader(t *testing.T) {
	in := testHeader + saslSuccess + "<s:stream xmlns='jabber:client' xmlns:s='http://etherx.jabber.org/streams' id='two'><presence/></s:stream>"
	r := NewReader(strings.NewReader(in), Limits{})
	var ids []string
	for {
		ev, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind == KindStreamOpen {
			ids = append(ids, ev.Header.ID)
		}
		if ev.Kind == KindStanza && ev.Name == "presence" && (ev.Header.ID != "two" || ev.NS != NSClient) {
			t.Errorf("presence in header %q ns %q", ev.Header.ID, ev.NS)
		}
	}
	if strings.Join(ids, ",") != ",two" || r.Header().Prefix != "s" {
		t.Fatalf("headers %q, prefix %q", ids, r.Header().Prefix)
	}
}

func TestReaderDeclarations(t *testing.T) {
	for _, decl := range []string{
		"<?xml version='1.0'?>",
		`<?xml version="1.0" encoding="utf-8"?>`,
		"<?xml version = '1.0'  encoding='UTF-8' standalone='yes' ?>",
		"<?xml version='1.0' standalone='no'?>",
	} {
		if _, err := readEvents(NewReader(strings.NewReader(decl+newHeader), Limits{})); err != nil {
			t.Errorf("%s: %v", decl, err)
		}
	}
}
