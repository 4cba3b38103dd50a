package replay

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// MaxLogBytes bounds the bytes of the records a replay keeps from a log in memory. A
// larger log can still be replayed one connection at a time (ReadLog's only).
const MaxLogBytes = 256 << 20

// Errors of Log.Script, for a caller that lists the connections when it gets one.
var (
	ErrNoConn     = errors.New("no such connection in the log")
	ErrNotLogged  = errors.New("the connection did not log in")
	ErrNoLogin    = errors.New("no client connection in the log logged in")
	ErrManyConns  = errors.New("the log holds several connections with this number (several runs in one file)")
	errTooLarge   = fmt.Errorf("the log holds more than %d MiB of records", MaxLogBytes>>20)
	errNotClient  = errors.New("not a client-to-server stream (jabber:client)")
	errNotStanzas = errors.New("the log holds no connections (a log of a raw XML file?)")
)

// Log is a stanzascope JSON log held in memory, by connection.
type Log struct {
	conns []*loggedConn
}

type loggedConn struct {
	info *inspect.ConnInfo
	recs []*inspect.Record
}

// ReadLog reads a JSON log (see inspect.ReadJSONLog). With only > 0 it keeps the records
// of connections numbered only, so a log too large to hold can be replayed one
// connection at a time. At most MaxLogBytes of records are kept.
func ReadLog(r io.Reader, only uint64) (*Log, error) {
	l := &Log{}
	byInfo := map[*inspect.ConnInfo]*loggedConn{}
	size := 0
	err := inspect.ReadJSONLog(r, inspect.SinkFunc(func(rec *inspect.Record) error {
		if rec.Conn == nil || (only > 0 && rec.Conn.ID != only) {
			return nil
		}
		if !replayable(rec) && rec.Kind != inspect.KindWhitespace && !isUnwritten(rec) {
			// Notes, errors: nothing to replay or compare. Whitespace and unwritten notes
			// are kept until extract: an unwritten note counts the records it takes back,
			// whitespace among them (withoutUnwritten).
			return nil
		}
		c := byInfo[rec.Conn]
		if c == nil {
			c = &loggedConn{info: rec.Conn}
			byInfo[rec.Conn] = c
			l.conns = append(l.conns, c)
		}
		size += len(rec.Raw) + len(rec.Original()) + 200
		if size > MaxLogBytes {
			return errTooLarge
		}
		c.recs = append(c.recs, rec)
		return nil
	}))
	if errors.Is(err, errTooLarge) && only == 0 {
		return nil, fmt.Errorf("%w: pick one connection with --conn", err)
	}
	if err != nil {
		return nil, err
	}
	if len(l.conns) == 0 && only == 0 {
		return nil, errNotStanzas
	}
	return l, nil
}

// ConnSummary describes one connection of a log, for the list a person picks from.
type ConnSummary struct {
	ID      uint64    `json:"conn"`
	Client  string    `json:"client,omitempty"` // the client's address
	Start   time.Time `json:"start"`
	JID     string    `json:"jid,omitempty"` // the JID it bound; "" when it did not log in
	Stanzas int       `json:"client_stanzas"`
	Problem string    `json:"problem,omitempty"` // why it cannot be replayed
}

func (s ConnSummary) String() string {
	who := s.JID
	if who == "" {
		who = "(did not log in)"
		if s.Problem != "" {
			who = "(" + s.Problem + ")"
		}
	}
	line := fmt.Sprintf("conn %d  %s  %d client stanzas", s.ID, who, s.Stanzas)
	if s.Client != "" {
		line += "  from " + s.Client
	}
	if !s.Start.IsZero() {
		line += "  at " + s.Start.UTC().Format(time.RFC3339)
	}
	return line
}

// Connections lists the connections of the log in the order they start.
func (l *Log) Connections() []ConnSummary {
	out := make([]ConnSummary, 0, len(l.conns))
	for _, c := range l.conns {
		sum := ConnSummary{ID: c.info.ID}
		if c.info.Client.IsValid() {
			sum.Client = c.info.Client.String()
		}
		if len(c.recs) > 0 {
			sum.Start = c.recs[0].Time
		}
		for _, r := range c.recs {
			if r.Dir == inspect.ClientToServer && r.Kind == inspect.KindStanza {
				sum.Stanzas++
			}
		}
		if s, err := extract(c); err == nil {
			sum.JID = s.JID.String()
		} else if !errors.Is(err, ErrNotLogged) {
			sum.Problem = err.Error()
		}
		out = append(out, sum)
	}
	return out
}

// Script returns the replayable form of connection id; id 0 picks the first connection
// that logged in. Errors wrap ErrNoConn, ErrNotLogged, ErrNoLogin or ErrManyConns.
func (l *Log) Script(id uint64) (*Script, error) {
	if id == 0 {
		for _, c := range l.conns {
			if s, err := extract(c); err == nil {
				return s, nil
			}
		}
		return nil, ErrNoLogin
	}
	var found *loggedConn
	for _, c := range l.conns {
		if c.info.ID != id {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("conn %d: %w", id, ErrManyConns)
		}
		found = c
	}
	if found == nil {
		return nil, fmt.Errorf("conn %d: %w", id, ErrNoConn)
	}
	s, err := extract(found)
	if err != nil {
		return nil, fmt.Errorf("conn %d: %w", id, err)
	}
	return s, nil
}

// Script is the client side of one recorded connection, cut into steps, each with the
// server's answers recorded for it.
type Script struct {
	Conn      uint64
	Client    string      // the client's address in the log
	JID       inspect.JID // the full JID the recorded client was bound to
	StreamID  string      // the id of the recorded stream the session ran on
	Resource  string      // the resource the recorded client asked for ("": the server chose)
	Mechanism string      // the recorded SASL mechanism; "" for a legacy login (XEP-0078)
	// RegistersUser says the recorded client created its own account in-band before
	// logging in (and the server agreed), so the replay does the same.
	RegistersUser bool
	// Pings is how many of the server's pings (XEP-0199) the recorded client answered:
	// the replay answers pings itself, so these answers are not replayed.
	Pings int
	Steps []*Step
}

// StepKind says what a step replays.
type StepKind uint8

// Step kinds.
const (
	StepStanza StepKind = iota // a stanza the client sent
	StepLogin                  // the recorded login, replaced by the replay's own
	StepClose                  // the client's </stream:stream>
)

// Phase says when a step is sent: before SASL, between SASL and resource binding, or in
// the session.
type Phase uint8

// Phases of a connection.
const (
	PreAuth Phase = iota
	PreBind
	Session
)

var phaseNames = [...]string{PreAuth: "pre-auth", PreBind: "pre-bind", Session: "session"}

func (p Phase) String() string { return phaseNames[p] }

// Step is one thing the recorded client did, with what the server answered.
type Step struct {
	Kind   StepKind
	Phase  Phase
	Seq    uint64 // the record's number in the log (0: none, as for a log without numbers)
	Time   time.Time
	Raw    []byte          // the stanza as the server received it (redacted in the log)
	Header *inspect.Header // the client's stream header in force
	Elem   *inspect.Element
	Sig    Sig // the stanza's own signature, for the report

	// Request says the stanza is an iq get or set: its answer is found by id.
	Request bool
	// ServerID is set when the stanza answers a request of the server: the recorded id
	// of that request, replaced by the id of the replayed server's request.
	ServerID string
	// Answer is the recorded answer to a request (nil: the recorded server never answered).
	Answer *Expect
	// Window holds what else the server sent after this step and before the next.
	Window []*Expect

	registers bool // a pre-auth in-band registration (XEP-0077)
}

// Describe says what the step is, for the report: its signature and addressee.
func (s *Step) Describe() string {
	switch s.Kind {
	case StepLogin:
		return "login"
	case StepClose:
		return "</stream:stream>"
	}
	d := s.Sig.String()
	if to := s.Elem.Attr("to"); to != "" {
		d += " to " + to
	}
	return d
}

// Expect is a stanza the recorded server sent.
type Expect struct {
	Seq  uint64
	Sig  Sig
	ID   string // the id of a request of the server (iq get or set), "" otherwise
	From string
	Raw  []byte

	header *inspect.Header // the server's stream header in force: the namespace context of Raw
}

// extract cuts the records of one connection into a Script.
func extract(c *loggedConn) (*Script, error) {
	x := &extraction{
		s:          &Script{Conn: c.info.ID},
		cur:        -1,
		login:      -1,
		ignored:    map[string]bool{},
		waiting:    map[string][]int{},
		serverReqs: map[string]bool{},
		pings:      map[string]bool{},
		loginIQs:   map[string]*inspect.Element{},
	}
	if c.info.Client.IsValid() {
		x.s.Client = c.info.Client.String()
	}
	var recs []*inspect.Record // c.recs stays as read: a log's connection is extracted more than once
	for _, r := range withoutUnwritten(c.recs) {
		if replayable(r) {
			recs = append(recs, r)
		}
	}
	for _, r := range causalOrder(recs) {
		if err := x.record(r); err != nil {
			return nil, err
		}
	}
	if x.login < 0 {
		return nil, ErrNotLogged
	}
	return x.s, nil
}

// withoutUnwritten returns recs, in the log's order, without the records whose bytes a
// failed write did not deliver whole: a proxy records a write before it makes it, and a
// note of kind unwritten after them says how many of the last records toward that peer it
// cut (an element cut part-way is one the peer could not read either).
func withoutUnwritten(recs []*inspect.Record) []*inspect.Record {
	if !slices.ContainsFunc(recs, isUnwritten) {
		return recs
	}
	out := make([]*inspect.Record, 0, len(recs))
	for _, r := range recs {
		if isUnwritten(r) {
			for k, j := r.Milestone().UnwrittenRecords, len(out)-1; k > 0 && j >= 0; j-- {
				if o := out[j]; o.Dir == r.Dir && len(o.Raw) > 0 && o.Verdict.Delivered() {
					out = slices.Delete(out, j, j+1)
					k--
				}
			}
		}
		out = append(out, r)
	}
	return out
}

// replayable reports whether r is of a kind the replay sends or compares.
func replayable(r *inspect.Record) bool {
	switch r.Kind {
	case inspect.KindStreamOpen, inspect.KindStanza, inspect.KindStreamClose, inspect.KindConnOpen:
		return true
	}
	return false
}

func isUnwritten(r *inspect.Record) bool {
	m := r.Milestone()
	return m != nil && m.Kind == inspect.MilestoneUnwritten
}

// causalOrder returns the records in the order of their times when they all have one.
// A log numbers the records of the two directions in the order its producer's pipes
// handed them over, which may put an answer before the stanza it answers; the time is
// when the bytes were read, so a server's answer is always later than what caused it.
func causalOrder(recs []*inspect.Record) []*inspect.Record {
	for _, r := range recs {
		if r.Time.IsZero() {
			return recs
		}
	}
	out := slices.Clone(recs)
	slices.SortStableFunc(out, func(a, b *inspect.Record) int { return a.Time.Compare(b.Time) })
	return out
}

type extraction struct {
	s          *Script
	cur        int                         // the step whose window the server's stanzas fall in
	login      int                         // index of the login step, -1 before it
	authed     bool                        // the client has started SASL
	clientHdr  *inspect.Header             // the client's stream header in force
	serverHdr  *inspect.Header             // the server's
	waiting    map[string][]int            // id -> request steps not answered yet, oldest first
	serverReqs map[string]bool             // ids of the server's requests (pings excepted)
	pings      map[string]bool             // ids of the server's pings
	loginIQs   map[string]*inspect.Element // the login's requests that bind or authenticate, by id
	ignored    map[string]bool             // ids of other login requests, whose answers are not compared
}

func (x *extraction) record(r *inspect.Record) error {
	switch {
	case r.Kind == inspect.KindStreamOpen && r.Dir == inspect.ClientToServer:
		x.clientHdr = r.Header
		if r.Header != nil && r.Header.ContentNS != "" && r.Header.ContentNS != inspect.NSClient {
			return errNotClient
		}
	case r.Kind == inspect.KindStreamOpen && r.Dir == inspect.ServerToClient:
		x.serverHdr = r.Header
		if r.Header != nil && r.Header.ContentNS != "" && r.Header.ContentNS != inspect.NSClient {
			return errNotClient
		}
	case r.Dir == inspect.ClientToServer && r.Kind == inspect.KindStanza:
		if r.Verdict == "dropped" || r.Verdict == "rejected" {
			return nil // the server never got it
		}
		return x.clientStanza(r)
	case r.Dir == inspect.ClientToServer && r.Kind == inspect.KindStreamClose:
		var moved *Expect
		if x.cur >= 0 {
			// The two closing tags cross: a log may number the server's before the
			// client's that caused it. It belongs to the client's close, which the
			// matching takes early as well as late.
			prev := x.s.Steps[x.cur]
			if n := len(prev.Window); n > 0 && prev.Window[n-1].Sig == closeSig {
				moved, prev.Window = prev.Window[n-1], prev.Window[:n-1]
			}
		}
		x.add(&Step{Kind: StepClose, Seq: r.Seq, Time: r.Time, Raw: r.Raw})
		if moved != nil {
			x.s.Steps[x.cur].Window = append(x.s.Steps[x.cur].Window, moved)
		}
	case r.Dir == inspect.ServerToClient && r.Producer() == inspect.OriginServer:
		return x.serverRecord(r)
	}
	return nil
}

func (x *extraction) phase() Phase {
	switch {
	case x.login >= 0:
		return Session
	case x.authed:
		return PreBind
	}
	return PreAuth
}

// add appends a step; it owns the server's stanzas that follow.
func (x *extraction) add(st *Step) {
	st.Phase = x.phase()
	x.s.Steps = append(x.s.Steps, st)
	x.cur = len(x.s.Steps) - 1
}

func (x *extraction) clientStanza(r *inspect.Record) error {
	el, err := r.Element()
	if err != nil {
		return nil // not a stanza the replay could send; the record shows it
	}
	child := el.FirstElement()
	id, typ := el.Attr("id"), el.Attr("type")
	switch {
	case el.Space == inspect.NSTLS:
		return nil // STARTTLS: the replay negotiates its own
	case el.Space == inspect.NSSASL:
		if el.Local == "auth" {
			x.s.Mechanism = el.Attr("mechanism")
		}
		x.authed = true
		return nil // replaced by the replay's own login
	case el.Local == "iq" && x.login < 0 && typ == "set" && child != nil && (child.Space == inspect.NSBind || child.Space == inspect.NSAuth):
		x.loginIQs[id] = child
		return nil
	case el.Local == "iq" && child != nil && (child.Space == inspect.NSAuth || child.Space == inspect.NSSession || child.Space == inspect.NSBind):
		// The legacy login's form, the legacy session (the replay's login establishes one
		// where the server asks for it), a second bind: the login's, not compared.
		x.ignored[id] = true
		return nil
	case el.Local == "iq" && (typ == "result" || typ == "error") && x.pings[id]:
		delete(x.pings, id)
		x.s.Pings++
		return nil
	}
	st := &Step{Seq: r.Seq, Time: r.Time, Raw: r.Raw, Header: r.Header, Elem: el, Sig: SigOf(el, inspect.NSClient)}
	if el.Space == inspect.NSStreams || (el.Space != inspect.NSClient && el.Space != "") {
		st.Sig.NS = el.Space
	}
	x.add(st)
	switch {
	case el.Local == "iq" && (typ == "get" || typ == "set"):
		st.Request = true
		x.waiting[id] = append(x.waiting[id], x.cur)
	case el.Local == "iq" && x.serverReqs[id]:
		st.ServerID = id
		delete(x.serverReqs, id)
	}
	if st.Phase == PreAuth && el.Local == "iq" && typ == "set" && child != nil && child.Space == inspect.NSRegister {
		st.registers = true
	}
	return nil
}

func (x *extraction) serverRecord(r *inspect.Record) error {
	if r.Kind == inspect.KindStreamClose {
		if x.cur >= 0 {
			st := x.s.Steps[x.cur]
			st.Window = append(st.Window, &Expect{Seq: r.Seq, Sig: closeSig, Raw: r.Raw})
		}
		return nil
	}
	if r.Kind != inspect.KindStanza {
		return nil
	}
	raw := r.Raw
	if r.Original() != nil {
		raw = r.Original() // as the server sent it, before a rule changed it
	}
	el, err := inspect.ParseElement(raw, r.Header)
	if err != nil {
		return nil
	}
	id, typ := el.Attr("id"), el.Attr("type")
	answer := el.Local == "iq" && el.Space == inspect.NSClient && (typ == "result" || typ == "error")
	switch {
	case el.Space == inspect.NSStreams && el.Local == "features", el.Space == inspect.NSTLS, el.Space == inspect.NSSASL:
		return nil // the login's
	case answer && x.ignored[id]:
		delete(x.ignored, id)
		return nil
	case answer && x.loginIQs[id] != nil:
		req := x.loginIQs[id]
		delete(x.loginIQs, id)
		if typ == "result" {
			return x.loggedIn(r, el, req)
		}
		return nil
	case answer && len(x.waiting[id]) > 0:
		i := x.waiting[id][0]
		if x.waiting[id] = x.waiting[id][1:]; len(x.waiting[id]) == 0 {
			delete(x.waiting, id)
		}
		st := x.s.Steps[i]
		st.Answer = &Expect{Seq: r.Seq, Sig: SigOf(el, inspect.NSClient), From: el.Attr("from"), Raw: raw, header: r.Header}
		if st.registers && typ == "result" {
			x.s.RegistersUser = true // checked against the bound user in loggedIn
		}
		return nil
	case el.Local == "iq" && typ == "get" && el.Child(inspect.NSPing, "ping") != nil:
		x.pings[id] = true
		return nil
	}
	if x.cur < 0 {
		return nil
	}
	e := &Expect{Seq: r.Seq, Sig: SigOf(el, inspect.NSClient), From: el.Attr("from"), Raw: raw, header: r.Header}
	if el.Local == "iq" && (typ == "get" || typ == "set") {
		e.ID = id
		x.serverReqs[id] = true
	}
	st := x.s.Steps[x.cur]
	st.Window = append(st.Window, e)
	return nil
}

// loggedIn notes the end of the recorded login: a bind result, or a legacy login's result.
func (x *extraction) loggedIn(r *inspect.Record, answer, req *inspect.Element) error {
	var jid string
	if req.Space == inspect.NSBind {
		if b := answer.Child(inspect.NSBind, "bind"); b != nil {
			if j := b.Child(inspect.NSBind, "jid"); j != nil {
				jid = j.Text()
			}
		}
		if res := req.Child(inspect.NSBind, "resource"); res != nil {
			x.s.Resource = res.Text()
		}
	} else {
		domain := ""
		if x.serverHdr != nil {
			domain = x.serverHdr.From
		}
		if domain == "" && x.clientHdr != nil {
			domain = x.clientHdr.To
		}
		user, res := req.Child(inspect.NSAuth, "username"), req.Child(inspect.NSAuth, "resource")
		if user != nil && res != nil {
			jid = user.Text() + "@" + domain + "/" + res.Text()
			x.s.Resource = res.Text()
		}
		x.s.Mechanism = ""
	}
	full, err := inspect.ParseJID(jid)
	if err != nil || full.Local == "" || full.Resource == "" {
		return fmt.Errorf("the recorded login gave no usable full JID (%q)", jid)
	}
	x.s.JID = full
	if x.serverHdr != nil {
		x.s.StreamID = x.serverHdr.ID
	}
	if x.s.RegistersUser {
		x.s.RegistersUser = x.registered(full.Local)
	}
	x.add(&Step{Kind: StepLogin, Seq: r.Seq, Time: r.Time})
	x.login = x.cur
	return nil
}

// registered reports whether a pre-auth registration that the server accepted was of user.
func (x *extraction) registered(user string) bool {
	for _, st := range x.s.Steps {
		if !st.registers || st.Answer == nil || st.Answer.Sig.Type != "result" {
			continue
		}
		q := st.Elem.Child(inspect.NSRegister, "query")
		if u := q.Child(inspect.NSRegister, "username"); u != nil && strings.EqualFold(u.Text(), user) {
			return true
		}
	}
	return false
}

// Accounts returns the localparts, on the recorded domain, of the accounts other than the
// user's that the recorded client addressed and that existed then (no error came from
// them), so that a fresh server can be given them before the replay.
func (s *Script) Accounts() []string {
	bounced := map[string]bool{}
	for _, st := range s.Steps {
		for _, e := range append(st.Window, st.Answer) {
			if e == nil || e.Sig.Type != "error" {
				continue
			}
			if j, err := inspect.ParseJID(e.From); err == nil {
				bounced[j.Bare().String()] = true
			}
		}
	}
	seen := map[string]bool{s.JID.Local: true}
	var out []string
	for _, st := range s.Steps {
		if st.Elem == nil {
			continue
		}
		j, err := inspect.ParseJID(st.Elem.Attr("to"))
		if err != nil || j.Local == "" || j.Domain != s.JID.Domain || seen[j.Local] || bounced[j.Bare().String()] {
			continue
		}
		seen[j.Local] = true
		out = append(out, j.Local)
	}
	return out
}
