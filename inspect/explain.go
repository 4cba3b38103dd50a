package inspect

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// Namespaces the explanations know about.
const (
	nsChatStates = "http://jabber.org/protocol/chatstates"
	nsXEvent     = "jabber:x:event"
	nsVCard      = "vcard-temp"
	nsCompress   = "http://jabber.org/protocol/compress"
)

// Explain returns one line, written for a student, saying what r means and which section of
// which RFC or XEP defines it, for example "Stream header: the client opens an XML stream to
// localhost (RFC 6120 §4.2); ...". It returns "" for records that carry no XMPP (connection
// notes, gaps). It never reveals a credential: it names a SASL mechanism, not its payload.
func Explain(r *Record) string {
	switch r.Kind {
	case KindStreamOpen:
		return explainHeader(r)
	case KindStreamClose:
		return fmt.Sprintf("Stream close: %s ends its XML stream; the other side answers with its own </stream:stream> and the TCP connection closes (RFC 6120 §4.4)", actor(r.Dir))
	case KindWhitespace:
		return "Whitespace keep-alive: spaces or newlines between stanzas carry no meaning and keep idle connections open (RFC 6120 §4.6.1)"
	case KindError:
		if se := AsStreamError(r.Err()); se != nil {
			return "The stream broke the rules: " + describeCondition(streamConditions, string(se.Condition)) + "; the peer answers with a stream error and closes"
		}
		if errors.Is(r.Err(), io.ErrUnexpectedEOF) {
			return "The bytes ended in the middle of a stanza or stream header: the connection was cut, or the capture missed the rest"
		}
		return ""
	case KindStanza:
		e, err := r.Element()
		if err != nil {
			return "This stanza could not be parsed: " + err.Error()
		}
		return explainElement(r, e)
	}
	return ""
}

// actor names who sent a record in the given direction.
func actor(d Direction) string {
	switch d {
	case ClientToServer:
		return "the client"
	case ServerToClient:
		return "the server"
	}
	return "a peer"
}

func explainHeader(r *Record) string {
	h := r.Header
	if h == nil {
		h = headerFromRaw(r.Raw)
	}
	var b strings.Builder
	b.WriteString("Stream header: ")
	switch r.Dir {
	case ServerToClient:
		b.WriteString("the server answers with its own stream header")
		if h.From != "" {
			b.WriteString(" from " + h.From)
		}
		if h.ID != "" {
			b.WriteString(", stream id " + h.ID + " (fresh for each stream)")
		}
	default:
		b.WriteString(actor(r.Dir) + " opens an XML stream")
		if h.To != "" {
			b.WriteString(" to " + h.To)
		}
	}
	b.WriteString(" (RFC 6120 §4.2)")
	if h.ContentNS == NSServer {
		b.WriteString("; jabber:server: a server-to-server stream")
	}
	if h.Legacy() {
		b.WriteString("; no version attribute, so this is a pre-XMPP-1.0 stream: no stream features, login with jabber:iq:auth (XEP-0078) and registration with jabber:iq:register (XEP-0077)")
	} else {
		fmt.Fprintf(&b, "; version %s, so stream features follow (RFC 6120 §4.3)", h.Version)
	}
	return b.String()
}

// explainHeaderBrief is the short explanation of a stream header, for one whose kind was
// explained in full before: who opens it, to or from whom, the stream id and the version.
func explainHeaderBrief(r *Record, h *Header) string {
	var b strings.Builder
	b.WriteString("Stream header: ")
	if r.Dir == ServerToClient {
		b.WriteString("the server answers")
		if h.ID != "" {
			b.WriteString(", stream id " + h.ID)
		}
	} else {
		b.WriteString(actor(r.Dir) + " opens a stream")
		if h.To != "" {
			b.WriteString(" to " + h.To)
		}
	}
	if h.Legacy() {
		b.WriteString(", pre-1.0")
	} else {
		b.WriteString(", version " + h.Version)
	}
	return b.String()
}

// headerFromRaw reads a stream header's attributes from its bytes, for records that
// arrive without a parsed Header (a log read back). It is a scanner: values are taken as
// written, with the five predefined entities unescaped.
func headerFromRaw(raw []byte) *Header {
	h := &Header{ContentNS: NSClient}
	t, ok := firstStart(raw)
	if !ok {
		return h
	}
	h.Prefix = prefixOf(string(t.name))
	eachAttr(raw[t.start:t.end], func(name, value []byte, _ byte) bool {
		n, v := string(name), unescapeBasic(string(value))
		switch {
		case n == "to":
			h.To = v
		case n == "from":
			h.From = v
		case n == "id":
			h.ID = v
		case n == "version":
			h.Version = v
		case n == "xml:lang":
			h.Lang = v
		case n == "xmlns":
			h.ContentNS = v
		case strings.HasPrefix(n, "xmlns:"):
			if h.NS == nil {
				h.NS = map[string]string{}
			}
			h.NS[n[len("xmlns:"):]] = v
		}
		a := Attr{Local: n, Value: v}
		if p, l, ok := strings.Cut(n, ":"); ok {
			a.Prefix, a.Local = p, l
			if p == "xml" {
				a.Space = NSXML
			}
		}
		h.Attrs = append(h.Attrs, a)
		return true
	})
	return h
}

var basicEntities = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&", "&apos;", "'", "&quot;", `"`)

func unescapeBasic(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	return basicEntities.Replace(s)
}

func explainElement(r *Record, e *Element) string {
	switch e.Space {
	case NSStreams:
		switch e.Local {
		case "features":
			return explainFeatures(e)
		case "error":
			return explainStreamError(e)
		}
	case NSTLS:
		switch e.Local {
		case "starttls":
			return "STARTTLS request: the client asks to upgrade this TCP connection to TLS (RFC 6120 §5.4.2.1)"
		case "proceed":
			return "STARTTLS proceed: both sides now start the TLS handshake on this connection, then the client opens a new stream (RFC 6120 §5.4.2.3)"
		case "failure":
			return "STARTTLS failure: the server cannot do TLS and closes the stream (RFC 6120 §5.4.2.2)"
		}
	case NSSASL:
		return explainSASL(e)
	case nsCompress:
		return "Stream compression (XEP-0138): " + e.Local + "; stanzascope cannot inspect a compressed stream"
	}
	switch e.Local {
	case "iq":
		return explainIQ(r, e)
	case "message":
		return explainMessage(r, e) + delaySuffix(e) + extensionsOf(e, NSDelay, NSLegacyDelay, nsChatStates, nsXEvent)
	case "presence":
		return explainPresence(r, e) + delaySuffix(e)
	}
	return unknownElement(e)
}

func unknownElement(e *Element) string {
	if n := namespaceName(e.Space); n != "" {
		return fmt.Sprintf("A <%s/> element of %s, namespace %s", e.Local, n, e.Space)
	}
	if e.Space == "" {
		return fmt.Sprintf("A <%s/> element in no namespace, which stanzascope does not explain", e.Local)
	}
	return fmt.Sprintf("A <%s/> element in namespace %s, which stanzascope does not explain (look the namespace up at xmpp.org/extensions)", e.Local, e.Space)
}

// features names what a stream feature offers.
var features = map[string]string{
	NSTLS + " starttls":    "STARTTLS",
	NSSASL + " mechanisms": "SASL",
	NSBind + " bind":       "resource binding",
	NSSession + " session": "session establishment",
	"http://jabber.org/features/iq-register register": "in-band registration (XEP-0077)",
	"http://jabber.org/features/compress compression": "stream compression (XEP-0138)",
	"urn:xmpp:sm:3 sm":                        "stream management (XEP-0198)",
	"urn:xmpp:csi:0 csi":                      "client state indication (XEP-0352)",
	"urn:xmpp:features:rosterver ver":         "roster versioning (RFC 6121 §2.6)",
	"http://jabber.org/protocol/caps c":       "entity capabilities (XEP-0115)",
	"urn:xmpp:features:pre-approval sub":      "subscription pre-approval (RFC 6121 §3.4)",
	"http://jabber.org/features/iq-auth auth": "legacy login (XEP-0078)",
}

func explainFeatures(e *Element) string {
	var offers []string
	for _, c := range e.Elements() {
		name, ok := features[c.Space+" "+c.Local]
		if !ok {
			name = c.Local + " (" + c.Space + ")"
		}
		switch {
		case c.Space == NSSASL && c.Local == "mechanisms":
			var mechs []string
			for _, m := range c.Elements() {
				mechs = append(mechs, strings.TrimSpace(m.Text()))
			}
			name = "SASL login with " + strings.Join(mechs, ", ")
		case c.Child("", "required") != nil:
			name += " (required)"
		}
		offers = append(offers, name)
	}
	if len(offers) == 0 {
		return "Stream features: nothing left to negotiate, the stream is ready for stanzas (RFC 6120 §4.3.2)"
	}
	return "Stream features: the server offers " + strings.Join(offers, "; ") + " (RFC 6120 §4.3.2)"
}

func explainStreamError(e *Element) string {
	cond, text := errorCondition(e, NSStreamErrors)
	s := "Stream error: " + describeCondition(streamConditions, cond) + "; the stream closes after it (RFC 6120 §4.9)"
	if text != "" {
		s += "; text: " + text
	}
	return s
}

// errorCondition returns the defined condition (the first child in space other than
// <text/>) and the trimmed <text/> of a stream or stanza error.
func errorCondition(e *Element, space string) (cond, text string) {
	for _, c := range e.Elements() {
		if c.Space != space {
			continue
		}
		if c.Local == "text" {
			text = strings.TrimSpace(c.Text())
		} else if cond == "" {
			cond = c.Local
		}
	}
	return cond, text
}

func explainSASL(e *Element) string {
	switch e.Local {
	case "auth":
		mech := e.Attr("mechanism")
		s := "SASL auth: the client starts logging in with mechanism " + mech + " (RFC 6120 §6.4.2)"
		switch {
		case mech == "PLAIN":
			s += "; PLAIN sends the password only base64-encoded, so it needs TLS (RFC 4616)"
		case strings.HasPrefix(mech, "SCRAM-"):
			s += "; SCRAM proves the password without sending it (RFC 5802, RFC 7677)"
		case mech == "ANONYMOUS":
			s += "; an anonymous login with a temporary address (RFC 4505)"
		case mech == "EXTERNAL":
			s += "; identity from outside SASL, usually a TLS client certificate (XEP-0178)"
		case mech == "DIGEST-MD5":
			s += "; DIGEST-MD5 is obsolete (RFC 6331)"
		}
		return s
	case "challenge":
		return "SASL challenge: the server sends the next step of the mechanism; the client answers with <response/> (RFC 6120 §6.4.3)"
	case "response":
		return "SASL response: the client answers the server's challenge (RFC 6120 §6.4.3)"
	case "success":
		return "SASL success: the server accepted the credentials, the client is authenticated as the account it named; it now opens a new stream on the same connection, then binds a resource to go online (RFC 6120 §6.4.6)"
	case "failure":
		cond := ""
		for _, c := range e.Elements() {
			if c.Local != "text" {
				cond = c.Local
				break
			}
		}
		return "SASL failure: " + describeCondition(saslConditions, cond) + " (RFC 6120 §6.4.5)"
	case "abort":
		return "SASL abort: the client gives up this login attempt (RFC 6120 §6.4.4)"
	}
	return unknownElement(e)
}

// delaySuffix says when a delayed stanza was first sent (offline messages, last presence).
func delaySuffix(e *Element) string {
	var parts []string
	if d := e.Child(NSDelay, "delay"); d != nil {
		parts = append(parts, "delivered late: first sent at "+d.Attr("stamp")+" (XEP-0203 delayed delivery)")
	}
	if d := e.Child(NSLegacyDelay, "x"); d != nil {
		parts = append(parts, "legacy delay stamp "+d.Attr("stamp")+" (XEP-0091, kept for old clients)")
	}
	if len(parts) == 0 {
		return ""
	}
	return "; " + strings.Join(parts, "; ")
}

// explainStanzaError explains the <error/> child of a stanza of type error.
func explainStanzaError(e *Element) string {
	er := e.Child("", "error")
	if er == nil {
		return "no <error/> element, which RFC 6120 §8.3 requires"
	}
	cond, text := errorCondition(er, NSStanzas)
	if cond == "" && strings.TrimSpace(er.Text()) != "" {
		text = strings.TrimSpace(er.Text()) // the pre-RFC 3920 form: <error code='409'>text</error>
	}
	s := describeCondition(stanzaConditions, cond)
	if t := er.Attr("type"); t != "" {
		s += fmt.Sprintf("; type %s: %s (RFC 6120 §8.3.2)", t, errorTypes[t])
	}
	if c := er.Attr("code"); c != "" {
		s += "; legacy code " + c
	}
	if text != "" {
		s += "; text: " + text
	}
	return s
}
