package server

import (
	"context"
	"errors"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/switch/scram"
	"github.com/stanzascope/stanzascope/switch/store"
)

const registerInstructions = "Choose a username and password to register with this server."

// onRegister serves XEP-0077 in-band registration: the form, account creation (409 with
// the query echoed when the name is taken), password change and cancellation.
func (c *conn) onRegister(ctx context.Context, iq, q *inspect.Element) error {
	id, typ := iq.Attr("id"), iq.Attr("type")
	from, to := c.replyAddrs(iq)
	reply := func(e stanzaError, echo []byte) error {
		return c.send(errorStanza("iq", id, from, to, echo, e), "iq", inspect.NSClient)
	}
	if !c.tlsSatisfied() {
		return reply(errPolicyViolation.WithText("TLS is required: use STARTTLS first"), nil)
	}
	bound := c.isBound()
	if typ == "get" {
		if bound {
			b := []byte("<query xmlns='" + inspect.NSRegister + "'><registered/>")
			b = append(b, "<username>"...)
			b = appendText(b, c.user)
			b = append(b, "</username><password/></query>"...)
			return c.send(iqResult(id, from, to, b), "iq", inspect.NSClient)
		}
		if c.srv.cfg.NoRegister {
			return reply(errServiceUnavailable.WithText("registration is turned off"), nil)
		}
		b := []byte("<query xmlns='" + inspect.NSRegister + "'><instructions>" + registerInstructions + "</instructions><username/><password/><name/><email/></query>")
		return c.send(iqResult(id, from, to, b), "iq", inspect.NSClient)
	}
	if q.Child(inspect.NSRegister, "remove") != nil {
		if !bound {
			return reply(errNotAuthorized.WithText("log in to cancel your account"), nil)
		}
		return c.cancelAccount(ctx, id, from, to)
	}
	username := q.Child(inspect.NSRegister, "username")
	password := q.Child(inspect.NSRegister, "password")
	if password == nil || password.Text() == "" || (!bound && (username == nil || username.Text() == "")) {
		return reply(errNotAcceptable.WithText("username and password are required"), nil)
	}
	creds, err := scram.NewCredentials(password.Text(), c.srv.cfg.Iterations)
	if err != nil {
		return reply(errNotAcceptable.WithText("unusable password"), nil)
	}
	if bound {
		if username != nil && username.Text() != "" {
			if u, err := scram.NormalizeUsername(username.Text()); err != nil || u != c.user {
				return reply(errNotAllowed.WithText("you can only change your own password"), nil)
			}
		}
		if err := c.srv.store.SetCredentials(ctx, c.user, creds); err != nil {
			c.srv.logf("switch: change password of %s: %v", c.user, err)
			return reply(errInternal, nil)
		}
		return c.send(iqResult(id, from, to, nil), "iq", inspect.NSClient)
	}
	if c.srv.cfg.NoRegister {
		return reply(errServiceUnavailable.WithText("registration is turned off"), nil)
	}
	user, err := normalizeLocal(username.Text(), c.srv.domain.Domain)
	if err != nil {
		return reply(errNotAcceptable.WithText("this username cannot be used in an address"), nil)
	}
	if text := c.registrationAllowed(); text != "" {
		// What ejabberd's registration_timeout answers, per minute instead of one per 600 s.
		return reply(errTooMany.WithText(text), nil)
	}
	acct := store.Account{Username: user, Creds: creds, Created: c.srv.now()}
	if n := q.Child(inspect.NSRegister, "name"); n != nil {
		acct.Name = clipString(n.Text(), 256)
	}
	if e := q.Child(inspect.NSRegister, "email"); e != nil {
		acct.Email = clipString(e.Text(), 256)
	}
	switch err := c.srv.store.CreateAccount(ctx, acct); {
	case errors.Is(err, store.ErrExists):
		return reply(errConflict.WithText("Username Not Available"), appendElem(nil, q))
	case err != nil:
		c.srv.logf("switch: create account %s: %v", user, err)
		return reply(errInternal, nil)
	}
	c.srv.cfg.Stats.Registrations.Add(1)
	c.srv.logf("switch: conn %d: registered %s@%s", c.info.ID, user, c.srv.domain.Domain)
	return c.send(iqResult(id, from, to, nil), "iq", inspect.NSClient)
}

// normalizeLocal returns the canonical localpart for an account name, checking that it
// makes a valid JID on domain.
func normalizeLocal(name, domain string) (string, error) {
	u, err := scram.NormalizeUsername(name)
	if err != nil {
		return "", err
	}
	j, err := inspect.ParseJID(u + "@" + domain)
	if err != nil || j.Local != u || j.Resource != "" {
		return "", errors.New("server: username is not a valid localpart")
	}
	return u, nil
}

func clipString(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// cancelAccount deletes the account (XEP-0077 section 3.2): contacts are told as if the
// user removed them from the roster, the data goes, and every session of the account ends
// with not-authorized.
func (c *conn) cancelAccount(ctx context.Context, id, from, to string) error {
	items, err := c.srv.store.Roster(ctx, c.user)
	if err != nil {
		c.srv.logf("switch: cancel %s: %v", c.user, err)
		return c.send(errorStanza("iq", id, from, to, nil, errInternal), "iq", inspect.NSClient)
	}
	if err := c.srv.store.DeleteAccount(ctx, c.user); err != nil {
		c.srv.logf("switch: cancel %s: %v", c.user, err)
		return c.send(errorStanza("iq", id, from, to, nil, errInternal), "iq", inspect.NSClient)
	}
	c.srv.logf("switch: conn %d: account %s@%s cancelled", c.info.ID, c.user, c.srv.domain.Domain)
	c.send(iqResult(id, from, to, nil), "iq", inspect.NSClient)
	for _, it := range items {
		contact, err := inspect.ParseJID(it.JID)
		if err != nil {
			continue // not a JID anyone can be told at; the item went with the account
		}
		err = c.srv.changePair(ctx, c.bareJID(), contact, func(p *pairTx, out sender) error {
			c.srv.removeRosterItem(p, out, c.bareJID(), contact, it)
			return nil
		})
		if err != nil {
			c.srv.logf("switch: cancel %s: telling %s: %v", c.user, contact, err)
		}
	}
	for _, s := range c.srv.dir.Resources(nil, c.bareJID()) {
		if s != Session(c) {
			s.Kick("not-authorized", "account cancelled")
		}
	}
	return newStreamErr("not-authorized", "account cancelled")
}
