package server

import (
	"bytes"
	"context"
	"io"
	"strings"

	"github.com/stanzascope/stanzascope/inspect"
)

// onStreamOpen answers a stream header: ours at once, then the checks that may fail (as
// stream errors after our header, as RFC 6120 section 4.9.1.2 asks), then the features.
func (c *conn) onStreamOpen(h *inspect.Header) error {
	c.in = h
	c.headerPrefixes = !declaresNothingOfItsOwn(h)
	legacy := h.Legacy()
	if c.authed && legacy {
		legacy = false // a restart after SASL is always a 1.0 stream
	}
	c.mu.Lock()
	c.legacy = legacy
	c.mu.Unlock()
	if err := c.sendHeader(legacy); err != nil {
		return err
	}
	if h.ContentNS != inspect.NSClient {
		return newStreamErr("invalid-namespace", "this server only serves jabber:client streams")
	}
	if h.To != "" {
		to, err := inspect.ParseJID(h.To)
		if err != nil || to.Local != "" || to.Resource != "" || to.Domain != c.srv.domain.Domain {
			return newStreamErr("host-unknown", "this server serves "+c.srv.domain.Domain)
		}
	}
	if major, _, ok := parseVersion(h.Version); !legacy && (!ok || major != 1) {
		return newStreamErr("unsupported-version", "this server speaks XMPP 1.0")
	}
	if legacy {
		return nil // pre-1.0: no features, exactly as the textbook shows
	}
	return c.sendFeatures()
}

// parseVersion parses a stream header's version, "major.minor" (RFC 6120 section 4.7.5):
// two non-negative decimal integers, leading zeros ignored. A number too large for an int
// is no version this server speaks, so it fails too.
func parseVersion(v string) (major, minor int, ok bool) {
	maj, min, found := strings.Cut(v, ".")
	if !found {
		return 0, 0, false
	}
	major, ok1 := parseDecimal(maj)
	minor, ok2 := parseDecimal(min)
	return major, minor, ok1 && ok2
}

// parseDecimal parses a non-empty run of ASCII digits (strconv.Atoi would take a sign).
func parseDecimal(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	s = strings.TrimLeft(s, "0")
	if len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// sendFeatures offers what the stream can do next (RFC 6120 section 4.3.2).
func (c *conn) sendFeatures() error {
	b := make([]byte, 0, 512)
	b = append(b, "<stream:features>"...)
	cfg := &c.srv.cfg
	switch {
	case !c.authed:
		if cfg.TLS != nil && !c.tls && c.ws == nil {
			b = append(b, "<starttls xmlns='"+inspect.NSTLS+"'>"...)
			if cfg.RequireTLS {
				b = append(b, "<required/>"...)
			}
			b = append(b, "</starttls>"...)
		}
		if c.tlsSatisfied() {
			b = append(b, "<mechanisms xmlns='"+inspect.NSSASL+"'>"...)
			for _, m := range c.mechanisms() {
				b = append(b, "<mechanism>"+m+"</mechanism>"...)
			}
			b = append(b, "</mechanisms>"...)
			if !cfg.NoRegister {
				b = append(b, "<register xmlns='"+inspect.NSRegisterFeature+"'/>"...)
			}
			b = append(b, "<auth xmlns='"+inspect.NSAuthFeature+"'/>"...)
		}
	default:
		b = append(b, "<bind xmlns='"+inspect.NSBind+"'/><session xmlns='"+inspect.NSSession+"'><optional/></session>"...)
	}
	b = append(b, "</stream:features>"...)
	return c.send(b, "features", inspect.NSStreams)
}

// tlsSatisfied reports whether authentication may happen on this stream now.
func (c *conn) tlsSatisfied() bool { return c.tls || !c.srv.cfg.RequireTLS }

// onStanza dispatches one top-level element.
func (c *conn) onStanza(ctx context.Context, ev inspect.Event) error {
	if c.in == nil {
		return newStreamErr("not-well-formed", "stanza before the stream header")
	}
	switch ev.NS {
	case inspect.NSTLS:
		return c.onStartTLS(ev)
	case inspect.NSSASL:
		return c.onSASL(ctx, ev)
	case inspect.NSClient:
	case inspect.NSStreams:
		if ev.Name == "error" {
			// RFC 6120 section 4.9.1.1: the client ends the stream with an error; the
			// server answers with its closing tag and closes, with no error of its own.
			c.srv.logf("switch: conn %d: the client ended its stream with an error: %s", c.info.ID, clipString(string(ev.Raw), 512))
			return io.EOF
		}
		return newStreamErr("unsupported-stanza-type", "unknown top-level element <"+ev.Name+"/> in "+ev.NS)
	default:
		return newStreamErr("unsupported-stanza-type", "unknown top-level element <"+ev.Name+"/> in "+ev.NS)
	}
	switch ev.Name {
	case "iq", "message", "presence":
	default:
		return newStreamErr("unsupported-stanza-type", "unknown stanza <"+ev.Name+"/>")
	}
	if c.sasl != nil {
		return newStreamErr("policy-violation", "stanza during SASL negotiation")
	}
	selfContained := !c.headerPrefixes
	bound := c.bound // the reader's own (see conn.mu)
	if bound && ev.Name == "message" && selfContained {
		// The hot path: routing needs the top-level attributes only.
		raw := ev.Raw
		attr := func(name string) string { return inspect.TopAttr(raw, name) }
		// The type only chooses among constants (routedType): compared where the Reader
		// found it, without a string of it. The to is kept, so it is a string.
		typ := routedType("")
		if v, present, known := ev.TopAttrRaw(inspect.TopType); !known || bytes.IndexByte(v, '&') >= 0 {
			typ = routedType(attr("type"))
		} else if present {
			typ = routedType(string(v)) // no copy: routedType returns a constant
		}
		// The to, as typ, where the Reader found it; a string of it only when it is not
		// the last message's (routeState).
		to := ""
		if v, present, known := ev.TopAttrRaw(inspect.TopTo); !known || bytes.IndexByte(v, '&') >= 0 {
			to = ev.Attr("to")
		} else if present {
			to = c.route.toText(v)
		}
		return c.onMessage(ctx, raw, to, typ, attr)
	}
	el, err := inspect.ParseElement(ev.Raw, c.rd.Header())
	if err != nil {
		return newStreamErr("not-well-formed", err.Error())
	}
	if !bound {
		return c.onUnbound(ctx, ev, el)
	}
	raw := ev.Raw
	if !selfContained {
		// The stanza may use prefixes declared on the client's stream header, which the
		// recipient's stream does not declare: re-serialise it self-contained.
		raw = el.AppendXML(nil, inspect.NSClient)
	}
	switch ev.Name {
	case "iq":
		return c.onIQ(ctx, raw, el)
	case "message":
		return c.onMessage(ctx, raw, el.Attr("to"), routedType(el.Attr("type")), el.Attr)
	default:
		return c.onPresence(ctx, raw, el)
	}
}

// declaresNothingOfItsOwn reports whether the client's stream header binds no prefix but
// what our own header binds (stream to the streams namespace). Only then can its stanzas
// be routed and stored as they came: a stanza may use any prefix its sender's header
// declares, which the recipient's stream (our header) would leave undeclared, and which
// breaks the recipient's parser (expat, for one). Others are re-serialised with their
// declarations.
func declaresNothingOfItsOwn(h *inspect.Header) bool {
	for p, ns := range h.NS {
		if p != "stream" || ns != inspect.NSStreams {
			return false
		}
	}
	return true
}

// onUnbound handles a stanza before login: registration and legacy auth are allowed, and
// binding after SASL; anything else is refused with not-authorized and never routed. The
// number of refusals is bounded so a client cannot flood before logging in.
func (c *conn) onUnbound(ctx context.Context, ev inspect.Event, el *inspect.Element) error {
	c.preLogin++
	if c.preLogin > maxStanzasBeforeLogin {
		return newStreamErr("policy-violation", "too many stanzas before login")
	}
	if ev.Name == "iq" {
		q := el.FirstElement()
		typ := el.Attr("type")
		if q != nil && (typ == "get" || typ == "set") {
			switch {
			case q.Space == inspect.NSRegister:
				return c.onRegister(ctx, el, q)
			case q.Space == inspect.NSAuth && !c.authed:
				return c.onLegacyAuth(ctx, el, q)
			case c.authed && q.Space == inspect.NSBind && q.Local == "bind":
				return c.onBind(ctx, el, q)
			}
		}
	}
	typ := el.Attr("type")
	if typ == "error" || typ == "result" {
		return nil
	}
	if ev.Name != "iq" && !c.legacy {
		// RFC 6120 section 4.9.3.12: a stanza before authentication on a 1.0 stream is a
		// not-authorized stream error. A person typing on a pre-1.0 stream and iq's get a
		// stanza error instead, so they can go on and log in.
		return newStreamErr("not-authorized", "log in first")
	}
	return c.send(errorStanza(ev.Name, el.Attr("id"), "", "", nil, errNotAuthorized.WithText("log in first")), ev.Name, inspect.NSClient)
}
