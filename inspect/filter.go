package inspect

import "strings"

// Filter selects stanzas to show. Empty fields match everything; a stanza must match every
// field that is set. Records that are not stanzas (stream headers, notes, errors) always
// pass, so a filtered log still shows connections and failures.
type Filter struct {
	Names []string // element local names: message, presence, iq, auth, ...
	Types []string // type attribute; "available" matches a presence without type and
	// "normal" a message without type
	JID string // matches from or to; a bare JID matches every resource of it
}

// NewFilter returns a sink that passes to next the records f selects. JIDs are compared
// after normalisation when they parse (RFC 7622), else as written.
func NewFilter(next Sink, f Filter) Sink {
	fs := &filterSink{next: next, names: set(f.Names), types: set(f.Types)}
	if f.JID != "" {
		fs.jid = f.JID
		if j, err := ParseJID(f.JID); err == nil {
			fs.parsed, fs.jid = j, j.String()
		}
	}
	return fs
}

func set(list []string) map[string]bool {
	if len(list) == 0 {
		return nil
	}
	m := make(map[string]bool, len(list))
	for _, s := range list {
		if s = strings.TrimSpace(s); s != "" {
			m[s] = true
		}
	}
	return m
}

type filterSink struct {
	next   Sink
	names  map[string]bool
	types  map[string]bool
	jid    string
	parsed JID
}

func (f *filterSink) Write(r *Record) error {
	if r.Kind != KindStanza || f.match(r) {
		return f.next.Write(r)
	}
	return nil
}

func (f *filterSink) match(r *Record) bool {
	if f.names != nil && !f.names[r.Name] {
		return false
	}
	if f.types != nil {
		t := r.Attr("type")
		if t == "" {
			switch r.Name {
			case "presence":
				t = "available"
			case "message":
				t = "normal"
			}
		}
		if !f.types[t] {
			return false
		}
	}
	if f.jid != "" && !f.matchJID(r.Attr("from")) && !f.matchJID(r.Attr("to")) {
		return false
	}
	return true
}

func (f *filterSink) matchJID(s string) bool {
	if s == "" {
		return false
	}
	if f.parsed.IsZero() {
		return s == f.jid || (strings.HasPrefix(s, f.jid+"/") && !strings.Contains(f.jid, "/"))
	}
	j, err := ParseJID(s)
	if err != nil {
		return false
	}
	if f.parsed.IsBare() {
		return j.Bare() == f.parsed
	}
	return j == f.parsed
}
