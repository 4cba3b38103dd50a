package server

import (
	"context"

	"github.com/stanzascope/stanzascope/inspect"
)

// onIQ handles an iq from a bound session: requests to the server or to the user's own
// account are answered here, iq's to another user's full JID are routed, and every other
// request gets service-unavailable, never silence (RFC 6120 section 8.2.3).
func (c *conn) onIQ(ctx context.Context, raw []byte, el *inspect.Element) error {
	id, typ, to := el.Attr("id"), el.Attr("type"), el.Attr("to")
	full := c.JID()
	fail := func(e stanzaError) error {
		return c.send(errorStanza("iq", id, to, full.String(), nil, e), "iq", inspect.NSClient)
	}
	request := typ == "get" || typ == "set"
	if !request && typ != "result" && typ != "error" {
		return fail(errBadRequest.WithText("unknown iq type"))
	}
	if request && (id == "" || len(el.Elements()) != 1) {
		return fail(errBadRequest.WithText("a request needs an id and exactly one child"))
	}
	target := c.srv.domain
	if to != "" {
		var err error
		if target, err = inspect.ParseJID(to); err != nil {
			if request {
				return fail(errJIDMalformed)
			}
			return nil
		}
	}
	switch {
	case target.Domain != c.srv.domain.Domain:
		if request {
			return fail(errRemoteNotFound.WithText("this server does not federate"))
		}
		return nil
	case target.Resource != "" && target.Local != "":
		if s := c.srv.dir.Lookup(target); s != nil {
			b, err := restamp(raw, nil, []kv{{"from", full.String()}}, nil)
			if err == nil && s.Deliver(b) || !request {
				return nil
			}
			return fail(errServiceUnavailable) // the session did not take it: never silence
		}
		if request {
			return fail(errServiceUnavailable)
		}
		return nil
	case !request:
		return nil // answers to the server's own requests (pings)
	case target.Resource != "":
		return fail(errServiceUnavailable) // domain/resource: nothing lives there
	}
	q := el.FirstElement()
	if target.Local == "" {
		return c.serverIQ(ctx, el, q, typ, fail)
	}
	if target.Bare() == full.Bare() {
		return c.accountIQ(ctx, el, q, typ, fail)
	}
	return c.otherAccountIQ(ctx, el, q, typ, target, fail)
}

// serverIQ answers requests to the server itself.
func (c *conn) serverIQ(ctx context.Context, el, q *inspect.Element, typ string, fail func(stanzaError) error) error {
	from, to := c.replyAddrs(el)
	id := el.Attr("id")
	switch {
	case q.Space == inspect.NSRoster && el.Attr("to") == "":
		return c.accountIQ(ctx, el, q, typ, fail)
	case q.Space == inspect.NSRegister:
		return c.onRegister(ctx, el, q)
	case q.Space == inspect.NSSession && q.Local == "session" && typ == "set":
		return c.send(iqResult(id, from, to, nil), "iq", inspect.NSClient)
	case q.Space == inspect.NSBind:
		return fail(errNotAllowed.WithText("a resource is already bound"))
	case q.Space == inspect.NSPing && q.Local == "ping" && typ == "get":
		return c.send(iqResult(id, from, to, nil), "iq", inspect.NSClient)
	case q.Space == inspect.NSVersion && typ == "get":
		b := []byte("<query xmlns='" + inspect.NSVersion + "'><name>stanzascope</name><version>")
		b = appendText(b, c.srv.cfg.Version)
		b = append(b, "</version></query>"...)
		return c.send(iqResult(id, from, to, b), "iq", inspect.NSClient)
	case q.Space == inspect.NSDiscoInfo && typ == "get":
		if q.Attr("node") != "" {
			return fail(errItemNotFound)
		}
		return c.send(iqResult(id, from, to, c.srv.serverInfo()), "iq", inspect.NSClient)
	case q.Space == inspect.NSDiscoItems && typ == "get":
		if q.Attr("node") != "" {
			return fail(errItemNotFound)
		}
		return c.send(iqResult(id, from, to, []byte("<query xmlns='"+inspect.NSDiscoItems+"'/>")), "iq", inspect.NSClient)
	}
	return fail(errServiceUnavailable)
}

// accountIQ answers requests to the user's own bare JID.
func (c *conn) accountIQ(ctx context.Context, el, q *inspect.Element, typ string, fail func(stanzaError) error) error {
	from, to := c.replyAddrs(el)
	id := el.Attr("id")
	switch {
	case q.Space == inspect.NSRoster && q.Local == "query" && typ == "get":
		return c.onRosterGet(ctx, id, from, to)
	case q.Space == inspect.NSRoster && q.Local == "query" && typ == "set":
		return c.onRosterSet(ctx, id, from, to, q)
	case q.Space == inspect.NSPing && q.Local == "ping" && typ == "get":
		return c.send(iqResult(id, from, to, nil), "iq", inspect.NSClient)
	case q.Space == inspect.NSDiscoInfo && typ == "get" && q.Attr("node") == "":
		return c.send(iqResult(id, from, to, accountInfo()), "iq", inspect.NSClient)
	case q.Space == inspect.NSDiscoItems && typ == "get" && q.Attr("node") == "":
		return c.send(iqResult(id, from, to, []byte("<query xmlns='"+inspect.NSDiscoItems+"'/>")), "iq", inspect.NSClient)
	}
	return fail(errServiceUnavailable)
}

// otherAccountIQ answers, on behalf of another account, the disco and ping queries the
// server handles for accounts (XEP-0030 section 3.2); nothing else is routed to a bare JID.
func (c *conn) otherAccountIQ(ctx context.Context, el, q *inspect.Element, typ string, target inspect.JID, fail func(stanzaError) error) error {
	if typ != "get" || q.Attr("node") != "" {
		return fail(errServiceUnavailable)
	}
	switch q.Space {
	case inspect.NSDiscoInfo, inspect.NSDiscoItems, inspect.NSPing:
	default:
		return fail(errServiceUnavailable)
	}
	if _, err := c.srv.store.Account(ctx, target.Local); err != nil {
		return fail(errServiceUnavailable)
	}
	from, to := c.replyAddrs(el)
	var payload []byte
	switch q.Space {
	case inspect.NSDiscoInfo:
		payload = accountInfo()
	case inspect.NSDiscoItems:
		payload = []byte("<query xmlns='" + inspect.NSDiscoItems + "'/>")
	}
	return c.send(iqResult(el.Attr("id"), from, to, payload), "iq", inspect.NSClient)
}
