package server

import (
	"sync"

	"github.com/stanzascope/stanzascope/inspect"
)

// Session is what the directory knows of one bound resource: enough to deliver to it, to
// read its presence and to end it. A multi-node switch implements it for sessions held by
// another node (Deliver then publishes on a message bus).
type Session interface {
	JID() inspect.JID
	// Deliver hands one stanza (already addressed and stamped) to the session for its
	// client. It only enqueues: it never blocks on the client or the network and never
	// waits for the stanza to be written. It returns true when the session accepted the
	// stanza; from then on the session answers for it (a local session writes it, or, if
	// it ends first, keeps routed messages for the account or bounces them as the router
	// would). It returns false when the session does not take it (it is ending, or its
	// outbox has no room, which ends it); the caller then treats the stanza as it would
	// for a resource that is not bound (RFC 6121 section 8.5.3.2: store or bounce).
	Deliver(stanza []byte) bool
	// Presence returns the resource's presence state.
	Presence() PresenceState
	// Kick ends the session with the stream error condition cond.
	Kick(cond inspect.Cond, text string)
}

// PresenceState is the presence of one resource.
type PresenceState struct {
	Available bool
	Priority  int
	Last      []byte // the last available presence broadcast, from stamped, no to
	Stamp     int64  // when Last was received, Unix nanoseconds
	Legacy    bool   // the session is on a pre-1.0 stream (no self-presence echo)
	// Interested: the session asked for the roster, so it gets roster pushes (an
	// "interested resource", RFC 6121 section 2.2), available or not.
	Interested bool
}

// Directory finds bound sessions by JID: the local map (NewLocalDirectory, the default), or
// a directory shared by several switches (Config.Directory). Every implementation passes
// the conformance suite in switch/server/dirtest.
//
// What it returns are snapshots: a Session found stays usable after it is unbound or
// replaced (Deliver then returns false), and the slice Resources fills is the caller's,
// unchanged by later binds. A session bound through a Directory is visible to that
// Directory's Lookup and Resources as soon as Bind returns; a shared directory may show
// other nodes' sessions later. Sessions are compared with ==, so a Session must be a
// comparable value (a pointer) that stays the same for the whole session.
type Directory interface {
	// Bind registers s under its full JID and returns the session it replaced, or nil.
	Bind(s Session) (replaced Session)
	// Unbind removes s if it is still the one bound under its JID.
	Unbind(s Session)
	// Lookup returns the session bound to the full JID, or nil.
	Lookup(full inspect.JID) Session
	// Resources appends the sessions of the account bare (the bare JID of what is given)
	// to dst and returns it.
	Resources(dst []Session, bare inspect.JID) []Session
	// Len returns the number of bound sessions.
	Len() int
}

// PresenceWatcher is implemented by a Directory that must hear when the presence of a
// session bound through it changes (a directory shared by several nodes tells the others,
// whose sessions read it through their copy of the Session). The server calls
// PresenceChanged after the session's state changed and before the presence is delivered
// to anyone, so a directory that publishes it in order with its deliveries lets no node
// see the presence stanza before the state. It must not block.
type PresenceWatcher interface {
	PresenceChanged(s Session)
}

// NewLocalDirectory returns the in-process Directory: a map of this process's sessions.
// A shared directory can keep one for the sessions of its own node.
func NewLocalDirectory() Directory { return newLocalDirectory() }

// localDirectory is the in-process Directory. Most accounts have one session, so sessions
// are kept in a map by full JID plus a small slice per account, not a map per account.
type localDirectory struct {
	mu    sync.RWMutex
	full  map[inspect.JID]Session   // full JID -> session
	users map[inspect.JID][]Session // bare JID -> its sessions
}

func newLocalDirectory() *localDirectory {
	return &localDirectory{full: make(map[inspect.JID]Session), users: make(map[inspect.JID][]Session)}
}

func (d *localDirectory) Bind(s Session) Session {
	j := s.JID()
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.full[j]
	d.full[j] = s
	list := d.users[j.Bare()]
	for i, o := range list {
		if o == old && old != nil {
			list[i] = s
			return old
		}
	}
	d.users[j.Bare()] = append(list, s)
	return old
}

func (d *localDirectory) Unbind(s Session) {
	j := s.JID()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.full[j] != s {
		return
	}
	delete(d.full, j)
	list := d.users[j.Bare()]
	for i, o := range list {
		if o == s {
			list[i] = list[len(list)-1]
			list[len(list)-1] = nil
			list = list[:len(list)-1]
			break
		}
	}
	if len(list) == 0 {
		delete(d.users, j.Bare())
	} else {
		d.users[j.Bare()] = list
	}
}

func (d *localDirectory) Lookup(full inspect.JID) Session {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.full[full]
}

func (d *localDirectory) Resources(dst []Session, bare inspect.JID) []Session {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return append(dst, d.users[bare.Bare()]...)
}

func (d *localDirectory) Len() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return len(d.full)
}
