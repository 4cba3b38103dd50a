package inspect

import (
	"bytes"
	"strings"
)

// maxBindingConns bounds how many connections Bindings follows at once; past it the one
// seen least recently is forgotten. A connection is forgotten anyway when it closes.
const maxBindingConns = 65536

// maxPendingLogins bounds the legacy login requests a connection may have waiting for
// their answers.
const maxPendingLogins = 16

// Bindings learns, from a connection's records, which JID the connection is bound to: the
// <jid/> of a resource binding result (RFC 6120 section 7), or the username, domain and
// resource of a legacy login (XEP-0078) once the server answered it with a result. Filters
// use it to know a connection by who is in it, so that "alice@localhost" matches the
// stanzas alice sends without a 'from'. Like a sink, it is fed from one goroutine, in
// record order; Observe each record before asking about its connection.
type Bindings struct {
	conns map[ConnKey]*connBinding
	tick  uint64
}

type connBinding struct {
	jid    string
	used   uint64
	logins map[string]string // legacy login requests: iq id -> the full JID asked for
}

// The namespaces a stanza must hold for Observe to parse it.
var nsAuthBytes, nsBindBytes = []byte(NSAuth), []byte(NSBind)

// NewBindings returns an empty Bindings.
func NewBindings() *Bindings { return &Bindings{conns: map[ConnKey]*connBinding{}} }

// Bound returns the full JID connection conn is bound to, or "" while it is not known.
func (b *Bindings) Bound(conn *ConnInfo) string {
	if c := b.conns[conn.Key()]; c != nil {
		return c.jid
	}
	return ""
}

// Observe learns what r says about its connection's binding. Records without a connection
// say nothing; a connection's close forgets it (after its own record was observed, so
// that the close is still known by its JID).
func (b *Bindings) Observe(r *Record) {
	if r.Conn == nil {
		return
	}
	id := r.Conn.Key()
	switch r.Kind {
	case KindConnClose:
		delete(b.conns, id)
		return
	case KindStanza:
	default:
		return
	}
	if r.Name != "iq" {
		return
	}
	typ := r.Attr("type")
	switch {
	case typ == "set" && r.Dir == ClientToServer:
		if !bytes.Contains(r.Raw, nsAuthBytes) {
			return
		}
		if login, _ := setDetails(r, NSAuth); login != "" {
			c := b.conn(id)
			if c.logins == nil {
				c.logins = map[string]string{}
			}
			if len(c.logins) >= maxPendingLogins {
				clear(c.logins)
			}
			c.logins[r.Attr("id")] = login
		}
	case typ == "result" && r.Dir == ServerToClient:
		c := b.conns[id]
		if c != nil && c.logins != nil {
			if login, ok := c.logins[r.Attr("id")]; ok {
				delete(c.logins, r.Attr("id"))
				c.jid = login
				return
			}
		}
		if !bytes.Contains(r.Raw, nsBindBytes) {
			return
		}
		e, err := r.Element()
		if err != nil {
			return
		}
		if bind := e.Child(NSBind, "bind"); bind != nil {
			if jid := strings.TrimSpace(childText(bind, "jid")); jid != "" {
				b.conn(id).jid = jid
			}
		}
	}
}

// conn returns the state of connection id, creating it (and forgetting the least recently
// seen connection when there are too many).
func (b *Bindings) conn(id ConnKey) *connBinding {
	b.tick++
	c := b.conns[id]
	if c == nil {
		if len(b.conns) >= maxBindingConns {
			var oldest ConnKey
			first := true
			for k, v := range b.conns {
				if first || v.used < b.conns[oldest].used {
					oldest, first = k, false
				}
			}
			delete(b.conns, oldest)
		}
		c = &connBinding{}
		b.conns[id] = c
	}
	c.used = b.tick
	return c
}
