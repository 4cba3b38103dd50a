package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/switch/scram"
	"github.com/stanzascope/stanzascope/switch/store"
)

// saslState is an exchange in progress.
type saslState struct {
	mech  string
	scram *scram.Server // nil for PLAIN
}

// mechanisms lists the SASL mechanisms offered on this stream, strongest first. PLAIN sends
// the password itself, so it is offered only over TLS or on a loopback connection (a local
// client, or the proxy in front of the switch); SCRAM never reveals the password and is
// always offered, so a client without TLS can still log in.
func (c *conn) mechanisms() []string {
	if c.tls || c.loopback {
		return []string{scram.SHA256, scram.SHA1, "PLAIN"}
	}
	return []string{scram.SHA256, scram.SHA1}
}

func (c *conn) offers(mech string) bool {
	for _, m := range c.mechanisms() {
		if m == mech {
			return true
		}
	}
	return false
}

// onSASL handles <auth/>, <response/> and <abort/> (RFC 6120 section 6.4).
func (c *conn) onSASL(ctx context.Context, ev inspect.Event) error {
	if c.authed || c.legacy {
		return newStreamErr("policy-violation", "SASL is not available on this stream")
	}
	el, err := inspect.ParseElement(ev.Raw, c.rd.Header())
	if err != nil {
		return newStreamErr("not-well-formed", err.Error())
	}
	switch ev.Name {
	case "auth":
		if c.sasl != nil {
			return c.saslFail("aborted", "a new exchange began before the last ended")
		}
		if !c.tlsSatisfied() {
			return c.saslFail("encryption-required", "STARTTLS first")
		}
		mech := el.Attr("mechanism")
		if !c.offers(mech) {
			return c.saslFail("invalid-mechanism", "")
		}
		if text := c.loginAllowed(); text != "" {
			return c.saslFail("temporary-auth-failure", text)
		}
		in, ok := decodeSASL(el.Text())
		if !ok {
			return c.saslFail("incorrect-encoding", "")
		}
		c.sasl = &saslState{mech: mech}
		if mech != "PLAIN" {
			c.sasl.scram, err = scram.NewServer(mech, c.credentials(ctx))
			if err != nil {
				return c.saslFail("invalid-mechanism", "")
			}
		} else if in == nil {
			return c.saslChallenge(nil) // PLAIN without initial response
		}
		return c.saslStep(ctx, in)
	case "response":
		if c.sasl == nil {
			return c.saslFail("malformed-request", "no exchange in progress")
		}
		in, ok := decodeSASL(el.Text())
		if !ok {
			return c.saslFail("incorrect-encoding", "")
		}
		if in == nil {
			in = []byte{}
		}
		return c.saslStep(ctx, in)
	case "abort":
		return c.saslFail("aborted", "")
	}
	return newStreamErr("unsupported-stanza-type", "unexpected SASL element <"+ev.Name+"/>")
}

// decodeSASL decodes the base64 payload; "" is no data (nil), "=" is empty data.
func decodeSASL(s string) ([]byte, bool) {
	s = string(bytes.TrimSpace([]byte(s)))
	switch s {
	case "":
		return nil, true
	case "=":
		return []byte{}, true
	}
	b, err := base64.StdEncoding.DecodeString(s)
	return b, err == nil
}

func (c *conn) credentials(ctx context.Context) func(string) (store.Credentials, error) {
	return func(user string) (store.Credentials, error) {
		a, err := c.srv.store.Account(ctx, user)
		if err != nil {
			return store.Credentials{}, err
		}
		return a.Creds, nil
	}
}

func (c *conn) saslStep(ctx context.Context, in []byte) error {
	if in == nil {
		in = []byte{}
	}
	if c.sasl.scram == nil {
		user, ok, cond := c.checkPlain(ctx, in)
		if cond == condStoreDown {
			return storeStreamError()
		}
		if !ok {
			c.authFailed(ctx)
			return c.saslFail(cond, "")
		}
		return c.saslSuccess(user, nil)
	}
	out, done, err := c.sasl.scram.Step(in)
	if err != nil {
		if errors.Is(err, scram.ErrTemporary) {
			c.srv.logf("switch: conn %d: SASL: %v", c.info.ID, err) // the store failed: the operator must know
		}
		if errors.Is(err, store.ErrUnavailable) {
			return storeStreamError()
		}
		if !errors.Is(err, scram.ErrTemporary) {
			c.authFailed(ctx)
		}
		return c.saslFail(scram.Condition(err), "")
	}
	if !done {
		return c.saslChallenge(out)
	}
	if az := c.sasl.scram.Authzid(); az != "" && az != c.sasl.scram.Username()+"@"+c.srv.domain.Domain {
		c.authFailed(ctx)
		return c.saslFail("invalid-authzid", "")
	}
	return c.saslSuccess(c.sasl.scram.Username(), out)
}

// checkPlain verifies a PLAIN message: [authzid] NUL authcid NUL passwd (RFC 4616).
func (c *conn) checkPlain(ctx context.Context, in []byte) (user string, ok bool, cond string) {
	if len(in) > scram.MaxMessage {
		return "", false, "malformed-request"
	}
	parts := bytes.Split(in, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 {
		return "", false, "malformed-request"
	}
	user, err := scram.NormalizeUsername(string(parts[1]))
	if err != nil {
		return "", false, "not-authorized"
	}
	if az := string(parts[0]); az != "" && az != user+"@"+c.srv.domain.Domain {
		return "", false, "invalid-authzid"
	}
	a, err := c.srv.store.Account(ctx, user)
	if errors.Is(err, store.ErrNotFound) {
		// The same PBKDF2 work as for an account that exists, so that the time taken
		// does not tell which accounts exist.
		scram.VerifyPlain(scram.DecoyCredentials(user), string(parts[2]))
		return "", false, "not-authorized"
	}
	if err != nil {
		c.srv.logf("switch: account lookup: %v", err)
		if errors.Is(err, store.ErrUnavailable) {
			return "", false, condStoreDown
		}
		return "", false, "temporary-auth-failure"
	}
	if !scram.VerifyPlain(a.Creds, string(parts[2])) {
		return "", false, "not-authorized"
	}
	return user, true, ""
}

func (c *conn) saslChallenge(out []byte) error {
	b := []byte("<challenge xmlns='" + inspect.NSSASL + "'>")
	b = appendSASLData(b, out)
	b = append(b, "</challenge>"...)
	return c.send(b, "challenge", inspect.NSSASL)
}

func appendSASLData(b, data []byte) []byte {
	if len(data) == 0 {
		return append(b, '=')
	}
	return base64.StdEncoding.AppendEncode(b, data)
}

func (c *conn) saslSuccess(user string, out []byte) error {
	c.sasl = nil
	c.authed = true
	c.user = user
	b := []byte("<success xmlns='" + inspect.NSSASL + "'")
	if len(out) == 0 {
		b = append(b, "/>"...)
	} else {
		b = append(b, '>')
		b = base64.StdEncoding.AppendEncode(b, out)
		b = append(b, "</success>"...)
	}
	if err := c.send(b, "success", inspect.NSSASL); err != nil {
		return err
	}
	c.srv.logf("switch: conn %d: %s authenticated", c.info.ID, user)
	// What follows <success/> is inspect.After's decision, shared with the reader, the
	// capture path and the proxy: a new stream on the same bytes (RFC 6120 section 6.4.6).
	if inspect.After("success", inspect.NSSASL) == inspect.NextRestart {
		c.rd.Restart()
	}
	return nil
}

// saslFail ends the exchange with <failure/>; too many failures end the stream.
func (c *conn) saslFail(cond, text string) error {
	c.sasl = nil
	b := []byte("<failure xmlns='" + inspect.NSSASL + "'><" + cond + "/>")
	if text != "" {
		b = append(b, "<text>"...)
		b = appendText(b, text)
		b = append(b, "</text>"...)
	}
	b = append(b, "</failure>"...)
	if err := c.send(b, "failure", inspect.NSSASL); err != nil {
		return err
	}
	if cond != "aborted" {
		c.authFailures++
	}
	if c.authFailures >= maxAuthFailures {
		return newStreamErr("policy-violation", "too many failed authentication attempts")
	}
	return nil
}
