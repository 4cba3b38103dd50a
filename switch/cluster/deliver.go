package cluster

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/switch/store"
)

// What travels on a node's subject is the stanza's own bytes behind one short line, no
// JSON and no NATS headers, since every message between users on two nodes pays for it:
//
//	d SESSION-ID\n STANZA          a stanza for the session SESSION-ID of the node
//	k SESSION-ID COND\n TEXT       end that session with the stream error COND
//
// A stanza carries a reply subject, ACK-PREFIX.NODE.SEQ: SEQ counts the stanzas this node
// sent to NODE (1, 2, 3, ... in the order they were published), ACK-PREFIX names this run
// of this node. The receiving node does not answer each stanza: it collects what it
// handled and tells the sender every ackDelay (at once for a stanza it did not take) on
// ACK-PREFIX.NODE.ok, as ranges of SEQ taken and the SEQs not taken:
//
//	+3-17 +19-19 -18
//
// A stanza not answered within a third of AckTimeout is published again, with the same
// SEQ and reply subject, twice at most, while this node is connected to NATS and the
// session is still in its directory: NATS core delivers at most once, and loses what is
// published while the other node's subscription has not reached every NATS server yet
// (just after a failover), or on a connection that breaks. The receiving node takes a
// stanza that comes again at most once (once.go). The reply subject also gets NATS's "no
// responders" status when no server knows of a node listening on the subject: the node is
// gone, or its subscription has not reached this node's server yet; it is tried again
// too, and handed to fallback (as one not taken) after the last try. A stanza neither
// answered nor taken within AckTimeout is handed to fallback.
const (
	opDeliver = 'd'
	opKick    = 'k'

	ackOK = "ok" // last token of the subject of the collected answers

	// ackDelay is how long a node collects the answers of the stanzas it took before it
	// sends them: off the path of the message, and one NATS message for many stanzas.
	ackDelay = 10 * time.Millisecond
	// ackBatch sends the answers to one node at once when this many ranges wait.
	ackBatch = 256

	// maxRetries bounds how many times a stanza is published again; the tries are
	// AckTimeout/(maxRetries+1) apart.
	maxRetries = 2
)

// The stages of a crossing, for the benchmarks that tell where its time goes
// (export_test.go sets crossingStage; nil otherwise, and then it costs one load).
const (
	stageRouted    = iota // the sender's node read and routed the stanza: deliverRemote
	stagePublished        // it is in the NATS client's buffer: PublishRequest returned
	stageReceived         // the receiving node's inbox goroutine took it from NATS
	stageHanded           // it is in the session's outbox: Deliver returned
)

var crossingStage atomic.Pointer[func(stage int)]

// What NATS can lose, for the tests that lose it (export_test.go sets lossHook; nil
// otherwise, and then it costs one load).
const (
	lossDelivery = iota // a stanza published to another node, first or again
	lossAnswers         // the answers a node collected for a sender
)

var lossHook atomic.Pointer[func(what int, node string) bool]

// lostInTest reports whether the test hook has what node publishes now vanish.
func lostInTest(what int, node string) bool {
	f := lossHook.Load()
	return f != nil && (*f)(what, node)
}

func markStage(stage int) {
	if f := crossingStage.Load(); f != nil {
		(*f)(stage)
	}
}

// pending is a stanza sent to another node and not yet answered.
type pending struct {
	seq      uint64
	id       string // the session's
	to       inspect.JID
	stanza   []byte
	deadline time.Time // fallback, AckTimeout after the first try
	retry    time.Time // the next try, if unanswered by then
	tries    int       // tries after the first
}

// peer is what this node sent to another node and that was not answered yet (under
// Node.pmu).
type peer struct {
	subject string    // the node's subject
	reply   string    // ACK-PREFIX.NODE.: the reply subjects' start
	seq     uint64    // the last SEQ published to the node
	queue   []pending // by SEQ
}

// acks is what this node handled of one sender's stanzas and has not told it yet.
type acks struct {
	taken  [][2]uint64 // ranges of SEQ
	missed []uint64    // SEQs not taken
}

// deliverRemote publishes stanza to the node that holds r. It returns false, so that the
// switch keeps or bounces the stanza itself, when NATS is away or too many deliveries wait
// for an answer; once it returned true this node answers for the stanza (fallback).
func (n *Node) deliverRemote(r *remoteSess, stanza []byte) bool {
	st := n.cfg.Stats
	markStage(stageRouted)
	if !n.nc.IsConnected() || n.ctx.Err() != nil {
		st.Refused.Add(1)
		return false
	}
	// Under pmu from the SEQ to the queue: the stanzas reach the node in the order of
	// their SEQs, and no answer comes before its stanza is queued.
	n.pmu.Lock()
	if n.npending >= n.cfg.MaxPending || n.pbytes+len(stanza) > n.cfg.MaxPendingBytes {
		n.pmu.Unlock()
		st.Refused.Add(1)
		return false
	}
	p := n.peers[r.node]
	if p == nil {
		p = &peer{subject: n.nodeSubject(r.node), reply: n.ackPrefix() + r.node + "."}
		n.peers[r.node] = p
	}
	seq := p.seq + 1
	if err := n.publishDelivery(p, r.id, seq, stanza); err != nil {
		n.pmu.Unlock()
		st.Refused.Add(1)
		return false
	}
	markStage(stagePublished)
	p.seq = seq
	now := time.Now()
	p.queue = append(p.queue, pending{seq: seq, id: r.id, to: r.jid, stanza: stanza,
		deadline: now.Add(n.cfg.AckTimeout), retry: now.Add(n.retryEvery())})
	n.npending++
	n.pbytes += len(stanza)
	n.pmu.Unlock()
	st.Sent.Add(1)
	return true
}

// publishDelivery publishes stanza for the session id to p's node with SEQ seq (under
// pmu).
func (n *Node) publishDelivery(p *peer, id string, seq uint64, stanza []byte) error {
	// NATS copies the data into its buffer before PublishRequest returns: one buffer
	// serves every stanza.
	b := append(n.wbuf[:0], opDeliver, ' ')
	b = append(b, id...)
	b = append(b, '\n')
	b = append(b, stanza...)
	n.wbuf = b
	if lostInTest(lossDelivery, n.cfg.Node) {
		return nil
	}
	return n.nc.PublishRequest(p.subject, p.reply+strconv.FormatUint(seq, 10), b)
}

// retryEvery is how long a try waits for its answer before the next.
func (n *Node) retryEvery() time.Duration { return n.cfg.AckTimeout / (maxRetries + 1) }

// kickRemote asks r's node to end r.
func (n *Node) kickRemote(r *remoteSess, cond inspect.Cond, text string) {
	b := make([]byte, 0, 4+len(r.id)+len(cond)+len(text))
	b = append(b, opKick, ' ')
	b = append(b, r.id...)
	b = append(b, ' ')
	b = append(b, cond...)
	b = append(b, '\n')
	b = append(b, text...)
	if err := n.publish(n.nodeSubject(r.node), b); err != nil {
		// NATS is away: the bind this node published when it is back (the bucket) ends
		// the session there, since the newest bind wins.
		n.logf("cluster: node %s: could not ask node %s to end %s: %v", n.cfg.Node, r.node, r.jid, err)
	}
}

// parseNodeMsg splits a message on a node's subject: its op, the session id, the
// condition of a kick, and the rest (the stanza, or the kick's text). ok is false for
// anything else.
func parseNodeMsg(b []byte) (op byte, id, cond, rest []byte, ok bool) {
	nl := bytes.IndexByte(b, '\n')
	if nl < 3 || b[1] != ' ' {
		return 0, nil, nil, nil, false
	}
	op, id, rest = b[0], b[2:nl], b[nl+1:]
	if sp := bytes.IndexByte(id, ' '); sp >= 0 {
		id, cond = id[:sp], id[sp+1:]
	}
	switch {
	case len(id) == 0:
		return 0, nil, nil, nil, false
	case op == opDeliver && cond == nil, op == opKick && len(cond) > 0:
		return op, id, cond, rest, true
	}
	return 0, nil, nil, nil, false
}

// onNodeMsg handles a message on this node's subject (the inbox goroutine's only): a
// stanza for one of its sessions, whose answer it collects, or a request to end a
// session.
func (n *Node) onNodeMsg(m *nats.Msg) {
	op, id, cond, rest, ok := parseNodeMsg(m.Data)
	if !ok {
		return
	}
	var s *sender
	var seq uint64
	if op == opDeliver {
		if s, seq = n.senderFor(m.Reply); s != nil && !s.admit(seq, n.tick) {
			// Taken already: it came again because the answer was lost or late.
			n.cfg.Stats.Duplicates.Add(1)
			n.answer(s, seq, true)
			return
		}
	}
	n.mu.Lock()
	l := n.byID[string(id)]
	if l == nil && op == opDeliver {
		// The session ended; a newer one of this node with the same full JID takes the
		// stanza, as it would on one switch (the stanza's to is that JID).
		if j, err := inspect.ParseJID(inspect.TopAttr(rest, "to")); err == nil {
			l = n.local[j]
		}
	}
	ended := false
	if l != nil && op == opKick {
		ended = l.ended
		l.ended = true
	}
	n.mu.Unlock()
	switch op {
	case opDeliver:
		n.cfg.Stats.Received.Add(1)
		// A stale presence is dropped on purpose: nothing to keep, so it counts as taken.
		markStage(stageReceived)
		taken := n.stale(rest, m.Reply) || (l != nil && l.sess.Deliver(rest))
		markStage(stageHanded)
		if s != nil {
			if !taken {
				s.refused(seq, n.tick)
			}
			n.answer(s, seq, taken)
		}
	case opKick:
		if l != nil && !ended {
			c := inspect.Cond(cond)
			if c == inspect.CondConflict {
				n.cfg.Stats.Conflicts.Add(1)
			}
			l.sess.Kick(c, string(rest))
		}
	}
}

// senderFor returns what this node knows of the sender of a stanza with reply subject
// reply (ACK-PREFIX.NODE.SEQ), and the stanza's SEQ; nil if reply is not one (the inbox
// goroutine's only).
func (n *Node) senderFor(reply string) (*sender, uint64) {
	dot := strings.LastIndexByte(reply, '.')
	if dot < 0 {
		return nil, 0
	}
	seq, err := strconv.ParseUint(reply[dot+1:], 10, 64)
	if err != nil || seq == 0 {
		return nil, 0
	}
	prefix := reply[:dot+1]
	s := n.senders[prefix]
	if s == nil {
		if len(n.senders) >= maxSenders {
			n.dropSender()
		}
		s = newSender(seq, n.tick)
		n.senders[strings.Clone(prefix)] = s
	}
	return s, seq
}

// maxSenders bounds the senders a node remembers: the other nodes' runs (a node that
// restarts is a new sender).
const maxSenders = 4096

// forgetSenders forgets the senders idle for more than age ticks (the inbox goroutine's
// only), and in each the SEQs open for that long.
func (n *Node) forgetSenders(age uint64) {
	for prefix, s := range n.senders {
		if s.idle(n.tick, age) {
			delete(n.senders, prefix)
			continue
		}
		s.expire(n.tick, age)
	}
}

// dropSender makes room for a new sender: it forgets an idle one, or any one (the inbox
// goroutine's only). A stanza it sends again is then delivered (at least once).
func (n *Node) dropSender() {
	var victim string
	for prefix, s := range n.senders {
		if s.idle(n.tick, 0) {
			delete(n.senders, prefix)
			return
		}
		victim = prefix
	}
	n.sendAcks()
	delete(n.senders, victim)
}

// memory is how many ticks (seconds) a node remembers a SEQ not taken and an idle
// sender: twice the time a sender tries a stanza (AckTimeout).
func (n *Node) memory() uint64 { return 2*uint64((n.cfg.AckTimeout+time.Second-1)/time.Second) + 1 }

// answer collects the answer to the stanza SEQ seq of sender s (the inbox goroutine's
// only). What was not taken is told at once; what was taken, within ackDelay.
func (n *Node) answer(s *sender, seq uint64, taken bool) {
	a := &s.acks
	if !taken {
		a.missed = append(a.missed, seq)
		n.sendAcks()
		return
	}
	if k := len(a.taken); k > 0 && a.taken[k-1][1]+1 == seq {
		a.taken[k-1][1] = seq
	} else {
		a.taken = append(a.taken, [2]uint64{seq, seq})
	}
	if len(a.taken) >= ackBatch {
		n.sendAcks()
		return
	}
	if !n.ackArmed {
		n.ackArmed = true
		n.ackTimer.Reset(ackDelay)
	}
}

// sendAcks tells every sender what was collected for it (the inbox goroutine's only).
func (n *Node) sendAcks() {
	for prefix, s := range n.senders {
		a := &s.acks
		if len(a.taken) == 0 && len(a.missed) == 0 {
			continue
		}
		// Not n.publish: the answers of a closing node still go out (Close drains).
		if err := n.publishAnswers(prefix+ackOK, a); err != nil {
			// NATS is away: the sender tries the stanzas again, which are answered
			// "taken" again, or keeps them offline after AckTimeout (a message may then
			// arrive twice, never not at all).
			n.logf("cluster: node %s: could not answer for %d stanzas: %v", n.cfg.Node, countAcks(a), err)
		}
		a.taken, a.missed = a.taken[:0], a.missed[:0]
	}
}

func (n *Node) publishAnswers(subject string, a *acks) error {
	if lostInTest(lossAnswers, n.cfg.Node) {
		return nil
	}
	return n.nc.Publish(subject, formatAcks(a))
}

func countAcks(a *acks) uint64 {
	k := uint64(len(a.missed))
	for _, r := range a.taken {
		k += r[1] - r[0] + 1
	}
	return k
}

// formatAcks writes a in the answers' format: "+LO-HI" for each range taken, "-SEQ" for
// each stanza not taken.
func formatAcks(a *acks) []byte {
	b := make([]byte, 0, 24*(len(a.taken)+len(a.missed)))
	for _, r := range a.taken {
		b = append(b, '+')
		b = strconv.AppendUint(b, r[0], 10)
		b = append(b, '-')
		b = strconv.AppendUint(b, r[1], 10)
		b = append(b, ' ')
	}
	for _, s := range a.missed {
		b = append(b, '-')
		b = strconv.AppendUint(b, s, 10)
		b = append(b, ' ')
	}
	return bytes.TrimSuffix(b, []byte{' '})
}

var errAcks = errors.New("cluster: malformed answers")

// parseAcks reads what formatAcks wrote.
func parseAcks(b []byte) (*acks, error) {
	a := new(acks)
	for _, f := range bytes.Fields(b) {
		switch f[0] {
		case '+':
			lo, hi, ok := bytes.Cut(f[1:], []byte{'-'})
			l, err1 := strconv.ParseUint(string(lo), 10, 64)
			h, err2 := strconv.ParseUint(string(hi), 10, 64)
			if !ok || err1 != nil || err2 != nil || l > h {
				return nil, errAcks
			}
			a.taken = append(a.taken, [2]uint64{l, h})
		case '-':
			s, err := strconv.ParseUint(string(f[1:]), 10, 64)
			if err != nil {
				return nil, errAcks
			}
			a.missed = append(a.missed, s)
		default:
			return nil, errAcks
		}
	}
	return a, nil
}

// senderOf returns the node that sent a stanza with reply subject reply, or "".
func (n *Node) senderOf(reply string) string {
	s, ok := strings.CutPrefix(reply, n.cfg.Subject+".ack.")
	if !ok {
		return ""
	}
	node, _, _ := strings.Cut(s, ".")
	return node
}

// stale reports whether stanza is the unavailable presence of a session that was taken
// over by a newer one on another node (a login with the same full JID): the old node
// announces it when it ends the old session, which may be after the new session became
// available, and the contacts must not see the new one go away. (One switch orders the two
// itself; across nodes NATS orders them here: the new session's bind came before the
// old node heard that it must end its session.)
func (n *Node) stale(stanza []byte, reply string) bool {
	if inspect.TopName(stanza) != "presence" || inspect.TopAttr(stanza, "type") != "unavailable" {
		return false
	}
	from, err := inspect.ParseJID(inspect.TopAttr(stanza, "from"))
	if err != nil || from.Resource == "" {
		return false
	}
	sender := n.senderOf(reply)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.local[from] != nil {
		return true // taken over by a session of this node
	}
	r := n.remote[from]
	return r != nil && r.node != sender
}

// onAck takes another node's answers (ACK-PREFIX.NODE.ok), or NATS's "no responders" for
// one stanza (ACK-PREFIX.NODE.SEQ: the node is gone, or its subscription has not reached
// this node's NATS server yet). What was not taken goes to fallback, and so does a stanza
// with no responders after its last try; before, it is tried again (expirePending).
func (n *Node) onAck(m *nats.Msg) {
	tail, ok := strings.CutPrefix(m.Subject, n.ackPrefix())
	dot := strings.LastIndexByte(tail, '.')
	if !ok || dot < 0 {
		return
	}
	node := tail[:dot]
	var a *acks
	noResponders := tail[dot+1:] != ackOK
	if !noResponders {
		var err error
		if a, err = parseAcks(m.Data); err != nil {
			n.logf("cluster: node %s: from node %s: %v", n.cfg.Node, node, err)
			return
		}
	} else {
		seq, err := strconv.ParseUint(tail[dot+1:], 10, 64)
		if err != nil {
			return
		}
		a = &acks{missed: []uint64{seq}}
	}
	var failed []pending
	n.pmu.Lock()
	if p := n.peers[node]; p != nil {
		keep := p.queue[:0]
		for _, q := range p.queue {
			switch {
			case a.has(q.seq):
				n.npending--
				n.pbytes -= len(q.stanza)
			case a.misses(q.seq) && noResponders && q.tries < maxRetries:
				keep = append(keep, q)
			case a.misses(q.seq):
				n.npending--
				n.pbytes -= len(q.stanza)
				failed = append(failed, q)
			default:
				keep = append(keep, q)
			}
		}
		clear(p.queue[len(keep):])
		p.queue = keep
	}
	n.pmu.Unlock()
	for i := range failed {
		n.fallback(&failed[i])
	}
}

func (a *acks) has(seq uint64) bool {
	for _, r := range a.taken {
		if r[0] <= seq && seq <= r[1] {
			return true
		}
	}
	return false
}

func (a *acks) misses(seq uint64) bool {
	for _, s := range a.missed {
		if s == seq {
			return true
		}
	}
	return false
}

// expirePending tries again the deliveries due for it (retries) and hands the ones not
// answered by now to fallback. (The other node may still have delivered one: a message
// can then arrive twice, never not at all.)
func (n *Node) expirePending(now time.Time) {
	var late []pending
	var due []resend
	n.pmu.Lock()
	for node, p := range n.peers {
		keep := p.queue[:0]
		for _, q := range p.queue {
			switch {
			case now.After(q.deadline):
				late = append(late, q)
				n.npending--
				n.pbytes -= len(q.stanza)
				continue
			case q.tries < maxRetries && !now.Before(q.retry):
				due = append(due, resend{node: node, seq: q.seq, id: q.id, to: q.to})
			}
			keep = append(keep, q)
		}
		clear(p.queue[len(keep):])
		p.queue = keep
	}
	n.pmu.Unlock()
	for i := range late {
		n.fallback(&late[i])
	}
	n.sendAgain(due, now)
}

// resend is a stanza due for another try: its node, SEQ and session.
type resend struct {
	node string
	seq  uint64
	id   string
	to   inspect.JID
}

// sendAgain publishes the stanzas of due again, unless they were answered meanwhile, NATS
// is away (a publish would fail: they wait for their answer or fallback), or their
// session left the directory (nothing to deliver to: the same).
func (n *Node) sendAgain(due []resend, now time.Time) {
	if len(due) == 0 || !n.nc.IsConnected() {
		return
	}
	n.mu.Lock()
	live := due[:0]
	for _, q := range due {
		if r := n.remote[q.to]; r != nil && r.id == q.id {
			live = append(live, q)
		}
	}
	n.mu.Unlock()
	n.pmu.Lock()
	defer n.pmu.Unlock()
	for _, d := range live {
		p := n.peers[d.node]
		if p == nil {
			continue
		}
		i, ok := slices.BinarySearchFunc(p.queue, d.seq, func(q pending, seq uint64) int { return cmp.Compare(q.seq, seq) })
		if !ok {
			continue // answered meanwhile
		}
		q := &p.queue[i]
		q.tries++
		q.retry = now.Add(n.retryEvery())
		if err := n.publishDelivery(p, q.id, q.seq, q.stanza); err != nil {
			n.logf("cluster: node %s: could not send a stanza for %s to node %s again: %v", n.cfg.Node, q.to, d.node, err)
			continue
		}
		n.cfg.Stats.Retried.Add(1)
	}
}

// fallback does for a stanza another node did not take what the switch does for a
// resource that is gone (RFC 6121 section 8.5.3.2). With SetReroute, the switch's own
// rules; without, a chat or normal message is kept for the account, an iq request is
// answered with service-unavailable, anything else is dropped.
func (n *Node) fallback(p *pending) {
	st := n.cfg.Stats
	st.Failed.Add(1)
	if f := n.reroute.Load(); f != nil {
		// The switch does it (Server.Reroute), as for its own session that ended with
		// stanzas unwritten: a message goes to the account's other available resources,
		// on any node, or offline. The session is not live for this node first, so the
		// stanza does not go back to it: its unbind or its expiry follows (the expiry
		// tells this node's users it went unavailable), or a refresh if it lives on.
		n.mu.Lock()
		if r := n.remote[p.to]; r != nil && r.id == p.id {
			r.failed = true
		}
		n.mu.Unlock()
		if kept, _ := (*f)(p.to, [][]byte{p.stanza}); kept > 0 {
			st.KeptOffline.Add(uint64(kept))
		}
		return
	}
	from := inspect.TopAttr(p.stanza, "from")
	switch inspect.TopName(p.stanza) {
	case "message":
		switch inspect.TopAttr(p.stanza, "type") {
		case "", "normal", "chat":
		default:
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), n.cfg.AckTimeout)
		defer cancel()
		err := n.cfg.Store.AddOffline(ctx, p.to.Local, store.OfflineMessage{Stanza: p.stanza, From: from, Stamp: time.Now()})
		if err == nil {
			st.KeptOffline.Add(1)
			if n.cfg.SwitchStats != nil {
				n.cfg.SwitchStats.OfflineStored.Add(1)
			}
			return
		}
		// Neither delivered nor kept: the sender hears of it, as from the switch.
		e := inspect.NewStanzaError(inspect.CondInternalServerError).WithText("the message could not be kept")
		if errors.Is(err, store.ErrFull) {
			e = inspect.NewStanzaError(inspect.CondResourceConstraint).WithText("offline storage full")
		}
		if !n.bounce(p, "message", e) {
			st.Lost.Add(1)
		}
		n.logf("cluster: node %s: message for %s neither delivered nor kept: %v", n.cfg.Node, p.to, err)
	case "iq":
		switch inspect.TopAttr(p.stanza, "type") {
		case "get", "set":
			n.bounce(p, "iq", inspect.NewStanzaError(inspect.CondServiceUnavailable))
		}
	}
}

// bounce sends an error reply for p's stanza to its sender, if it can be found.
func (n *Node) bounce(p *pending, name string, e inspect.StanzaError) bool {
	from, err := inspect.ParseJID(inspect.TopAttr(p.stanza, "from"))
	if err != nil {
		return false
	}
	s := n.Lookup(from)
	if s == nil {
		return false
	}
	return s.Deliver(inspect.AppendErrorReply(nil, name, inspect.TopAttr(p.stanza, "id"), p.to.String(), from.String(), nil, e))
}
