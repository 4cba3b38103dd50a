package metrics

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// feed reads a transcript of one direction (a stream header and what follows) into
// records of conn, as a producer would give them to the chain.
func feed(t *testing.T, out inspect.Sink, conn *inspect.ConnInfo, dir inspect.Direction, transcript string) {
	t.Helper()
	rd := inspect.NewReader(strings.NewReader(transcript), inspect.DefaultLimits)
	for {
		ev, err := rd.Next()
		if err != nil {
			return
		}
		r := ev.Record()
		r.Conn, r.Dir = conn, dir
		if err := out.Write(r); err != nil {
			t.Fatal(err)
		}
	}
}

func scrapeText(t *testing.T, m *Metrics) string {
	t.Helper()
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	if w.Code != 200 {
		t.Fatalf("scrape: %d %s", w.Code, w.Body)
	}
	return w.Body.String()
}

const (
	c2sHeader = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"
	s2cHeader = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='localhost' id='x' version='1.0'>"
)

// TestLabelsBounded: what a peer writes (mechanism names, conditions, element names) ends
// up as one of a few label values; a peer cannot make a new series, nor put a JID or any
// text of its own into the scrape.
func TestLabelsBounded(t *testing.T) {
	m := New()
	out := m.Output().Sink
	for i, mech := range []string{"X-MINE-1", "X-MINE-2", "SCRAM-SHA-256", "scram-sha-256"} {
		conn := &inspect.ConnInfo{ID: uint64(i + 1)}
		feed(t, out, conn, inspect.ClientToServer, c2sHeader+
			"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='"+mech+"'>AGp1bGlldABwdw==</auth>"+
			"<message to='juliet@capulet.example/balcony' type='chat'><body>hi</body></message>"+
			"<juliet-was-here xmlns='jabber:client'/>")
		feed(t, out, conn, inspect.ServerToClient, s2cHeader+
			"<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>"+
			"<message from='juliet@capulet.example/balcony' type='error'><error type='cancel'><juliet-condition xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>"+
			"<message from='romeo@montague.example' type='error'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>romeo</text></error></message>"+
			"<stream:error><romeo-condition xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>")
		out.Write(&inspect.Record{Kind: inspect.KindConnClose, Conn: conn})
	}
	body := scrapeText(t, m)
	for _, want := range []string{
		`stanzascope_logins_total{mechanism="other",result="failure"} 3`,
		`stanzascope_logins_total{mechanism="SCRAM-SHA-256",result="failure"} 1`,
		`stanzascope_stanza_errors_total{condition="other",direction="s2c"} 4`,
		`stanzascope_stanza_errors_total{condition="service-unavailable",direction="s2c"} 4`,
		`stanzascope_stream_errors_total{condition="other",direction="s2c"} 4`,
		`stanzascope_stanzas_total{direction="c2s",element="message"} 4`,
		`stanzascope_stanzas_total{direction="c2s",element="other"} 8`, // <auth/> and the unknown element
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("no %s in\n%s", want, grepStanzascope(body))
		}
	}
	for _, bad := range []string{"juliet", "romeo", "capulet", "X-MINE", "scram-sha"} {
		if strings.Contains(body, bad) {
			t.Errorf("the scrape shows %q:\n%s", bad, grepStanzascope(body))
		}
	}
	if n := len(m.records.pending); n != 0 {
		t.Errorf("%d logins still followed after every connection closed", n)
	}
}

// TestLogins: SASL (RFC 6120 and XEP-0388's SASL2) and jabber:iq:auth logins are counted
// when the server answers, under the mechanism the client chose; an iq-auth request that
// is only a question (type get) or an answer to another request counts nothing.
func TestLogins(t *testing.T) {
	m := New()
	out := m.Output().Sink
	a, b, c := &inspect.ConnInfo{ID: 1}, &inspect.ConnInfo{ID: 2}, &inspect.ConnInfo{ID: 3}
	feed(t, out, a, inspect.ClientToServer, c2sHeader+"<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-1'><initial-response>x</initial-response></authenticate>")
	feed(t, out, b, inspect.ClientToServer, "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='localhost'>"+
		"<iq type='get' id='q'><query xmlns='jabber:iq:auth'><username>romeo</username></query></iq>"+
		"<iq type='set' id='a1'><query xmlns='jabber:iq:auth'><username>romeo</username><password>[redacted]</password><resource>r</resource></query></iq>")
	feed(t, out, c, inspect.ClientToServer, c2sHeader+"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>x</auth>")
	feed(t, out, b, inspect.ServerToClient, "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' from='localhost' id='y'>"+
		"<iq type='result' id='q'><query xmlns='jabber:iq:auth'><username/><password/><resource/></query></iq>"+
		"<iq type='result' id='a1'/>")
	feed(t, out, a, inspect.ServerToClient, s2cHeader+"<success xmlns='urn:xmpp:sasl:2'><authorization-identifier>juliet@localhost</authorization-identifier></success>")
	feed(t, out, c, inspect.ServerToClient, s2cHeader+"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
	rtt := &inspect.Record{Kind: inspect.KindStanza, Name: "iq", NS: inspect.NSClient, Dir: inspect.ServerToClient, Conn: c,
		Raw: []byte("<iq type='result' id='b'/>")}
	rtt.SetRTT(3 * time.Millisecond)
	out.Write(rtt)
	body := scrapeText(t, m)
	for _, want := range []string{
		`stanzascope_logins_total{mechanism="SCRAM-SHA-1",result="success"} 1`,
		`stanzascope_logins_total{mechanism="iq-auth",result="success"} 1`,
		`stanzascope_logins_total{mechanism="PLAIN",result="success"} 1`,
		`stanzascope_iq_rtt_seconds_bucket{direction="c2s",le="0.0025"} 0`,
		`stanzascope_iq_rtt_seconds_bucket{direction="c2s",le="0.005"} 1`,
		`stanzascope_iq_rtt_seconds_count{direction="c2s"} 1`,
	} {
		if !strings.Contains(body, want+"\n") {
			t.Errorf("no %s in\n%s", want, grepStanzascope(body))
		}
	}
	if strings.Count(body, "stanzascope_logins_total{") != 3 {
		t.Errorf("logins:\n%s", grepStanzascope(body))
	}
}

func grepStanzascope(body string) string {
	var b strings.Builder
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "stanzascope_") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}
