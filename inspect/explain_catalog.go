package inspect

import (
	"fmt"
	"strings"
)

func explainIQ(r *Record, e *Element) string {
	typ, id := e.Attr("type"), e.Attr("id")
	q := e.FirstElement()
	if typ == "error" {
		return fmt.Sprintf("iq error: the request with id '%s' failed: %s", id, explainStanzaError(e))
	}
	if q == nil || (q.Space == NSStanzas && q.Local == "error") {
		if typ == "result" {
			return explainEmptyResult(r, id)
		}
		return fmt.Sprintf("iq %s with no payload, which RFC 6120 §8.2.3 forbids for get and set", typ)
	}
	if s := explainIQPayload(r, typ, q); s != "" {
		return s
	}
	what := ""
	if n := namespaceName(q.Space); n != "" {
		what = " (" + n + ")"
	}
	switch typ {
	case "get", "set":
		return fmt.Sprintf("iq %s: a request carrying <%s xmlns='%s'/>%s; the answer (result or error) will carry id '%s' (RFC 6120 §8.2.3)", typ, q.Local, q.Space, what, id)
	case "result":
		return fmt.Sprintf("iq result: the answer to request '%s', carrying <%s xmlns='%s'/>%s (RFC 6120 §8.2.3)", id, q.Local, q.Space, what)
	}
	return fmt.Sprintf("iq with type '%s', which is not get, set, result or error (RFC 6120 §8.2.3)", typ)
}

// explainIQPayload explains the iq payloads the catalogue knows; "" for the others.
func explainIQPayload(r *Record, typ string, q *Element) string {
	switch q.Space {
	case NSBind:
		if typ == "result" {
			jid := strings.TrimSpace(childText(q, "jid"))
			if jid == "" {
				return "Resource binding result without a JID: the server must name the bound JID in it (RFC 6120 §7.6.1)"
			}
			return "Resource binding result: the client is now online as the full JID " + jid +
				": this stream is bound to it, the server stamps it as 'from' on everything the client sends, " +
				"and the client may now send presence, messages and requests (" + bindSection(r) + ")"
		}
		if res := strings.TrimSpace(childText(q, "resource")); res != "" {
			return "Resource binding request: the client asks to use the resource '" + res + "' on this stream; the server may grant it or choose another (RFC 6120 §7.7.1)"
		}
		return "Resource binding request: the client asks the server to choose a resource for this stream (RFC 6120 §7.6.1)"
	case NSSession:
		return "Session establishment: a step from RFC 3921 §3 that RFC 6121 made optional; servers answer at once"
	case NSRoster:
		return explainRoster(r, typ, q)
	case NSRegister:
		return explainRegister(typ, q)
	case NSAuth:
		return explainLegacyAuth(typ, q)
	case NSDiscoInfo:
		if typ == "result" {
			var ids []string
			for _, c := range q.Elements() {
				if c.Local == "identity" {
					ids = append(ids, c.Attr("category")+"/"+c.Attr("type"))
				}
			}
			return fmt.Sprintf("Service discovery result: identity %s and %d features (XEP-0030 §3)", strings.Join(ids, ", "), countChildren(q, "feature"))
		}
		return "Service discovery: asks " + addressee(r, q) + " which identities and features it has (XEP-0030 §3)"
	case NSDiscoItems:
		if typ == "result" {
			return fmt.Sprintf("Service discovery result: %d items (XEP-0030 §4)", countChildren(q, "item"))
		}
		return "Service discovery: asks " + addressee(r, q) + " for its items (rooms, services) (XEP-0030 §4)"
	case NSPing:
		return "Ping: checks that " + addressee(r, q) + " is still there; the answer is an empty iq result (XEP-0199)"
	case NSVersion:
		if typ == "result" {
			return "Software version: " + strings.TrimSpace(childText(q, "name")+" "+childText(q, "version")) + " (XEP-0092)"
		}
		return "Software version: asks " + addressee(r, q) + " which software it runs (XEP-0092)"
	case nsVCard:
		return "vCard: " + typ + " of a user's profile (XEP-0054)"
	}
	return ""
}

func addressee(r *Record, q *Element) string {
	_ = q
	if to := r.Attr("to"); to != "" {
		return to
	}
	return "the server"
}

func childText(e *Element, local string) string {
	if c := e.Child("", local); c != nil {
		return c.Text()
	}
	return ""
}

func countChildren(e *Element, local string) int {
	n := 0
	for _, c := range e.Elements() {
		if c.Local == local {
			n++
		}
	}
	return n
}

func explainRoster(r *Record, typ string, q *Element) string {
	items := q.Elements()
	switch typ {
	case "get":
		return "Roster get: the client asks for its contact list, which makes it an interested resource that gets roster pushes from now on (RFC 6121 §2.1.3, §2.2)"
	case "result":
		// A result with a <query/> is the server's answer to a roster get, whatever the
		// direction a one-way transcript was read as: a client answers a push with an
		// empty result (explained by explainEmptyResult).
		return fmt.Sprintf("Roster result: the server sends the contact list, %d contacts (RFC 6121 §2.1.4)", len(items))
	}
	what := "a contact"
	if len(items) > 0 {
		it := items[0]
		what = it.Attr("jid")
		var state []string
		if s := it.Attr("subscription"); s != "" {
			state = append(state, "subscription "+s)
		}
		if it.Attr("ask") == "subscribe" {
			state = append(state, "request pending")
		}
		if len(state) > 0 {
			what += " (" + strings.Join(state, ", ") + ")"
		}
	}
	if r.Dir == ServerToClient {
		return "Roster push: an iq set from the server, which tells the client that " + what + " changed in its roster; the client answers with an empty result (RFC 6121 §2.1.6)"
	}
	if len(items) > 0 && items[0].Attr("subscription") == "remove" {
		return "Roster set: the client removes " + items[0].Attr("jid") + " from its roster (RFC 6121 §2.5)"
	}
	return "Roster set: the client adds or updates " + what + "; the server answers, then pushes the change to every interested resource (RFC 6121 §2.1.5)"
}

// bindSection cites the binding case that the request of a bind result was, when the iq
// tracker matched it: a resource the client chose (§7.7.1) or one the server generated
// (§7.6.1).
func bindSection(r *Record) string {
	if q := r.answersReq(); q != nil && q.child.ns == NSBind {
		if q.boundRes {
			return "RFC 6120 §7.7.1"
		}
		return "RFC 6120 §7.6.1"
	}
	return "RFC 6120 §7.6.1, §7.7.1"
}

// explainEmptyResult explains an iq result without a payload. On its own it says only
// that a request succeeded; when the iq tracker matched it to its request, it says what
// that request achieved.
func explainEmptyResult(r *Record, id string) string {
	q := r.answersReq()
	if q == nil || q.typ != "set" {
		return fmt.Sprintf("iq result: the request with id '%s' succeeded; a result without payload is the whole answer to many requests, such as a ping or a set (RFC 6120 §8.2.3)", id)
	}
	switch q.child.ns {
	case NSRegister:
		if q.remove {
			return "Account removed: the server deleted the account and everything it held (XEP-0077 §3.2)"
		}
		return "Registration done: the account exists now (or, for a client already logged in, its password changed); the client can log in with it, here with jabber:iq:auth or SASL (XEP-0077 §3.1, §3.3)"
	case NSAuth:
		s := "Legacy login done: the server accepted the credentials and bound the resource in one step"
		if q.login != "" {
			s += ": this connection is now " + q.login + ", the server stamps it as 'from' on everything the client sends,"
		}
		return s + " and the client may send presence and stanzas; the old way of what SASL and resource binding do (XEP-0078 §3.1)"
	case NSSession:
		return "Session established: the client may now send presence and stanzas (RFC 3921 §3)"
	case NSRoster:
		if r.Dir == ClientToServer {
			return "Roster push acknowledged: the client confirms it received the server's roster push (RFC 6121 §2.1.6)"
		}
		return "Roster set done: the server changed the roster, and pushes the change to every interested resource (RFC 6121 §2.1.5)"
	case NSBind:
		return "Resource binding result without a JID: the server must name the bound JID in it (RFC 6120 §7.6.1)"
	}
	if q.child.found {
		return fmt.Sprintf("iq result: the set with id '%s' (<%s xmlns='%s'/>) succeeded; an empty result is the whole answer to a set (RFC 6120 §8.2.3)", id, q.child.local, q.child.ns)
	}
	return fmt.Sprintf("iq result: the set with id '%s' succeeded; an empty result is the whole answer to a set (RFC 6120 §8.2.3)", id)
}

func explainRegister(typ string, q *Element) string {
	switch typ {
	case "get":
		return "Registration form request: the client asks which fields creating an account needs (XEP-0077 §3.1)"
	case "result":
		if q.Child("", "registered") != nil {
			return "Registration form: the account already exists (<registered/>) (XEP-0077 §3.1)"
		}
		var fields []string
		for _, c := range q.Elements() {
			if c.Local != "instructions" && len(c.Children) == 0 {
				fields = append(fields, c.Local)
			}
		}
		return "Registration form: the server asks for " + strings.Join(fields, ", ") + " (XEP-0077 §3.1)"
	}
	if q.Child("", "remove") != nil {
		return "Account removal: the client deletes its account (XEP-0077 §3.2)"
	}
	return "Registration: the client creates the account '" + strings.TrimSpace(childText(q, "username")) + "' (or changes its password when logged in) (XEP-0077 §3.1, §3.3)"
}

func explainLegacyAuth(typ string, q *Element) string {
	switch typ {
	case "get":
		return "Legacy login, step 1: the client asks which fields logging in needs (XEP-0078 §3.1)"
	case "result":
		var fields []string
		for _, c := range q.Elements() {
			fields = append(fields, c.Local)
		}
		return "Legacy login fields: the server accepts " + strings.Join(fields, ", ") + " (XEP-0078 §3.1)"
	}
	how := "a plaintext password"
	if q.Child("", "digest") != nil {
		how = "a SHA-1 digest of stream id and password"
	}
	return fmt.Sprintf("Legacy login: the client logs in as '%s' with resource '%s' using %s (XEP-0078 §3.1; obsolete, SASL replaced it)",
		strings.TrimSpace(childText(q, "username")), strings.TrimSpace(childText(q, "resource")), how)
}

// messageTypes explains each message type (RFC 6121 §5.2.2).
var messageTypes = map[string]string{
	"chat":      "a one-to-one chat message (RFC 6121 §5.2.2)",
	"normal":    "a standalone message, like an email; a message without a type is normal (RFC 6121 §5.2.2)",
	"groupchat": "a message in a multi-user chat room (RFC 6121 §5.2.2, XEP-0045)",
	"headline":  "an alert or news item that expects no reply and is not stored offline (RFC 6121 §5.2.2)",
}

func explainMessage(r *Record, e *Element) string {
	typ := e.Attr("type")
	if typ == "error" {
		return "Message error: a message could not be delivered: " + explainStanzaError(e)
	}
	kind := typ
	if kind == "" {
		kind = "normal"
	}
	what, ok := messageTypes[kind]
	if !ok {
		what = "a message with the unknown type '" + typ + "', handled as normal (RFC 6121 §5.2.2)"
	}
	s := "Message (" + kind + ")" + route(r, e) + ": " + what
	if e.Child("", "body") == nil {
		switch {
		case hasNS(e, nsChatStates):
			s += "; no body, only a chat state (" + firstInNS(e, nsChatStates) + ", XEP-0085)"
		case hasNS(e, nsXEvent):
			s += "; no body, only a message event (XEP-0022, obsolete)"
		default:
			s += "; no body"
		}
	}
	return s
}

func hasNS(e *Element, ns string) bool { return firstInNS(e, ns) != "" }

func firstInNS(e *Element, ns string) string {
	for _, c := range e.Elements() {
		if c.Space == ns {
			return c.Local
		}
	}
	return ""
}

// route says " from A to B" with the addresses present.
func route(r *Record, e *Element) string {
	_ = r
	s := ""
	if f := e.Attr("from"); f != "" {
		s += " from " + f
	}
	if t := e.Attr("to"); t != "" {
		s += " to " + t
	}
	return s
}

func explainPresence(r *Record, e *Element) string {
	typ, to, from := e.Attr("type"), e.Attr("to"), e.Attr("from")
	who := from // the sender as the stanza names it
	if who == "" {
		who = "the user"
		if r.Dir == ServerToClient {
			who = "the server"
		}
	}
	switch typ {
	case "":
		return explainAvailable(r, e, who, to)
	case "unavailable":
		if r.Dir == ClientToServer {
			return "Unavailable presence: the user goes offline; the server tells the contacts subscribed to its presence (RFC 6121 §4.5)"
		}
		return "Unavailable presence: " + who + " has gone offline (RFC 6121 §4.5)"
	case "subscribe":
		return "Subscription request: " + who + " asks " + orSomeone(to) + " for permission to see their presence (RFC 6121 §3.1)"
	case "subscribed":
		return "Subscription approval: " + who + " allows " + orSomeone(to) + " to see its presence (RFC 6121 §3.1.5)"
	case "unsubscribe":
		return "Unsubscribe: " + who + " stops seeing the presence of " + orSomeone(to) + " (RFC 6121 §3.3)"
	case "unsubscribed":
		return "Subscription cancelled or refused: " + orSomeone(to) + " may no longer see the presence of " + who + " (RFC 6121 §3.2)"
	case "probe":
		return "Presence probe: " + who + " asks for the current presence of " + orSomeone(to) + " (RFC 6121 §4.3)"
	case "error":
		return "Presence error: " + explainStanzaError(e)
	}
	return "Presence with the unknown type '" + typ + "' (RFC 6121 §4.7.1 lists the types)"
}

func orSomeone(jid string) string {
	if jid == "" {
		return "the contact"
	}
	return jid
}

func explainAvailable(r *Record, e *Element, who, to string) string {
	var details []string
	if s := strings.TrimSpace(childText(e, "show")); s != "" {
		details = append(details, "show "+s)
	}
	if s := strings.TrimSpace(childText(e, "status")); s != "" {
		details = append(details, "status '"+s+"'")
	}
	if s := strings.TrimSpace(childText(e, "priority")); s != "" {
		details = append(details, "priority "+s)
	}
	d, sec := "", ""
	if len(details) > 0 {
		d, sec = ", "+strings.Join(details, ", "), ", §4.7.2"
	}
	switch {
	case e.Child(nsMUC, "x") != nil:
		return "Room join: presence to " + to + " enters a multi-user chat room" + d + " (XEP-0045 §7.2)"
	case r.Dir == ClientToServer && to != "":
		return "Directed presence: tells only " + to + " that the user is available" + d + " (RFC 6121 §4.6" + sec + ")"
	case r.Dir == ClientToServer:
		return "Available presence: the user is online" + d + "; the first one is initial presence, which makes the server send it to subscribed contacts and probe theirs (RFC 6121 §4.2" + sec + ")"
	}
	return "Available presence: " + who + " is online" + d + " (RFC 6121 §4.4" + sec + ")"
}
