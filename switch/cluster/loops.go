package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/stanzascope/stanzascope/inspect"
)

// onEntry takes one update of the bucket.
func (n *Node) onEntry(kve jetstream.KeyValueEntry) {
	if kve.Operation() != jetstream.KeyValuePut {
		// A delete or purge carries no value: the unbind the broadcast and the entry
		// before it said is enough, and the TTL does the rest.
		return
	}
	var e entry
	if json.Unmarshal(kve.Value(), &e) != nil {
		return
	}
	n.apply(e)
}

// watchLoop follows the bucket: the other nodes' binds, refreshes and unbinds.
func (n *Node) watchLoop(w jetstream.KeyWatcher) {
	defer n.wg.Done()
	defer w.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e != nil {
				n.onEntry(e)
			}
		}
	}
}

// inboxLoop handles what comes on the node's subject and on the broadcast, one at a time
// in arrival order: a presence change is applied before the stanzas routed after it. It
// sends the answers it collected every ackDelay, and at the end; every second it forgets
// what it no longer needs to know of the senders (once.go).
func (n *Node) inboxLoop() {
	defer n.wg.Done()
	defer n.sendAcks()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-tick.C:
			n.tick++
			n.forgetSenders(n.memory())
		case <-n.ackTimer.C:
			n.ackArmed = false
			n.sendAcks()
		case m := <-n.inbox:
			if m.Subject == n.cfg.Subject+".all" {
				var e entry
				if json.Unmarshal(m.Data, &e) == nil {
					n.apply(e)
				}
				continue
			}
			n.onNodeMsg(m)
		}
	}
}

// writeLoop writes this node's sessions into the bucket: new binds and presence changes
// as they come (n.dirty: at most one pending write per session, so nothing grows while
// NATS is away), and every session again each TTL/3 so that it does not expire.
func (n *Node) writeLoop() {
	defer n.wg.Done()
	refresh := time.NewTicker(n.cfg.TTL / 3)
	defer refresh.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.kick:
		case <-refresh.C:
			n.markAllDirty()
			n.broadcastRefresh()
		}
		n.mu.Lock()
		batch := make([]*localSess, 0, len(n.dirty))
		for l := range n.dirty {
			batch = append(batch, l)
		}
		clear(n.dirty)
		n.mu.Unlock()
		for _, l := range batch {
			if err := n.write(l); err != nil {
				if n.ctx.Err() != nil {
					return
				}
				// NATS is away or slow: written again at the next refresh or reconnect.
				continue
			}
		}
	}
}

// broadcastRefresh tells every node at once that this node's sessions live on, as the
// bucket does: a node's copy of the directory does not depend on JetStream alone. While
// the bucket has no leader (a NATS server of a JetStream cluster was lost, and a loaded
// cluster took longer than the TTL to elect another) the writes fail and the watches
// wait; the other nodes then dropped this node's sessions, their users saw them go
// unavailable, and messages for them were kept offline, with NATS itself working.
func (n *Node) broadcastRefresh() {
	n.mu.Lock()
	ls := make([]*localSess, 0, len(n.local))
	for _, l := range n.local {
		ls = append(ls, l)
	}
	n.mu.Unlock()
	for _, l := range ls {
		p := l.sess.Presence()
		n.mu.Lock()
		gone, e := l.gone || l.ended, n.entryOf(l, p)
		n.mu.Unlock()
		if !gone && n.ctx.Err() == nil {
			n.broadcast(e)
		}
	}
}

// write puts l's entry (or its unbind) into the bucket. A write never overwrites another
// session's entry except for a new bind: the newest bind owns the key.
func (n *Node) write(l *localSess) error {
	p := l.sess.Presence()
	n.mu.Lock()
	gone := l.gone
	var e entry
	if gone {
		e = entry{Op: opUnbind, Node: n.cfg.Node, JID: l.jid.String(), ID: l.id, Bound: l.bound}
	} else {
		e = n.entryOf(l, p)
	}
	n.mu.Unlock()
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.AckTimeout)
	defer cancel()
	k := key(l.jid)
	if gone {
		if l.rev == 0 {
			return nil
		}
		_, err := n.kv.Update(ctx, k, b, l.rev) // only if the key is still ours
		if isWrongRevision(err) {
			return nil
		}
		return err
	}
	if l.rev == 0 {
		l.rev, err = n.kv.Put(ctx, k, b)
		return err
	}
	rev, err := n.kv.Update(ctx, k, b, l.rev)
	if err == nil {
		l.rev = rev
		return nil
	}
	if !isWrongRevision(err) {
		return err
	}
	// Someone else wrote the key, or it expired while NATS was away.
	cur, gerr := n.kv.Get(ctx, k)
	switch {
	case errors.Is(gerr, jetstream.ErrKeyNotFound) || errors.Is(gerr, jetstream.ErrKeyDeleted):
		l.rev, err = n.kv.Put(ctx, k, b)
		return err
	case gerr != nil:
		return gerr
	}
	var other entry
	if json.Unmarshal(cur.Value(), &other) == nil && other.Op == opBind && other.ID != l.id &&
		newer(other.Bound, other.Node, l.bound, n.cfg.Node) {
		// A newer session took the JID on another node; apply (from the watch) ends
		// this one, and the key is its.
		n.apply(other)
		return nil
	}
	l.rev, err = n.kv.Put(ctx, k, b)
	return err
}

func isWrongRevision(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence
}

// markAllDirty schedules a write of every session of this node.
func (n *Node) markAllDirty() {
	n.mu.Lock()
	for _, l := range n.local {
		n.dirty[l] = struct{}{}
	}
	n.mu.Unlock()
	n.wake()
}

func (n *Node) wake() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// sweepLoop drops the other nodes' sessions that were not refreshed within the TTL (their
// node died or lost NATS), tells this node's users that they went unavailable, forgets
// old unbinds, and ends the deliveries that were not answered in time.
func (n *Node) sweepLoop() {
	defer n.wg.Done()
	every := n.cfg.TTL / 10
	if every > time.Second {
		every = time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		var expired []*remoteSess
		n.mu.Lock()
		for _, r := range n.remote {
			if now.Sub(r.seen) >= n.cfg.TTL {
				expired = append(expired, r)
			}
		}
		for _, r := range expired {
			n.dropRemote(r)
			n.expired[r.id] = now
		}
		for id, at := range n.removed {
			if now.Sub(at) > 2*n.cfg.TTL {
				delete(n.removed, id)
			}
		}
		// A session that comes back after this long is news to everyone anyway.
		for id, at := range n.expired {
			if now.Sub(at) > 20*n.cfg.TTL {
				delete(n.expired, id)
			}
		}
		n.mu.Unlock()
		for _, r := range expired {
			n.cfg.Stats.Expired.Add(1)
			n.logf("cluster: node %s: session %s of node %s expired (not refreshed for %v)", n.cfg.Node, r.jid, r.node, n.cfg.TTL)
			n.announce(r, true)
		}
		n.expirePending(now)
	}
}

// announce tells this node's sessions that a session of another node went unavailable
// (gone: its node stopped refreshing it) or is back with its last presence, as its own
// node would have told them: the account's contacts with a subscription to its presence,
// and the account's other resources.
func (n *Node) announce(r *remoteSess, gone bool) {
	n.mu.Lock()
	p := r.presence
	n.mu.Unlock()
	if !p.Available {
		return
	}
	const open = "<presence"
	if !gone && (len(p.Last) <= len(open) || string(p.Last[:len(open)]) != open) {
		return
	}
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.AckTimeout)
	defer cancel()
	items, err := n.cfg.Store.Roster(ctx, r.jid.Local)
	if err != nil {
		n.logf("cluster: roster of %s: %v", r.jid.Local, err)
	}
	targets := []inspect.JID{r.jid.Bare()}
	for _, it := range items {
		if it.Subscription == "from" || it.Subscription == "both" {
			if j, err := inspect.ParseJID(it.JID); err == nil {
				targets = append(targets, j.Bare())
			}
		}
	}
	from := r.jid.String()
	for _, t := range targets {
		n.mu.Lock()
		list := append([]*localSess(nil), n.localBy[t]...)
		n.mu.Unlock()
		for _, l := range list {
			if l.jid == r.jid || !l.sess.Presence().Available {
				continue
			}
			to := inspect.EscapeAttr(l.jid.String())
			if gone {
				l.sess.Deliver([]byte("<presence from='" + inspect.EscapeAttr(from) + "' to='" + to + "' type='unavailable'/>"))
			} else {
				l.sess.Deliver(append([]byte(open+" to='"+to+"'"), p.Last[len(open):]...))
			}
		}
	}
}

var errClosed = errors.New("cluster: node closed")

// publish sends data on subject unless the node is closing.
func (n *Node) publish(subject string, data []byte) error {
	if n.ctx.Err() != nil {
		return errClosed
	}
	return n.nc.Publish(subject, data)
}
