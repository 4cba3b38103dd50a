package cluster

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/switch/server"
)

// localSess is a session this node holds.
type localSess struct {
	sess  server.Session
	jid   inspect.JID
	id    string
	bound int64  // when it was bound, Unix nanoseconds: the newest of two binds wins
	ver   uint64 // counts its presence changes (under Node.mu)
	gone  bool   // unbound (under Node.mu)
	ended bool   // ended by a newer session on another node (under Node.mu)
	rev   uint64 // the bucket revision of its last write (the writer's goroutine only)
}

// remoteSess is another node's session as this node sees it: the server.Session the
// switch delivers to, by publishing on that node's subject.
type remoteSess struct {
	n     *Node
	jid   inspect.JID
	node  string
	id    string
	bound int64
	// Under Node.mu:
	ver      uint64
	presence server.PresenceState
	seen     time.Time // last news of it: it expires TTL after
	failed   bool      // a stanza sent to it was not taken: not live until news of it
}

// JID returns the session's full JID.
func (r *remoteSess) JID() inspect.JID { return r.jid }

// Deliver publishes the stanza to the node that holds the session (deliver.go).
func (r *remoteSess) Deliver(stanza []byte) bool { return r.n.deliverRemote(r, stanza) }

// Presence returns the presence the node last published for the session.
func (r *remoteSess) Presence() server.PresenceState {
	r.n.mu.Lock()
	defer r.n.mu.Unlock()
	return r.presence
}

// Kick asks the node that holds the session to end it.
func (r *remoteSess) Kick(cond inspect.Cond, text string) { r.n.kickRemote(r, cond, text) }

// entry is what the bucket and the broadcast say of a session.
type entry struct {
	Op     string `json:"op"` // opBind (also a presence change) or opUnbind
	Node   string `json:"node"`
	JID    string `json:"jid"`
	ID     string `json:"id"`
	Bound  int64  `json:"bound"`
	Ver    uint64 `json:"ver"`
	Avail  bool   `json:"avail,omitempty"`
	Prio   int    `json:"prio,omitempty"`
	Last   []byte `json:"last,omitempty"`
	Stamp  int64  `json:"stamp,omitempty"`
	Legacy bool   `json:"legacy,omitempty"`
	Inter  bool   `json:"interested,omitempty"` // asked for the roster: gets roster pushes
}

const (
	opBind   = "bind"
	opUnbind = "unbind"
)

// key is the bucket key of a full JID (keys allow few characters; JIDs may hold any).
func key(j inspect.JID) string { return base64.RawURLEncoding.EncodeToString([]byte(j.String())) }

// newer reports whether a session bound at bound on node beats one bound at obound on
// onode: the later bind, and for the same instant the greater node name.
func newer(bound int64, node string, obound int64, onode string) bool {
	if bound != obound {
		return bound > obound
	}
	return node > onode
}

// Bind makes s this node's session of its full JID and tells the other nodes. It returns
// the session it replaced: this node's, or another node's (whose Kick ends it there).
func (n *Node) Bind(s server.Session) server.Session {
	j := s.JID()
	p := s.Presence()
	n.mu.Lock()
	n.seq++
	l := &localSess{sess: s, jid: j, id: n.cfg.Node + "." + n.boot + "." + strconv.FormatUint(n.seq, 10), bound: time.Now().UnixNano(), ver: 1}
	var replaced server.Session
	if old := n.local[j]; old != nil {
		replaced = old.sess
		old.gone = true
		n.dropLocal(old)
	} else if r := n.remote[j]; r != nil && n.live(r) {
		replaced = r
	}
	// Never older than what another node bound under this JID: the newest bind wins
	// everywhere, even with clocks a little apart.
	if r := n.remote[j]; r != nil && r.bound >= l.bound {
		l.bound = r.bound + 1
	}
	n.local[j] = l
	n.byID[l.id] = l
	n.localBy[j.Bare()] = append(n.localBy[j.Bare()], l)
	e := n.entryOf(l, p)
	n.dirty[l] = struct{}{}
	n.mu.Unlock()
	n.broadcast(e)
	n.wake()
	return replaced
}

// Unbind removes s if it is still this node's session of its JID, and tells the others.
func (n *Node) Unbind(s server.Session) {
	j := s.JID()
	n.mu.Lock()
	l := n.local[j]
	if l == nil || l.sess != s {
		n.mu.Unlock()
		return
	}
	l.gone = true
	n.dropLocal(l)
	n.dirty[l] = struct{}{}
	e := entry{Op: opUnbind, Node: n.cfg.Node, JID: j.String(), ID: l.id, Bound: l.bound}
	n.mu.Unlock()
	n.broadcast(e)
	n.wake()
}

// dropLocal removes l from the maps (under n.mu).
func (n *Node) dropLocal(l *localSess) {
	if n.local[l.jid] == l {
		delete(n.local, l.jid)
	}
	delete(n.byID, l.id)
	bare := l.jid.Bare()
	list := n.localBy[bare]
	for i, o := range list {
		if o == l {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(n.localBy, bare)
	} else {
		n.localBy[bare] = list
	}
}

// Lookup returns the session of the full JID: this node's, or a live one of another node.
func (n *Node) Lookup(full inspect.JID) server.Session {
	n.mu.Lock()
	defer n.mu.Unlock()
	if l := n.local[full]; l != nil {
		return l.sess
	}
	if r := n.remote[full]; r != nil && n.live(r) {
		return r
	}
	return nil
}

// Resources appends the sessions of the account (this node's and the live ones of the
// others) to dst.
func (n *Node) Resources(dst []server.Session, bare inspect.JID) []server.Session {
	bare = bare.Bare()
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, l := range n.localBy[bare] {
		dst = append(dst, l.sess)
	}
	for _, r := range n.remoteBy[bare] {
		if n.local[r.jid] == nil && n.live(r) {
			dst = append(dst, r)
		}
	}
	return dst
}

// Len returns the number of sessions this node holds (each node counts its own, so the
// counts of the nodes add up).
func (n *Node) Len() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.local)
}

// PresenceChanged publishes the new presence of one of this node's sessions.
func (n *Node) PresenceChanged(s server.Session) {
	p := s.Presence()
	n.mu.Lock()
	l := n.local[s.JID()]
	if l == nil || l.sess != s {
		n.mu.Unlock()
		return
	}
	l.ver++
	e := n.entryOf(l, p)
	n.dirty[l] = struct{}{}
	n.mu.Unlock()
	n.broadcast(e)
	n.wake()
}

// entryOf describes l with presence p (under n.mu).
func (n *Node) entryOf(l *localSess, p server.PresenceState) entry {
	return entry{Op: opBind, Node: n.cfg.Node, JID: l.jid.String(), ID: l.id, Bound: l.bound, Ver: l.ver,
		Avail: p.Available, Prio: p.Priority, Last: p.Last, Stamp: p.Stamp, Legacy: p.Legacy, Inter: p.Interested}
}

// live reports whether another node's session is still refreshed (under n.mu).
func (n *Node) live(r *remoteSess) bool { return !r.failed && time.Since(r.seen) < n.cfg.TTL }

// broadcast tells every node at once (the bucket follows, from the writer).
func (n *Node) broadcast(e entry) {
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	if err := n.nc.Publish(n.cfg.Subject+".all", b); err != nil {
		// NATS is away: the bucket gets it when it is back (the writer retries).
		return
	}
}

// apply takes news of a session from the bucket or the broadcast.
func (n *Node) apply(e entry) {
	if e.Node == n.cfg.Node {
		return // this node's own sessions are in n.local
	}
	j, err := inspect.ParseJID(e.JID)
	if err != nil || j.Resource == "" {
		return
	}
	var kick server.Session
	var back *remoteSess
	n.mu.Lock()
	switch e.Op {
	case opUnbind:
		if r := n.remote[j]; r != nil && r.id == e.ID {
			n.dropRemote(r)
		}
		n.removed[e.ID] = time.Now()
	case opBind:
		if _, gone := n.removed[e.ID]; gone {
			break
		}
		r := n.remote[j]
		switch {
		case r != nil && r.id == e.ID:
			if e.Ver >= r.ver {
				r.ver = e.Ver
				r.presence = presenceOf(e)
			}
			r.seen = time.Now()
			r.failed = false
		case r == nil || newer(e.Bound, e.Node, r.bound, r.node):
			if r != nil {
				n.dropRemote(r)
			}
			r = &remoteSess{n: n, jid: j, node: e.Node, id: e.ID, bound: e.Bound, ver: e.Ver, presence: presenceOf(e), seen: time.Now()}
			n.remote[j] = r
			n.remoteBy[j.Bare()] = append(n.remoteBy[j.Bare()], r)
			n.cfg.Stats.RemoteSessions.Add(1)
			if _, ok := n.expired[e.ID]; ok {
				// It expired here while its node or this one was cut off from NATS, and
				// this node's users were told it went unavailable: tell them it is back.
				delete(n.expired, e.ID)
				back = r
			}
		default:
			// An older session than the one known: its node ends it.
		}
		// Two nodes bound the same full JID: the newer session wins on every node.
		if l := n.local[j]; l != nil && !l.ended && newer(e.Bound, e.Node, l.bound, n.cfg.Node) {
			l.ended = true
			kick = l.sess
		}
	}
	n.mu.Unlock()
	if back != nil {
		go n.announce(back, false)
	}
	if kick != nil {
		n.cfg.Stats.Conflicts.Add(1)
		kick.Kick(inspect.CondConflict, "replaced by a new session with the same resource")
	}
}

// dropRemote removes r from the maps (under n.mu).
func (n *Node) dropRemote(r *remoteSess) {
	if n.remote[r.jid] != r {
		return
	}
	delete(n.remote, r.jid)
	bare := r.jid.Bare()
	list := n.remoteBy[bare]
	for i, o := range list {
		if o == r {
			list = append(list[:i:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(n.remoteBy, bare)
	} else {
		n.remoteBy[bare] = list
	}
	n.cfg.Stats.RemoteSessions.Add(-1)
}

func presenceOf(e entry) server.PresenceState {
	return server.PresenceState{Available: e.Avail, Priority: e.Prio, Last: e.Last, Stamp: e.Stamp, Legacy: e.Legacy, Interested: e.Inter}
}
