package replay

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/stanzascope/stanzascope/inspect"
)

// rewriter turns a recorded client stanza into the one the replay sends: what the
// recorded server assigned (the full JID, the stream id, the ids of its requests) becomes
// what the replayed server assigned, the account's credentials come from the replay's
// configuration, and the ids of the client's requests stay unique.
type rewriter struct {
	from, to             inspect.JID // the full JIDs: recorded, replayed
	oldStream, newStream string
	user, password       string // the replay's account (localpart, password)

	// serverIDs maps the id of a recorded request of the server to the id of the
	// replayed server's matching request (set by the tracker as they are matched).
	serverIDs map[string]string
	used      map[string]bool // ids of the requests sent so far
}

func newRewriter(from, to inspect.JID, oldStream, newStream, user, password string) *rewriter {
	return &rewriter{from: from, to: to, oldStream: oldStream, newStream: newStream, user: user, password: password,
		serverIDs: map[string]string{}, used: map[string]bool{}}
}

// Reasons a step is not sent.
const (
	skipRedacted  = "it carries a secret the log redacted (record with --show-secrets to replay it)"
	skipNoRequest = "it answers a request of the recorded server that the replayed server did not send"
)

// rewrite returns the bytes to send for st and the id they carry, or why st is not sent.
// The recorded bytes are sent as they are when nothing needs to change.
func (w *rewriter) rewrite(st *Step) (out []byte, id string, skip string) {
	if st.Kind == StepClose {
		return []byte("</stream:stream>"), "", ""
	}
	el := st.Elem.Copy()
	changed := w.mapJIDs(el)
	id = el.Attr("id")
	switch {
	case st.ServerID != "":
		nid, ok := w.serverIDs[st.ServerID]
		if !ok {
			return nil, "", skipNoRequest
		}
		if nid != id {
			el.SetAttr("id", nid)
			id, changed = nid, true
		}
	case st.Request:
		if nid := w.uniqueID(id); nid != id {
			el.SetAttr("id", nid)
			id, changed = nid, true
		}
		w.used[id] = true
	}
	if el.Local == "iq" && el.Attr("type") == "set" {
		if q := el.Child(inspect.NSRegister, "query"); q != nil && w.credentials(q) {
			changed = true
		}
	}
	if changed || !plainHeader(st.Header) {
		out = el.AppendXML(nil, inspect.NSClient)
	} else {
		out = st.Raw
	}
	if bytes.Contains(out, redactedMarker) {
		return nil, "", skipRedacted
	}
	return out, id, ""
}

// uniqueID returns id, or id with a suffix when a request with that id was sent before
// (a client may reuse ids; the answers must be told apart).
func (w *rewriter) uniqueID(id string) string {
	if !w.used[id] {
		return id
	}
	for n := 2; ; n++ {
		c := id + "-" + strconv.Itoa(n)
		if !w.used[c] {
			return c
		}
	}
}

// credentials puts the replay's account in an in-band registration (XEP-0077) of the
// recorded user: its username and its password, which the log redacted.
func (w *rewriter) credentials(q *inspect.Element) bool {
	u := q.Child(inspect.NSRegister, "username")
	if u != nil && !strings.EqualFold(u.Text(), w.from.Local) {
		return false // another account: not ours to fill in
	}
	changed := false
	if u != nil && u.Text() != w.user {
		u.SetText(w.user)
		changed = true
	}
	if p := q.Child(inspect.NSRegister, "password"); p != nil {
		p.SetText(w.password)
		changed = true
	}
	return changed
}

// mapJIDs rewrites, everywhere in el, the attribute values and the text of <jid/>
// elements that name the recorded full JID, its bare JID or the recorded stream id. It
// reports whether anything changed.
func (w *rewriter) mapJIDs(el *inspect.Element) bool {
	changed := false
	for i, a := range el.Attrs {
		if a.Space != "" || a.Local == "id" || a.Local == "type" {
			continue
		}
		if v, ok := w.mapValue(a.Value); ok {
			el.Attrs[i].Value = v
			changed = true
		}
	}
	if el.Local == "jid" {
		if v, ok := w.mapValue(el.Text()); ok && len(el.Elements()) == 0 {
			el.SetText(v)
			changed = true
		}
	}
	for _, c := range el.Elements() {
		if w.mapJIDs(c) {
			changed = true
		}
	}
	return changed
}

// mapValue returns the replayed counterpart of a recorded value, if it has one: the
// stream id, the full or bare JID of the account, and when the replay's domain is another
// one, any JID on the recorded domain.
func (w *rewriter) mapValue(v string) (string, bool) {
	if v == "" {
		return "", false
	}
	if w.oldStream != "" && v == w.oldStream && w.newStream != w.oldStream {
		return w.newStream, true
	}
	moved := w.to.Domain != w.from.Domain
	if !moved && !strings.Contains(v, "@") {
		return "", false // neither JID is a bare domain: nothing else to map
	}
	j, err := inspect.ParseJID(v)
	if err != nil {
		return "", false
	}
	switch {
	case j == w.from:
		j = w.to
	case j == w.from.Bare():
		j = w.to.Bare()
	case moved && j.Domain == w.from.Domain:
		j.Domain = w.to.Domain
	default:
		return "", false
	}
	out := j.String()
	return out, out != v
}

// plainHeader reports whether stanzas written under h mean the same under the replay's
// own stream header (jabber:client by default, the stream prefix, nothing else declared),
// so their bytes can be sent as recorded.
func plainHeader(h *inspect.Header) bool {
	if h == nil {
		return true
	}
	if h.ContentNS != "" && h.ContentNS != inspect.NSClient {
		return false
	}
	for p, ns := range h.NS {
		if p != "stream" || ns != inspect.NSStreams {
			return false
		}
	}
	return true
}

// redactedMarker is what the redactor puts in place of a secret. It is taken from the
// redactor itself, so that the two never disagree.
var redactedMarker = func() []byte {
	const pre, post = "<iq><query xmlns='jabber:iq:register'><password>", "</password></query></iq>"
	red, _ := inspect.Redact([]byte(pre+"x"+post), nil)
	m := bytes.TrimSuffix(bytes.TrimPrefix(red, []byte(pre)), []byte(post))
	if len(m) == 0 || bytes.Equal(m, []byte("x")) {
		return []byte("[redacted]") // TestRedactedMarker fails first
	}
	return m
}()
