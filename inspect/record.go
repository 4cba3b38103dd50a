package inspect

import (
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"
	"unsafe"
)

// ConnInfo identifies one connection (a client's, and for the proxy its upstream leg).
// It is shared by all the records of that connection and never changes after creation.
type ConnInfo struct {
	ID uint64 // connection number, counted from 1 in each process or capture
	// Node names the process that numbered the connection (a proxy's --node), so that the
	// records of several proxies, merged, keep their connections apart; "" for one process.
	Node   string
	Client netip.AddrPort // the client's address
	Server netip.AddrPort // the server's address (the proxy's listener, or the upstream)
	// Transport is how the client reached stanzascope: "" for a TCP stream (plaintext,
	// STARTTLS or Direct TLS), TransportWebSocket for XMPP over WebSocket (RFC 7395).
	Transport string
}

// ConnKey tells connections apart among the records of several processes: the node that
// numbered a connection and its number.
type ConnKey struct {
	Node string
	ID   uint64
}

// Key returns the connection's key; a nil ConnInfo has the zero key.
func (c *ConnInfo) Key() ConnKey {
	if c == nil {
		return ConnKey{}
	}
	return ConnKey{c.Node, c.ID}
}

// Name is how the connection is shown: its number, after its node if it has one
// ("p1/3").
func (c *ConnInfo) Name() string {
	if c.Node == "" {
		return strconv.FormatUint(c.ID, 10)
	}
	return c.Node + "/" + strconv.FormatUint(c.ID, 10)
}

// TransportWebSocket is ConnInfo.Transport of a client that came over WebSocket.
const TransportWebSocket = "websocket"

// Tag is a label a rule attached to a record, shown in the log.
type Tag struct {
	Label string `json:"label"`
	Color string `json:"color,omitempty"`
}

// Origin says who produced the bytes of a record: the client, the server (for the embedded
// switch, the switch), or stanzascope itself (its own stream headers and errors, features it
// edited, stanzas a rule injected or a person sent).
type Origin uint8

// Origins. OriginUnknown is for records without bytes (notes) and for producers that do not
// know; Record.Producer then derives the origin from the direction.
const (
	OriginUnknown Origin = iota
	OriginClient
	OriginServer
	OriginProxy
)

var originNames = [...]string{OriginClient: "client", OriginServer: "server", OriginProxy: "proxy"}

// String returns "client", "server", "proxy" or "".
func (o Origin) String() string {
	if int(o) < len(originNames) {
		return originNames[o]
	}
	return ""
}

// ParseOrigin is the inverse of Origin.String; "" is OriginUnknown.
func ParseOrigin(s string) (Origin, bool) {
	for o, n := range originNames {
		if n == s {
			return Origin(o), true
		}
	}
	return OriginUnknown, false
}

// Verdict says what stanzascope did with a stanza: the rules' decision and the record's
// word for it are one type. Its value is the word the JSON log writes, so a log stays
// readable and a word this version does not know survives a round trip.
type Verdict string

// Verdicts.
const (
	Forwarded Verdict = ""         // forwarded, as received or as a rule changed it (Record.Original)
	Dropped   Verdict = "dropped"  // forwarded to no one
	Rejected  Verdict = "rejected" // forwarded to no one; a stanza error went back to the sender
	Injected  Verdict = "injected" // made by stanzascope (a rule, or the proxy itself), not received
	Delayed   Verdict = "delayed"  // forwarded after a rule held it
	// Intercepted: received and handled by stanzascope itself, not forwarded (a <starttls/>
	// the proxy answers, the upstream's answer to the proxy's own STARTTLS).
	Intercepted Verdict = "intercepted"
)

// Delivered reports whether the verdict lets the record's bytes reach the other party.
func (v Verdict) Delivered() bool {
	return v != Dropped && v != Rejected && v != Intercepted
}

// String returns the verdict's word ("forwarded" for the zero value).
func (v Verdict) String() string {
	if v == Forwarded {
		return "forwarded"
	}
	return string(v)
}

// Record is the unit every sink (printer, JSON log, pcap writer) consumes: one stream event
// or connection milestone, with where and when it happened. A Record owns its bytes.
type Record struct {
	Seq    uint64 // stanza number, shared by every output (see Number); 0 until numbered
	Time   time.Time
	Conn   *ConnInfo // nil when the source has no connections (a raw XML file)
	Dir    Direction
	Kind   Kind
	Origin Origin // who produced Raw; OriginUnknown: see Producer
	// Unmatched is set by the iq tracker: an answer with no request, or a request never
	// answered. (The one-byte fields are together: a record is allocated for every stanza,
	// and without their padding it fits a smaller size class; see also extra.)
	Unmatched bool
	Raw       []byte  // exact bytes as they travelled (after rules, if a rule changed them)
	Name      string  // local name of the element (stanzas, stream open/close)
	NS        string  // its namespace
	Header    *Header // the stream header in force: namespace context for parsing Raw
	Verdict   Verdict // set by the rules engine: what became of the stanza; zero is forwarded

	// parsed is the tree Element made (a *parsedElement), nil until then. It is read and
	// set atomically: the chain hands one record to outputs in several goroutines, any of
	// which may parse it first (see Element).
	parsed unsafe.Pointer
	// extra holds the fields most records never carry (see recordExtra), nil when none is
	// set: a record is allocated for every stanza, and without them it fits a smaller size
	// class. Read them by the methods named as the fields (Err, Note, Original, Tags, ...),
	// set them by the setters (SetErr, SetNote, SetOriginal, SetTags, ...).
	extra *recordExtra
	top   topNote // where the Reader found id, type, from and to in Raw
}

// recordExtra is the optional part of a Record. Once attached to a record it is never
// changed: records are copied by value (the redactor sends a changed copy on), and a copy
// shares the part, so every setter attaches a changed copy of it instead (copy on write;
// setting is rare: a rule matched, an iq answered, a violation annotated, a note, an error).
type recordExtra struct {
	err  error  // KindError: the error (often a *StreamError)
	note string // KindNote, KindConnOpen/Close, KindGap: a message for a person
	// violations are the breaches of RFC 6120 in Raw that the reader framed past in
	// annotate mode (a transparent proxy forwards them); see Limits.Annotate.
	violations []Violation
	milestone  *Milestone // on a KindNote: the typed negotiation step it announces
	// Set by the rules engine.
	original []byte   // the bytes as received when a rule changed the stanza, else nil
	tags     []Tag    // labels rules attached
	rules    []string // names of the rules that matched
	// Set by the iq tracker.
	rtt time.Duration // answers: time since the matching request
	// answers, on an answer the tracker matched: the request it answers, so that an empty
	// result can be explained by what it completed (see Explain).
	answers *iqRequest
	sasl    string // set by the redactor: the decoded SASL payload, its secrets redacted (see SASL)
}

// noExtra is what the getters read on a record without the optional part: the zero
// values. It is never changed (only the getters see it).
var noExtra recordExtra

// ext returns r's optional part for reading: noExtra when it has none.
func (r *Record) ext() *recordExtra {
	if r.extra == nil {
		return &noExtra
	}
	return r.extra
}

// edit attaches to r a copy of its optional part (a new, empty one when it has none) and
// returns it for a setter to change: the part attached before is never changed, as copies
// of r may share it. It returns nil, attaching nothing, when unset (the setter clears a
// field) and r has no part: there is nothing to clear.
func (r *Record) edit(unset bool) *recordExtra {
	if unset && r.extra == nil {
		return nil
	}
	x := new(recordExtra)
	if r.extra != nil {
		*x = *r.extra
	}
	r.extra = x
	return x
}

// Err returns the error a KindError record carries (often a *StreamError), nil on others.
func (r *Record) Err() error {
	return r.ext().err
}

// Note returns the message for a person that a KindNote, KindConnOpen, KindConnClose or
// KindGap record carries (a milestone's sentence, why a connection closed, ...), "" when
// there is none.
func (r *Record) Note() string {
	return r.ext().note
}

// SetErr sets what Err returns.
func (r *Record) SetErr(err error) {
	if x := r.edit(err == nil); x != nil {
		x.err = err
	}
}

// SetNote sets what Note returns.
func (r *Record) SetNote(note string) {
	if x := r.edit(note == ""); x != nil {
		x.note = note
	}
}

// WithErr is SetErr for a record being made: it returns r, as in
// (&Record{Kind: KindError, ...}).WithErr(err).
func (r *Record) WithErr(err error) *Record {
	r.SetErr(err)
	return r
}

// WithNote is SetNote for a record being made: it returns r, as in
// (&Record{Kind: KindNote, ...}).WithNote(note).
func (r *Record) WithNote(note string) *Record {
	r.SetNote(note)
	return r
}

// Violations returns the breaches of RFC 6120 in Raw that the reader framed past in
// annotate mode (a transparent proxy forwards them; see Limits.Annotate), nil for most
// records. Like every slice the getters return, it is shared with copies of the record:
// callers must not change it.
func (r *Record) Violations() []Violation {
	return r.ext().violations
}

// Milestone returns, on a KindNote, the typed step of the negotiation the note announces
// (TLS up on a leg, SASL mechanism and result, the bound JID); nil on other records. The
// Milestone is shared with copies of the record: callers must not change it.
func (r *Record) Milestone() *Milestone {
	return r.ext().milestone
}

// Original returns the bytes as received when a rule (or the proxy, or a framing such as
// WebSocket's) changed the stanza, nil otherwise: Raw holds what travelled on.
func (r *Record) Original() []byte {
	return r.ext().original
}

// Tags returns the labels rules attached to the record, shown in the log.
func (r *Record) Tags() []Tag {
	return r.ext().tags
}

// Rules returns the names of the rules that matched the stanza.
func (r *Record) Rules() []string {
	return r.ext().rules
}

// RTT returns, on an iq answer the iq tracker matched, the time since its request; 0
// otherwise.
func (r *Record) RTT() time.Duration {
	return r.ext().rtt
}

// answersReq returns the request the iq tracker matched the record's answer to, nil when
// it matched none.
func (r *Record) answersReq() *iqRequest {
	return r.ext().answers
}

// SetViolations sets what Violations returns; the record keeps v (it does not copy it).
func (r *Record) SetViolations(v []Violation) {
	if x := r.edit(len(v) == 0); x != nil {
		x.violations = v
	}
}

// SetMilestone sets what Milestone returns; the record keeps m, which must not change
// after.
func (r *Record) SetMilestone(m *Milestone) {
	if x := r.edit(m == nil); x != nil {
		x.milestone = m
	}
}

// SetOriginal sets what Original returns: the bytes as received, when Raw is not them;
// nil when it is. The record keeps b (it does not copy it).
func (r *Record) SetOriginal(b []byte) {
	if x := r.edit(b == nil); x != nil {
		x.original = b
	}
}

// SetTags sets what Tags returns; the record keeps t (it does not copy it), which may be
// shared with other records (a rule's outcome): AddTag never appends to it in place.
func (r *Record) SetTags(t []Tag) {
	if x := r.edit(len(t) == 0); x != nil {
		x.tags = t
	}
}

// AddTag appends t to the record's tags, in a new array (the old one may be shared).
func (r *Record) AddTag(t Tag) {
	old := r.Tags()
	r.SetTags(append(old[:len(old):len(old)], t))
}

// SetRules sets what Rules returns; the record keeps names (it does not copy them).
func (r *Record) SetRules(names []string) {
	if x := r.edit(len(names) == 0); x != nil {
		x.rules = names
	}
}

// SetRuleOutcome sets the tags and the names of the matched rules at once (one copy of
// the optional part instead of two). Like the other setters of slices, it attaches no
// part for empty ones to a record that has none: rules that match nothing cost nothing.
func (r *Record) SetRuleOutcome(tags []Tag, rules []string) {
	if x := r.edit(len(tags) == 0 && len(rules) == 0); x != nil {
		x.tags, x.rules = tags, rules
	}
}

// SetRTT sets what RTT returns.
func (r *Record) SetRTT(d time.Duration) {
	if x := r.edit(d == 0); x != nil {
		x.rtt = d
	}
}

// The top-level attributes a Reader notes while it frames a stanza (Record.TopAttrRaw):
// what the rules, the breakpoints and the JSON log read of every stanza.
const (
	TopID = iota
	TopType
	TopFrom
	TopTo
	numTopAttrs
)

// TopAttrIndex returns TopID, TopType, TopFrom or TopTo for the attribute name, or -1.
func TopAttrIndex(name string) int {
	switch name {
	case "id":
		return TopID
	case "type":
		return TopType
	case "from":
		return TopFrom
	case "to":
		return TopTo
	}
	return -1
}

// topNote holds the offsets of the top attributes in the bytes they were noted for: base
// and n identify those bytes, so that a Record whose Raw was replaced since does not use
// offsets that are not about it.
type topNote struct {
	base *byte
	n    int
	v    [numTopAttrs]span
}

// TopAttrRaw returns the value as written (entities not expanded; a view on Raw) of the
// top-level attribute i (TopID, TopType, TopFrom, TopTo) of a stanza, from where the
// Reader found it while framing the stanza, without scanning again; present says whether
// the stanza has it. known is false when the record has no such note (not made from a
// Reader's event, or Raw replaced since): scan Raw then (RawAttr).
func (r *Record) TopAttrRaw(i int) (value []byte, present, known bool) {
	t := &r.top
	if t.base == nil || len(r.Raw) != t.n || &r.Raw[0] != t.base || i < 0 || i >= numTopAttrs {
		return nil, false, false
	}
	s := t.v[i]
	if s.end == 0 {
		return nil, false, true
	}
	return r.Raw[s.start:s.end], true, true
}

// parsedElement is what Element made of a record: the tree, or why there is none.
type parsedElement struct {
	e   *Element
	err error
}

// notStanza is Element's answer for every record that carries no stanza.
var notStanza = &parsedElement{err: errNotStanza}

// Element parses Raw into a tree on first use and caches it. It returns an error for
// records that carry no stanza. It is safe for concurrent use: the outputs of a Chain
// share each record, and the first to ask parses it (two that ask at once may both parse;
// one tree is kept). The tree is shared too: callers must not change it.
func (r *Record) Element() (*Element, error) {
	if p := r.loadParsed(); p != nil {
		return p.e, p.err
	}
	p := notStanza
	if r.Kind == KindStanza {
		p = new(parsedElement)
		p.e, p.err = ParseElement(r.Raw, r.Header)
	}
	if !atomic.CompareAndSwapPointer(&r.parsed, nil, unsafe.Pointer(p)) {
		p = r.loadParsed()
	}
	return p.e, p.err
}

// ElementUncached returns the tree Element returns, without keeping in r a tree it has
// to make: for a reader that holds many records long and needs a record's tree once (the
// web view labels an iq by its payload), so that its records do not each keep a tree.
func (r *Record) ElementUncached() (*Element, error) {
	if p := r.loadParsed(); p != nil {
		return p.e, p.err
	}
	if r.Kind != KindStanza {
		return nil, errNotStanza
	}
	return ParseElement(r.Raw, r.Header)
}

func (r *Record) loadParsed() *parsedElement {
	return (*parsedElement)(atomic.LoadPointer(&r.parsed))
}

// parsedTree returns the tree Element made, nil when it made none (yet).
func (r *Record) parsedTree() *Element {
	if p := r.loadParsed(); p != nil {
		return p.e
	}
	return nil
}

// Producer returns who produced the record's bytes: Origin when the producer set it, else,
// for records of wire bytes, the party that sends in the record's direction (the client for
// c2s, the server for s2c). Notes and other records without wire bytes have no producer.
func (r *Record) Producer() Origin {
	if r.Origin != OriginUnknown {
		return r.Origin
	}
	switch r.Kind {
	case KindStreamOpen, KindStanza, KindWhitespace, KindStreamClose:
	default:
		return OriginUnknown
	}
	switch r.Dir {
	case ClientToServer:
		return OriginClient
	case ServerToClient:
		return OriginServer
	}
	return OriginUnknown
}

// SetElement replaces the cached tree (used when Raw is rebuilt from a changed tree); nil
// forgets it. Like every change to a record, only its producer may make it, before the
// record is written to a sink.
func (r *Record) SetElement(e *Element) {
	var p unsafe.Pointer
	if e != nil {
		p = unsafe.Pointer(&parsedElement{e: e})
	}
	atomic.StorePointer(&r.parsed, p)
}

// Attr returns a top-level attribute of the stanza (to, from, id, type) without building
// a tree when it is not built yet.
func (r *Record) Attr(local string) string {
	if e := r.parsedTree(); e != nil {
		return e.Attr(local)
	}
	if r.Kind != KindStanza && r.Kind != KindStreamOpen {
		return ""
	}
	v, present, known := r.TopAttrRaw(TopAttrIndex(local))
	return notedAttr(r.Raw, local, v, present, known)
}

// notedAttr returns the top-level attribute local of raw, unescaped: from where the
// Reader noted it (TopAttrRaw's value, present, known), else scanned (TopAttr).
func notedAttr(raw []byte, local string, v []byte, present, known bool) string {
	if !known {
		return TopAttr(raw, local)
	}
	if !present {
		return ""
	}
	return string(unescapeBytes(v))
}

// Sink consumes records. Sinks are not safe for concurrent use unless they say so;
// callers feed each sink from one goroutine.
type Sink interface {
	Write(r *Record) error
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(r *Record) error

// Write calls f(r).
func (f SinkFunc) Write(r *Record) error { return f(r) }
