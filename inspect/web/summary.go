package web

import (
	"bytes"
	"strings"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// Bounds of what the hub remembers per connection to join answers to requests and to
// learn the bound JID.
const (
	maxPendingIQ   = 256
	maxPendingAuth = 8
)

// summary is what a browser gets for each record: enough to draw its arrow and filter it.
// The stanza's bytes are fetched on demand (see the record route).
type summary struct {
	I         uint64        `json:"i"`             // the hub's index: the stream's event id
	Seq       uint64        `json:"seq,omitempty"` // the record's number, as in the terminal
	Time      string        `json:"time,omitempty"`
	Conn      uint64        `json:"conn,omitempty"`
	Dir       string        `json:"dir,omitempty"`
	Kind      string        `json:"kind"`
	Name      string        `json:"name,omitempty"`
	Type      string        `json:"type,omitempty"`
	ID        string        `json:"id,omitempty"`
	From      string        `json:"from,omitempty"`
	To        string        `json:"to,omitempty"`
	Label     string        `json:"label"`         // what the arrow says
	Src       string        `json:"src"`           // lane the arrow starts from (c1, proxy, server)
	Dst       string        `json:"dst,omitempty"` // lane it ends at; "" for a note on Src
	Origin    string        `json:"origin,omitempty"`
	Verdict   string        `json:"verdict,omitempty"`
	RTTms     float64       `json:"rtt_ms,omitempty"`
	Req       uint64        `json:"req,omitempty"` // index of the request this answers
	Unmatched bool          `json:"unmatched,omitempty"`
	Bound     string        `json:"bound,omitempty"`  // the JID this record bound its connection to
	Client    string        `json:"client,omitempty"` // conn-open: the client's address
	Tags      []inspect.Tag `json:"tags,omitempty"`
	Size      int           `json:"size"`
}

// connState is what Write remembers of one connection.
type connState struct {
	iq   map[iqKey]uint64   // requests waiting for an answer: their index
	auth map[string]authReq // jabber:iq:auth requests by id
	// typed is set once the producer reported the bound JID as a typed milestone (the
	// proxy does): the hub then takes it from there, not from the stanzas.
	typed bool
}

type iqKey struct {
	dir inspect.Direction
	id  string
}

// authReq is a legacy login request (XEP-0078): the JID it binds when it succeeds.
type authReq struct{ user, resource, domain string }

// derived is what the hub learnt from a record beyond its own fields.
type derived struct {
	bound string // JID bound by this record
	req   uint64 // index of the request this record answers
	lane  *Lane  // a lane to remember (a new connection, a bound JID)
}

// keep is what the summary needs of d later (not the lane, which Write has remembered).
func (d derived) keep() derived {
	d.lane = nil
	return d
}

// derive updates the per-connection state with r, which gets index idx. It runs under
// h.wmu.
func (h *Hub) derive(r *inspect.Record, idx uint64) derived {
	var d derived
	var conn uint64
	if r.Conn != nil {
		conn = r.Conn.ID
	}
	switch r.Kind {
	case inspect.KindConnOpen:
		delete(h.conns, conn) // a log may number connections from 1 again
		l := Lane{Conn: conn}
		if r.Conn != nil && r.Conn.Client.IsValid() {
			l.Client = r.Conn.Client.String()
		}
		d.lane = &l
		return d
	case inspect.KindConnClose:
		delete(h.conns, conn)
		return d
	case inspect.KindNote:
		if m := r.Milestone(); m != nil && m.Kind == inspect.MilestoneBound && m.JID != "" {
			h.state(conn).typed = true
			d.bound = m.JID
			d.lane = &Lane{Conn: conn, JID: m.JID}
		}
		return d
	case inspect.KindStanza:
	default:
		return d
	}
	if r.Name != "iq" {
		return d
	}
	cs := h.state(conn)
	typ, id := r.Attr("type"), r.Attr("id")
	switch typ {
	case "get", "set":
		if len(cs.iq) >= maxPendingIQ {
			clear(cs.iq) // a peer that never answers: forget rather than grow
		}
		cs.iq[iqKey{r.Dir, id}] = idx
		if typ == "set" && r.Dir == inspect.ClientToServer {
			h.noteAuth(cs, r, id)
		}
	case "result", "error":
		k := iqKey{r.Dir.Reverse(), id}
		if i, ok := cs.iq[k]; ok {
			d.req = i
			delete(cs.iq, k)
		}
		if r.Dir != inspect.ServerToClient {
			break
		}
		a, isAuth := cs.auth[id]
		delete(cs.auth, id)
		if typ != "result" {
			break
		}
		switch {
		case cs.typed: // the producer's milestone said it
		case isAuth:
			d.bound = joinJID(a)
		default:
			d.bound = boundJID(r)
		}
		if d.bound != "" {
			d.lane = &Lane{Conn: conn, JID: d.bound}
		}
	}
	return d
}

// state returns what the hub remembers of connection conn, made on first use.
func (h *Hub) state(conn uint64) *connState {
	cs := h.conns[conn]
	if cs == nil {
		cs = &connState{iq: map[iqKey]uint64{}, auth: map[string]authReq{}}
		h.conns[conn] = cs
	}
	return cs
}

// noteAuth remembers a legacy login request (jabber:iq:auth set with a username and a
// resource): its result binds username@domain/resource.
func (h *Hub) noteAuth(cs *connState, r *inspect.Record, id string) {
	if !strings.Contains(string(r.Raw), inspect.NSAuth) {
		return // cheap test before a tree is built
	}
	// Parsed here, not cached in r (r.Element): Write may run inline in the sink chain,
	// where the record is shared with the outputs that come after it.
	e, err := inspect.ParseElement(r.Raw, r.Header)
	if err != nil {
		return
	}
	q := e.Child(inspect.NSAuth, "query")
	if q == nil {
		return
	}
	a := authReq{user: childText(q, "username"), resource: childText(q, "resource")}
	if r.Header != nil {
		a.domain = r.Header.To
	}
	if a.user == "" || a.resource == "" || a.domain == "" {
		return
	}
	if len(cs.auth) >= maxPendingAuth {
		clear(cs.auth)
	}
	cs.auth[id] = a
}

func childText(e *inspect.Element, local string) string {
	if c := e.Child(e.Space, local); c != nil {
		return strings.TrimSpace(c.Text())
	}
	return ""
}

// joinJID is the JID a successful legacy login binds, normalised when it parses.
func joinJID(a authReq) string {
	s := a.user + "@" + a.domain + "/" + a.resource
	if j, err := inspect.ParseJID(s); err == nil {
		return j.String()
	}
	return s
}

// boundJID returns the JID of a resource binding result (RFC 6120 §7.6.1), or "".
func boundJID(r *inspect.Record) string {
	if !strings.Contains(string(r.Raw), inspect.NSBind) {
		return ""
	}
	e, err := inspect.ParseElement(r.Raw, r.Header) // not cached in r: see noteAuth
	if err != nil {
		return ""
	}
	b := e.Child(inspect.NSBind, "bind")
	if b == nil {
		return ""
	}
	return childText(b, "jid")
}

// summarize builds what browsers get for r.
func summarize(r *inspect.Record, idx uint64, d derived, proxy bool) summary {
	s := summary{
		I: idx, Seq: r.Seq, Time: formatTime(r.Time), Dir: r.Dir.String(), Kind: r.Kind.String(),
		Name: r.Name, Origin: r.Producer().String(), Verdict: string(r.Verdict), Unmatched: r.Unmatched,
		Req: d.req, Bound: d.bound, Tags: r.Tags(), Size: len(r.Raw),
	}
	if r.Conn != nil {
		s.Conn = r.Conn.ID
		if r.Kind == inspect.KindConnOpen && r.Conn.Client.IsValid() {
			s.Client = r.Conn.Client.String()
		}
	}
	if r.RTT() > 0 {
		s.RTTms = float64(r.RTT()) / float64(time.Millisecond)
	}
	switch r.Kind {
	case inspect.KindStanza:
		s.Type, s.ID, s.From, s.To = stanzaAttrs(r)
	case inspect.KindStreamOpen:
		if hd := r.Header; hd != nil {
			s.ID, s.From, s.To = hd.ID, hd.From, hd.To
		}
	}
	s.Label = label(r, s.Type)
	s.Src, s.Dst = lanesOf(r, s.Conn, proxy)
	return s
}

// lanesOf returns the lanes r's arrow joins: from who produced the bytes to who received
// them (stanzascope itself for a stanza it dropped or rejected). Records that are not on
// the wire are notes on the client's lane.
func lanesOf(r *inspect.Record, conn uint64, proxy bool) (src, dst string) {
	client := laneOf(conn)
	switch r.Kind {
	case inspect.KindStreamOpen, inspect.KindStanza, inspect.KindStreamClose:
	case inspect.KindError:
		if r.Dir == inspect.ServerToClient {
			return "server", ""
		}
		return client, ""
	default:
		return client, ""
	}
	var to string
	switch r.Dir {
	case inspect.ClientToServer:
		src, to = client, "server"
	case inspect.ServerToClient:
		src, to = "server", client
	default:
		return client, ""
	}
	if r.Producer() == inspect.OriginProxy {
		src = "proxy"
	}
	if proxy && !r.Verdict.Delivered() {
		to = "proxy"
	}
	if src == to {
		return src, ""
	}
	return src, to
}

// label is the text on r's arrow: "iq get · register", "message chat", "stream header".
func label(r *inspect.Record, typ string) string {
	switch r.Kind {
	case inspect.KindStreamOpen:
		return "stream header"
	case inspect.KindStreamClose:
		return "stream close"
	case inspect.KindStanza:
	case inspect.KindError:
		if r.Err() != nil {
			return shorten("error: " + r.Err().Error())
		}
		return "error"
	default:
		text := r.Note()
		if text == "" {
			text = r.Kind.String()
		}
		return shorten(text)
	}
	l := r.Name
	if r.Name == "" {
		l = "stanza"
	}
	if typ != "" {
		l += " " + typ
	}
	if r.Name == "iq" {
		// Not cached in r: the hub holds the record, shared with the other outputs, as
		// long as its history does; a tree each would be far more than the bytes.
		if e, err := r.ElementUncached(); err == nil {
			if q := e.FirstElement(); q != nil && !(q.Local == "error" && q.Space == inspect.NSStanzas) {
				l += " · " + shortNS(q.Space, q.Local)
			}
		}
	}
	return l
}

// shortNS names a payload by the last part of its namespace: jabber:iq:register is
// "register", urn:ietf:params:xml:ns:xmpp-bind is "bind", disco#info stays.
func shortNS(ns, local string) string {
	if ns == "" {
		return local
	}
	if i := strings.LastIndexAny(ns, ":/"); i >= 0 && i < len(ns)-1 {
		ns = ns[i+1:]
	}
	return strings.TrimPrefix(ns, "xmpp-")
}

// shorten cuts a note to what fits on one arrow; the detail view has all of it.
func shorten(s string) string {
	const max = 120
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && s[cut]&0xC0 == 0x80 { // not inside a UTF-8 sequence
		cut--
	}
	return s[:cut] + "…"
}

// stanzaAttrs returns the type, id, from and to of a stanza's top element, as r.Attr would,
// reading its start tag once instead of four times.
func stanzaAttrs(r *inspect.Record) (typ, id, from, to string) {
	i := inspect.FirstStartTag(r.Raw)
	if i < 0 {
		return "", "", "", ""
	}
	raw := r.Raw[i:]
	var buf [8]inspect.TagAttr
	t, err := inspect.ScanStartTag(raw, buf[:0])
	if err != nil {
		return r.Attr("type"), r.Attr("id"), r.Attr("from"), r.Attr("to")
	}
	for _, a := range t.Attrs {
		var dst *string
		switch string(raw[a.NameStart:a.NameEnd]) {
		case "type":
			dst = &typ
		case "id":
			dst = &id
		case "from":
			dst = &from
		case "to":
			dst = &to
		default:
			continue
		}
		v := raw[a.ValueStart:a.ValueEnd]
		if bytes.IndexByte(v, '&') >= 0 { // a reference to expand: r.Attr knows how
			*dst = r.Attr(string(raw[a.NameStart:a.NameEnd]))
		} else {
			*dst = string(v)
		}
	}
	return typ, id, from, to
}
