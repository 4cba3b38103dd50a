package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"

	"github.com/stanzascope/stanzascope/inspect"
)

// onBind binds a resource after SASL (RFC 6120 section 7): the client's choice, or one the
// server makes up. A resource already in use is taken over: the old session gets a
// conflict stream error.
func (c *conn) onBind(ctx context.Context, iq, q *inspect.Element) error {
	id := iq.Attr("id")
	if iq.Attr("type") != "set" {
		return c.send(errorStanza("iq", id, "", "", nil, errBadRequest), "iq", inspect.NSClient)
	}
	res := ""
	if r := q.Child(inspect.NSBind, "resource"); r != nil {
		res = r.Text()
	}
	if res == "" {
		res = newResource()
	}
	full, err := inspect.ParseJID(c.user + "@" + c.srv.domain.Domain + "/" + res)
	if err != nil || full.Resource == "" {
		return c.send(errorStanza("iq", id, "", "", nil, errBadRequest.WithText("resource not allowed")), "iq", inspect.NSClient)
	}
	if err := c.bind(full); err != nil {
		var se stanzaError
		if !errors.As(err, &se) {
			return err
		}
		return c.send(errorStanza("iq", id, "", "", nil, se), "iq", inspect.NSClient)
	}
	b := []byte("<bind xmlns='" + inspect.NSBind + "'><jid>")
	b = appendText(b, full.String())
	b = append(b, "</jid></bind>"...)
	return c.send(iqResult(id, "", "", b), "iq", inspect.NSClient)
}

// bind makes c the session of full, kicking a session that held it. It returns a
// stanzaError when the account has too many resources.
func (c *conn) bind(full inspect.JID) error {
	if limit := c.srv.cfg.MaxSessionsPerAccount; limit > 0 && len(c.srv.dir.Resources(nil, full.Bare())) >= limit && c.srv.dir.Lookup(full) == nil {
		return inspect.NewStanzaError(inspect.CondResourceConstraint).WithText("too many sessions for this account")
	}
	c.mu.Lock()
	c.jid = full
	c.bound = true
	c.mu.Unlock()
	c.fromAttr = string(appendAttr(nil, "from", full.String()))
	if old := c.srv.dir.Bind(c); old != nil && old != Session(c) {
		old.Kick("conflict", "replaced by a new session with the same resource")
		if oc, ok := old.(*conn); ok {
			// Tell the contacts now, not when the old goroutine gets to it: by then the new
			// session may be available under the same JID.
			oc.goUnavailable(context.Background(), nil)
		}
	}
	c.srv.logf("switch: conn %d bound %s", c.info.ID, full)
	return nil
}

func newResource() string {
	var b [6]byte
	rand.Read(b[:])
	return "stanzascope-" + hex.EncodeToString(b[:])
}

// bareJID returns the account's bare JID.
func (c *conn) bareJID() inspect.JID {
	return inspect.JID{Local: c.user, Domain: c.srv.domain.Domain}
}

// replyAddrs returns from and to for a reply to the client's request: from is the request's
// to, and to is the client's full JID once bound.
func (c *conn) replyAddrs(req *inspect.Element) (from, to string) {
	from = req.Attr("to")
	if c.isBound() {
		to = c.JID().String()
	}
	return from, to
}
