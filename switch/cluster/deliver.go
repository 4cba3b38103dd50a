package cluster

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/switch/store"
)

// Headers of the messages on a node's subject.
const (
	hdrOp   = "Stanzascope-Op" // opDeliver or opKick
	hdrTo   = "Stanzascope-To" // the full JID of the session
	hdrSess = "Stanzascope-Session"
	hdrCond = "Stanzascope-Cond"
	hdrText = "Stanzascope-Text"
	hdrNode = "Stanzascope-Node" // the node that sent it

	opDeliver = "deliver"
	opKick    = "kick"

	ackTaken    = "1"
	ackNotTaken = "0"
)

// pending is a stanza sent to another node and not yet answered.
type pending struct {
	to       inspect.JID
	stanza   []byte
	deadline time.Time
}

// deliverRemote publishes stanza to the node that holds r. It returns false, so that the
// switch keeps or bounces the stanza itself, when NATS is away or too many deliveries wait
// for an answer; once it returned true this node answers for the stanza (fallback).
func (n *Node) deliverRemote(r *remoteSess, stanza []byte) bool {
	st := n.cfg.Stats
	if !n.nc.IsConnected() {
		st.Refused.Add(1)
		return false
	}
	n.pmu.Lock()
	if len(n.pending) >= n.cfg.MaxPending {
		n.pmu.Unlock()
		st.Refused.Add(1)
		return false
	}
	n.pseq++
	seq := n.pseq
	n.pending[seq] = &pending{to: r.jid, stanza: stanza, deadline: time.Now().Add(n.cfg.AckTimeout)}
	n.pmu.Unlock()
	m := nats.NewMsg(n.nodeSubject(r.node))
	m.Reply = n.ackPrefix() + strconv.FormatUint(seq, 10)
	m.Header.Set(hdrOp, opDeliver)
	m.Header.Set(hdrTo, r.jid.String())
	m.Header.Set(hdrSess, r.id)
	m.Header.Set(hdrNode, n.cfg.Node)
	m.Data = stanza
	if err := n.publish(m); err != nil {
		n.pmu.Lock()
		delete(n.pending, seq)
		n.pmu.Unlock()
		st.Refused.Add(1)
		return false
	}
	st.Sent.Add(1)
	return true
}

// kickRemote asks r's node to end r.
func (n *Node) kickRemote(r *remoteSess, cond inspect.Cond, text string) {
	m := nats.NewMsg(n.nodeSubject(r.node))
	m.Header.Set(hdrOp, opKick)
	m.Header.Set(hdrTo, r.jid.String())
	m.Header.Set(hdrSess, r.id)
	m.Header.Set(hdrCond, string(cond))
	m.Header.Set(hdrText, text)
	if err := n.publish(m); err != nil {
		// NATS is away: the bind this node published when it is back (the bucket) ends
		// the session there, since the newest bind wins.
		n.logf("cluster: node %s: could not ask node %s to end %s: %v", n.cfg.Node, r.node, r.jid, err)
	}
}

// onNodeMsg handles a message on this node's subject: a stanza for one of its sessions,
// answered with whether the session took it, or a request to end a session.
func (n *Node) onNodeMsg(m *nats.Msg) {
	j, err := inspect.ParseJID(m.Header.Get(hdrTo))
	if err != nil {
		return
	}
	n.mu.Lock()
	l := n.local[j]
	ended := false
	if l != nil && m.Header.Get(hdrOp) == opKick && l.id == m.Header.Get(hdrSess) {
		ended = l.ended
		l.ended = true
	}
	n.mu.Unlock()
	switch m.Header.Get(hdrOp) {
	case opDeliver:
		n.cfg.Stats.Received.Add(1)
		ack := ackNotTaken
		switch {
		case n.stale(m):
			ack = ackTaken // dropped on purpose: nothing to keep
		case l != nil && l.sess.Deliver(m.Data):
			ack = ackTaken
		}
		if m.Reply != "" {
			n.nc.Publish(m.Reply, []byte(ack))
		}
	case opKick:
		if l != nil && l.id == m.Header.Get(hdrSess) && !ended {
			cond := inspect.Cond(m.Header.Get(hdrCond))
			if cond == inspect.CondConflict {
				n.cfg.Stats.Conflicts.Add(1)
			}
			l.sess.Kick(cond, m.Header.Get(hdrText))
		}
	}
}

// stale reports whether m is the unavailable presence of a session that was taken over
// by a newer one on another node (a login with the same full JID): the old node
// announces it when it ends the old session, which may be after the new session became
// available, and the contacts must not see the new one go away. (One switch orders the two
// itself; across nodes NATS orders them here: the new session's bind came before the
// old node heard that it must end its session.)
func (n *Node) stale(m *nats.Msg) bool {
	if inspect.TopName(m.Data) != "presence" || inspect.TopAttr(m.Data, "type") != "unavailable" {
		return false
	}
	from, err := inspect.ParseJID(inspect.TopAttr(m.Data, "from"))
	if err != nil || from.Resource == "" {
		return false
	}
	sender := m.Header.Get(hdrNode)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.local[from] != nil {
		return true // taken over by a session of this node
	}
	r := n.remote[from]
	return r != nil && r.node != sender
}

// onAck takes another node's answer to a delivery. An answer other than "taken" (the
// session ended; NATS's "no responders" status when the node is gone) hands the stanza to
// fallback.
func (n *Node) onAck(m *nats.Msg) {
	seq, err := strconv.ParseUint(strings.TrimPrefix(m.Subject, n.ackPrefix()), 10, 64)
	if err != nil {
		return
	}
	n.pmu.Lock()
	p := n.pending[seq]
	delete(n.pending, seq)
	n.pmu.Unlock()
	if p == nil {
		return // answered after its deadline: fallback already had it
	}
	if string(m.Data) != ackTaken {
		n.fallback(p)
	}
}

// expirePending hands the deliveries not answered by now to fallback. (The other node may
// still have delivered one: a message can then arrive twice, never not at all.)
func (n *Node) expirePending(now time.Time) {
	var late []*pending
	n.pmu.Lock()
	for seq, p := range n.pending {
		if now.After(p.deadline) {
			late = append(late, p)
			delete(n.pending, seq)
		}
	}
	n.pmu.Unlock()
	for _, p := range late {
		n.fallback(p)
	}
}

// fallback does for a stanza another node did not take what the switch does for a
// resource that is gone (RFC 6121 section 8.5.3.2): a chat or normal message is kept for
// the account, an iq request is answered with service-unavailable, anything else is
// dropped.
func (n *Node) fallback(p *pending) {
	st := n.cfg.Stats
	st.Failed.Add(1)
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
