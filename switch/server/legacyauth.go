package server

import (
	"context"
	"errors"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/switch/scram"
	"github.com/stanzascope/stanzascope/switch/store"
)

// onLegacyAuth serves XEP-0078 jabber:iq:auth, the login of the textbook session: the
// plaintext password is checked against the stored SCRAM keys and the resource is bound in
// the same step. Digest auth needs the password in clear on the server, so it is not
// offered.
func (c *conn) onLegacyAuth(ctx context.Context, iq, q *inspect.Element) error {
	id, typ := iq.Attr("id"), iq.Attr("type")
	reply := func(e stanzaError) error {
		return c.send(errorStanza("iq", id, "", "", nil, e), "iq", inspect.NSClient)
	}
	if !c.tlsSatisfied() {
		return reply(errPolicyViolation.WithText("TLS is required: use STARTTLS first"))
	}
	field := func(name string) string {
		if e := q.Child(inspect.NSAuth, name); e != nil {
			return e.Text()
		}
		return ""
	}
	if typ == "get" {
		b := []byte("<query xmlns='" + inspect.NSAuth + "'>")
		if u := field("username"); u != "" {
			b = append(b, "<username>"...)
			b = appendText(b, u)
			b = append(b, "</username>"...)
		} else {
			b = append(b, "<username/>"...)
		}
		b = append(b, "<password/><resource/></query>"...)
		return c.send(iqResult(id, "", "", b), "iq", inspect.NSClient)
	}
	username, password, resource := field("username"), field("password"), field("resource")
	if username == "" || password == "" || resource == "" {
		return reply(errNotAcceptable.WithText("username, password and resource are required"))
	}
	if text := c.loginAllowed(); text != "" {
		return reply(errTooMany.WithText(text))
	}
	user, err := scram.NormalizeUsername(username)
	ok := err == nil
	if ok {
		a, err := c.srv.store.Account(ctx, user)
		switch {
		case errors.Is(err, store.ErrNotFound):
			// The same PBKDF2 work as for an account that exists (see checkPlain).
			scram.VerifyPlain(scram.DecoyCredentials(user), password)
			ok = false
		case errors.Is(err, store.ErrUnavailable):
			c.srv.logf("switch: account lookup: %v", err)
			return storeStreamError()
		case err != nil:
			c.srv.logf("switch: account lookup: %v", err)
			return reply(errInternal)
		default:
			ok = scram.VerifyPlain(a.Creds, password)
		}
	}
	if !ok {
		c.authFailed(ctx)
		c.authFailures++
		if err := reply(errNotAuthorized); err != nil {
			return err
		}
		if c.authFailures >= maxAuthFailures {
			return newStreamErr("policy-violation", "too many failed authentication attempts")
		}
		return nil
	}
	full, err := inspect.ParseJID(user + "@" + c.srv.domain.Domain + "/" + resource)
	if err != nil {
		return reply(errNotAcceptable.WithText("bad resource"))
	}
	c.authed, c.user = true, user
	if err := c.bind(full); err != nil {
		c.authed, c.user = false, ""
		var se stanzaError
		if !errors.As(err, &se) {
			return err
		}
		return reply(se)
	}
	return c.send(iqResult(id, "", "", nil), "iq", inspect.NSClient)
}
