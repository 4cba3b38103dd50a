package inspect

import (
	"fmt"
	"io"
	"time"
)

// JSONOptions configure the JSON-lines printer. There are none yet; credentials are
// redacted by a stage of the sink chain before the printer (NewRedactor).
type JSONOptions struct{}

// JSON writes one JSON object per record and line, for programs and for the log file that
// `stanzascope inspect` reads back (ReadJSONLog). The field order is fixed. It writes what
// it gets: redaction is a stage of the sink chain before it (NewRedactor).
type JSON struct {
	w   io.Writer
	bw  availableBufferer // w, when it lends its buffer (a bufio.Writer); asked once
	opt JSONOptions
	buf []byte
	jr  jsonRecord // the line being written, filled in place (it is a few hundred bytes)
}

// availableBufferer is a writer that lends the free part of its buffer (bufio.Writer).
type availableBufferer interface{ AvailableBuffer() []byte }

// jsonRecord is the shape of one line of a JSON log. Field order and names are a format
// other tools read: change them only by adding fields.
type jsonRecord struct {
	Time string `json:"time,omitempty"` // RFC 3339 with nanoseconds, UTC (as read back; the printer writes at)
	Conn uint64 `json:"conn,omitempty"`
	Node string `json:"node,omitempty"` // the process that numbered the connection (a proxy's --node)
	Dir  string `json:"dir,omitempty"`  // c2s, s2c
	Kind string `json:"kind"`
	Name string `json:"name,omitempty"`
	NS   string `json:"ns,omitempty"`
	// The stanza's attributes: bytes, so that the printer can point them into the record
	// instead of copying each into a string (see topAttrs).
	Type      jsonText `json:"type,omitempty"`
	ID        jsonText `json:"id,omitempty"`
	From      jsonText `json:"from,omitempty"`
	To        jsonText `json:"to,omitempty"`
	Size      int      `json:"size"`          // length of xml: the bytes as they travelled, once redacted
	XML       jsonText `json:"xml,omitempty"` // the bytes, redacted unless --show-secrets
	Note      string   `json:"note,omitempty"`
	Error     string   `json:"error,omitempty"`
	Condition string   `json:"condition,omitempty"` // stream error condition of error
	Original  jsonText `json:"original,omitempty"`  // as received, when a rule changed it
	Verdict   string   `json:"verdict,omitempty"`
	Tags      []Tag    `json:"tags,omitempty"`
	Rules     []string `json:"rules,omitempty"`
	RTTms     float64  `json:"rtt_ms,omitempty"`
	Unmatched bool     `json:"unmatched,omitempty"`
	Client    string   `json:"client,omitempty"`    // conn-open: the client's address
	Server    string   `json:"server,omitempty"`    // conn-open: the server's address
	Origin    string   `json:"origin,omitempty"`    // who produced the bytes: client, server, proxy
	Transport string   `json:"transport,omitempty"` // "websocket" for a client over WebSocket; absent for TCP
	Seq       uint64   `json:"seq,omitempty"`       // the record's number (see Number)

	// Violations are the RFC 6120 violations a transparent proxy forwarded (annotate mode).
	Violations []Violation `json:"violations,omitempty"`
	// Milestone is a typed step of the negotiation (TLS up, SASL, bound JID), on a note.
	Milestone *Milestone `json:"milestone,omitempty"`

	// at is the record's time, which the printer writes as "time" straight into the line
	// (time.AppendFormat) instead of making a string per record first; Time is what a
	// line read back holds.
	at time.Time
	// clock is what the last line's time was, kept across fill: most lines come in the
	// same second as the one before.
	clock lineClock
	// dirField, kindField and originField are Dir, Kind and Origin with their keys, as
	// the line has them (`,"kind":"stanza"`), when fill took them from namedFields; empty
	// otherwise (a line read back), and appendJSON quotes the names then.
	dirField, kindField, originField string
}

// namedFields holds, for each value of a record's direction, kind and producer, the
// field of the line that says it, key and quoted name (Direction.String, Kind.String,
// Origin.String): fill points the line at them so that appendJSON copies each instead of
// quoting a name it already knows.
var namedFields struct {
	dir, kind, origin [16]string
}

func init() {
	field := func(key, name string) string {
		if name == "" {
			return "" // left out of the line
		}
		return string(appendJSONString([]byte(`,"`+key+`":`), name))
	}
	for i := range namedFields.dir {
		namedFields.dir[i] = field("dir", Direction(i).String())
		namedFields.kind[i] = field("kind", Kind(i).String())
		namedFields.origin[i] = field("origin", Origin(i).String())
	}
}

// NewJSON returns a JSON-lines printer writing to w, one Write call per record.
func NewJSON(w io.Writer, opt JSONOptions) *JSON {
	bw, _ := w.(availableBufferer)
	return &JSON{w: w, bw: bw, opt: opt}
}

// Flush does nothing: JSON writes each record as it comes.
func (j *JSON) Flush() error { return nil }

// Write writes r as one line. Written to a bufio.Writer (the log file), the line is
// encoded straight into the writer's buffer, not into one of its own first.
func (j *JSON) Write(r *Record) error {
	jr := &j.jr
	jr.fill(r)
	var err error
	if j.bw != nil {
		_, err = j.w.Write(jr.appendJSON(j.bw.AvailableBuffer()))
	} else {
		j.buf = jr.appendJSON(j.buf[:0])
		_, err = j.w.Write(j.buf)
	}
	if err != nil {
		return fmt.Errorf("json printer: %w", err)
	}
	return nil
}

// toJSON returns the line of r (jsonRecord.fill).
func toJSON(r *Record) jsonRecord {
	var jr jsonRecord
	jr.fill(r)
	return jr
}

// fill sets jr to the line of r, every field: what the last record left is overwritten.
func (jr *jsonRecord) fill(r *Record) {
	// Cleared in place and then set field by field: a composite literal with calls in it
	// is built aside and copied, twice the stores of the whole struct.
	clock := jr.clock
	*jr = jsonRecord{}
	jr.clock = clock
	jr.Kind = r.Kind.String()
	jr.Dir = r.Dir.String()
	if int(r.Kind) < len(namedFields.kind) {
		jr.kindField = namedFields.kind[r.Kind]
	}
	if int(r.Dir) < len(namedFields.dir) {
		jr.dirField = namedFields.dir[r.Dir]
	}
	jr.Name, jr.NS = r.Name, r.NS
	jr.Size = len(r.Raw)
	jr.Verdict = string(r.Verdict)
	if x := r.extra; x != nil {
		jr.Note = x.note
		jr.Milestone = x.milestone
		jr.Tags, jr.Rules = x.tags, x.rules
		jr.Original = x.original
		jr.Violations = x.violations
		if x.rtt > 0 {
			jr.RTTms = float64(x.rtt) / float64(time.Millisecond)
		}
	}
	jr.Unmatched = r.Unmatched
	p := r.Producer()
	jr.Origin = p.String()
	if int(p) < len(namedFields.origin) {
		jr.originField = namedFields.origin[p]
	}
	jr.Seq = r.Seq
	jr.at = r.Time
	if r.Conn != nil {
		jr.Conn = r.Conn.ID
		jr.Node = r.Conn.Node
		jr.Transport = r.Conn.Transport
		if r.Kind == KindConnOpen {
			if r.Conn.Client.IsValid() {
				jr.Client = r.Conn.Client.String()
			}
			if r.Conn.Server.IsValid() {
				jr.Server = r.Conn.Server.String()
			}
		}
	}
	jr.XML = r.Raw
	switch r.Kind {
	case KindStanza:
		if r.parsedTree() != nil {
			jr.Type, jr.ID, jr.From, jr.To = jsonText(r.Attr("type")), jsonText(r.Attr("id")), jsonText(r.Attr("from")), jsonText(r.Attr("to"))
		} else if id, _, known := r.TopAttrRaw(TopID); known {
			// The Reader noted where they are while framing: no scan at all. A value
			// not present is empty, as the field is left.
			jr.ID = unescapeBytes(id)
			v, _, _ := r.TopAttrRaw(TopType)
			jr.Type = unescapeBytes(v)
			v, _, _ = r.TopAttrRaw(TopFrom)
			jr.From = unescapeBytes(v)
			v, _, _ = r.TopAttrRaw(TopTo)
			jr.To = unescapeBytes(v)
		} else {
			topAttrs(r.Raw, jr)
		}
	case KindStreamOpen:
		if h := r.Header; h != nil {
			jr.ID, jr.From, jr.To = jsonText(h.ID), jsonText(h.From), jsonText(h.To)
		}
	}
	if err := r.Err(); err != nil {
		jr.Error = err.Error()
		if se := AsStreamError(err); se != nil {
			jr.Condition = string(se.Condition)
		}
	}
}

// topAttrs sets jr's type, id, from and to to what Record.Attr returns for a record not
// parsed (TopAttr: the first attribute of that qualified name on the first start tag,
// unescaped), in one scan of the start tag instead of one per attribute, and as views on
// raw unless a value holds a reference.
func topAttrs(raw []byte, jr *jsonRecord) {
	i := FirstStartTag(raw)
	if i < 0 {
		return
	}
	raw = raw[i:]
	qname, complete := TagName(raw)
	if !complete || len(qname) == 0 {
		return
	}
	var seen uint8
	for i = 1 + len(qname); seen != 0xf; {
		a, next, end, err := scanAttr(raw, i)
		if err != nil || end > 0 {
			return
		}
		var v *jsonText
		var bit uint8
		switch string(a.Name(raw)) {
		case "type":
			v, bit = &jr.Type, 1
		case "id":
			v, bit = &jr.ID, 2
		case "from":
			v, bit = &jr.From, 4
		case "to":
			v, bit = &jr.To, 8
		}
		if v != nil && seen&bit == 0 {
			*v, seen = unescapeBytes(a.Value(raw)), seen|bit
		}
		i = next
	}
}
