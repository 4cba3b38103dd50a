// Package cluster lets several switches (switch/server) share their users: a
// server.Directory whose nodes find each other's sessions and route stanzas to them over
// NATS (https://nats.io).
//
// Each node writes the sessions it holds into a NATS JetStream key-value bucket whose keys
// expire after a time-to-live (Config.TTL) unless the node refreshes them, and watches the
// bucket for the other nodes' sessions; so a node that dies (kill -9, a lost machine) has
// its sessions vanish from the others within the TTL, and nothing else has to notice. (The
// refreshes are also broadcast, so that a bucket without a leader for a while does not
// make live sessions expire.) Binds,
// unbinds and presence changes are also published at once to every node on a broadcast
// subject, in order with the stanzas a node routes (one NATS connection, one delivery
// channel per node), so that no node sees a presence stanza before the state it announces.
//
// A stanza for a session held by another node is published on that node's subject with a
// reply subject; the node answers whether its session took it. A stanza not answered in
// time, or answered by NATS with "no responders" (NATS core may lose a message, e.g. just
// after a failover), is published again, and the receiving node takes it at most once. A
// message that was not taken (the session ended meanwhile, the node is gone, or no answer
// came in time) is kept in the shared store as an offline message, as for a user who is
// offline; an iq request is answered with service-unavailable.
//
// When NATS is unreachable a node keeps serving its own sessions: the other nodes' sessions
// expire from its view after the TTL (its users see them go unavailable), stanzas for them
// are kept offline or bounced, nothing is queued for NATS, and the node logs it and counts
// it in Stats. When NATS is back the node writes its sessions again.
package cluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/switch/server"
	"github.com/stanzascope/stanzascope/switch/store"
)

// Config configures a Node.
type Config struct {
	URL  string // NATS server URL(s), comma separated: nats://127.0.0.1:4222
	Node string // this node's name, unique in the cluster: letters, digits, '-' and '_'
	// Store is the switch's store, shared by the nodes (PostgreSQL): messages that could
	// not be handed to another node are kept there, and the rosters of a vanished node's
	// users say whom to tell that they went unavailable.
	Store store.Store
	// TTL is how long the other nodes keep a session that its node stopped refreshing
	// (default DefaultTTL). A node refreshes its sessions every TTL/3.
	TTL time.Duration
	// Bucket is the JetStream key-value bucket of the session directory (default
	// "stanzascope_sessions"); Subject the prefix of the NATS subjects (default
	// "stanzascope"). Nodes of one cluster use the same.
	Bucket, Subject string
	// Replicas is how many NATS servers of a NATS cluster keep the session bucket (default
	// 1, at most 5, as JetStream allows): with 3, the directory survives the loss of one
	// NATS server. Every node of the cluster must give the same: each sets it when it
	// starts. More than 1 needs a NATS cluster with JetStream on at least that many servers.
	Replicas int
	// AckTimeout is how long a node waits for another to say whether its session took a
	// stanza before it keeps the stanza offline (default 5 s).
	AckTimeout time.Duration
	// MaxPending and MaxPendingBytes bound the stanzas sent to other nodes and not yet
	// answered (each is held until its answer, for fallback): beyond either a delivery is
	// refused, and the switch keeps the message offline (defaults 100,000 stanzas and
	// 64 MiB). The answers come within about 10 ms; the bound is for a node that stopped
	// answering, and must not be reached by a busy one (10,000 was, on a loaded machine).
	MaxPending      int
	MaxPendingBytes int
	// Logf receives what an operator must know (NATS lost and back, sessions expired).
	Logf func(format string, args ...any)
	// Stats, if set, is where the node counts; nil keeps them private.
	Stats *Stats
	// SwitchStats, if set, is the switch's Stats: messages this node keeps offline for
	// another node's user are counted in its OfflineStored, like the switch's own.
	SwitchStats *server.Stats
}

// Defaults.
const (
	DefaultTTL             = 15 * time.Second
	DefaultAckTimeout      = 5 * time.Second
	DefaultMaxPending      = 100000
	DefaultMaxPendingBytes = 64 << 20
	MaxReplicas            = 5 // JetStream's limit on a stream's replicas
	defaultBucket          = "stanzascope_sessions"
	defaultSubject         = "stanzascope"
)

// Stats counts what an operator of a cluster node watches. Every field is safe for
// concurrent use; the node only adds to them.
type Stats struct {
	Connected      atomic.Int64  // 1 while the node is connected to NATS, else 0
	Disconnects    atomic.Uint64 // times the node lost NATS
	RemoteSessions atomic.Int64  // other nodes' sessions this node sees
	Sent           atomic.Uint64 // stanzas sent to other nodes
	Received       atomic.Uint64 // stanzas received from other nodes for this node's sessions
	Refused        atomic.Uint64 // stanzas for other nodes not sent (NATS down, too many pending): the switch kept or bounced them
	Retried        atomic.Uint64 // stanzas sent again: the other node did not answer in time, or NATS said no responders
	Duplicates     atomic.Uint64 // stanzas received again that this node had taken already: answered, not delivered twice
	Failed         atomic.Uint64 // stanzas sent that the other node did not take (gone, session ended, no answer)
	KeptOffline    atomic.Uint64 // of those, messages kept in the store (or, with SetReroute, delivered to the account's other resources)
	Lost           atomic.Uint64 // messages that could be neither delivered nor kept (store failed)
	Expired        atomic.Uint64 // other nodes' sessions dropped because their node stopped refreshing them
	Conflicts      atomic.Uint64 // this node's sessions replaced by a newer one on another node
}

var nodeName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Node is one switch's membership in a cluster: a server.Directory (give it as the
// switch's Config.Directory) and a server.PresenceWatcher. Open it with Open, end it with
// Close after the switch stopped.
type Node struct {
	cfg  Config
	nc   *nats.Conn
	kv   jetstream.KeyValue
	boot string // this run of the node: session ids are unique across restarts

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	inbox  chan *nats.Msg // the node's subject and the broadcast, in arrival order

	mu       sync.Mutex
	seq      uint64
	local    map[inspect.JID]*localSess
	localBy  map[inspect.JID][]*localSess // bare JID -> sessions
	remote   map[inspect.JID]*remoteSess
	remoteBy map[inspect.JID][]*remoteSess
	removed  map[string]time.Time // ids of sessions that left, so late news does not revive them
	expired  map[string]time.Time // ids of sessions dropped for want of refresh: if they come back, say so
	dirty    map[*localSess]struct{}
	kick     chan struct{} // wakes the writer

	byID map[string]*localSess // this node's sessions by session id (under mu)

	pmu      sync.Mutex
	peers    map[string]*peer // by node name: what was sent there and not answered
	npending int              // stanzas sent to other nodes and not answered
	pbytes   int              // their bytes
	wbuf     []byte           // the message being published

	reroute atomic.Pointer[func(owner inspect.JID, lost [][]byte) (kept, bounced int)]

	// The inbox goroutine's only: answers to collect and send, and which stanzas were
	// taken (once.go), by the sender's reply subjects' start; tick counts its seconds.
	senders  map[string]*sender
	ackTimer *time.Timer
	ackArmed bool
	tick     uint64
}

// Open connects to NATS, creates the session bucket if it is missing, loads the sessions
// the other nodes hold and starts the node's goroutines. NATS must be reachable at start;
// later outages are survived (see the package documentation).
func Open(ctx context.Context, cfg Config) (*Node, error) {
	if !nodeName.MatchString(cfg.Node) {
		return nil, fmt.Errorf("cluster: node name %q: use 1 to 64 letters, digits, '-' or '_'", cfg.Node)
	}
	if cfg.Store == nil {
		return nil, errors.New("cluster: Config.Store is required")
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.TTL < time.Second {
		return nil, fmt.Errorf("cluster: TTL %v is below 1s", cfg.TTL)
	}
	if cfg.Replicas == 0 {
		cfg.Replicas = 1
	}
	if cfg.Replicas < 1 || cfg.Replicas > MaxReplicas {
		return nil, fmt.Errorf("cluster: %d replicas of the session bucket: give 1 to %d", cfg.Replicas, MaxReplicas)
	}
	if cfg.Bucket == "" {
		cfg.Bucket = defaultBucket
	}
	if cfg.Subject == "" {
		cfg.Subject = defaultSubject
	}
	if cfg.AckTimeout <= 0 {
		cfg.AckTimeout = DefaultAckTimeout
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.MaxPendingBytes <= 0 {
		cfg.MaxPendingBytes = DefaultMaxPendingBytes
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if cfg.Stats == nil {
		cfg.Stats = new(Stats)
	}
	var b [4]byte
	rand.Read(b[:])
	n := &Node{
		cfg:      cfg,
		boot:     hex.EncodeToString(b[:]),
		inbox:    make(chan *nats.Msg, 65536),
		local:    make(map[inspect.JID]*localSess),
		localBy:  make(map[inspect.JID][]*localSess),
		remote:   make(map[inspect.JID]*remoteSess),
		remoteBy: make(map[inspect.JID][]*remoteSess),
		removed:  make(map[string]time.Time),
		expired:  make(map[string]time.Time),
		dirty:    make(map[*localSess]struct{}),
		kick:     make(chan struct{}, 1),
		byID:     make(map[string]*localSess),
		peers:    make(map[string]*peer),
		senders:  make(map[string]*sender),
		ackTimer: time.NewTimer(time.Hour),
	}
	n.ackTimer.Stop()
	n.ctx, n.cancel = context.WithCancel(context.Background())
	st := cfg.Stats
	nc, err := nats.Connect(cfg.URL,
		nats.Name("stanzascope switch "+cfg.Node),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		// Nothing is buffered while NATS is away: a publish fails at once, and the switch
		// keeps the message offline instead of holding it in memory without bound.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			st.Connected.Store(0)
			if n.ctx.Err() != nil {
				return // Close: not an outage
			}
			st.Disconnects.Add(1)
			n.logf("cluster: node %s lost NATS (%v): serving this node's sessions only; the other nodes' sessions expire from view within %v, and messages for them are kept offline", cfg.Node, err, cfg.TTL)
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			st.Connected.Store(1)
			n.logf("cluster: node %s reconnected to NATS at %s", cfg.Node, c.ConnectedUrlRedacted())
			n.markAllDirty()
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			n.logf("cluster: node %s: NATS: %v", cfg.Node, err)
		}),
	)
	if err != nil {
		n.cancel()
		return nil, fmt.Errorf("cluster: connect to NATS %s: %w", redactURL(cfg.URL), err)
	}
	n.nc = nc
	st.Connected.Store(1)
	if err := n.start(ctx); err != nil {
		n.cancel()
		nc.Close()
		return nil, err
	}
	return n, nil
}

func (n *Node) start(ctx context.Context) error {
	js, err := jetstream.New(n.nc)
	if err != nil {
		return fmt.Errorf("cluster: JetStream: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	n.kv, err = js.CreateOrUpdateKeyValue(cctx, jetstream.KeyValueConfig{
		Bucket:      n.cfg.Bucket,
		Description: "stanzascope: the sessions of the switch nodes",
		History:     1,
		TTL:         n.cfg.TTL,
		Replicas:    n.cfg.Replicas,
		// On disk, so that the sessions survive a restart of the NATS server.
		Storage: jetstream.FileStorage,
	})
	if err != nil {
		return fmt.Errorf("cluster: session bucket %s with %d replicas (is JetStream on, nats-server -js, on at least that many servers of a NATS cluster?): %w", n.cfg.Bucket, n.cfg.Replicas, err)
	}
	// A NATS server outside a JetStream cluster keeps one copy whatever was asked (without
	// an error): say so, the operator asked for more.
	if n.cfg.Replicas > 1 {
		if st, err := n.kv.Status(cctx); err == nil {
			if b, ok := st.(*jetstream.KeyValueBucketStatus); ok {
				have := 1
				if ci := b.StreamInfo().Cluster; ci != nil {
					have += len(ci.Replicas)
				}
				if have < n.cfg.Replicas {
					n.logf("cluster: node %s: the session bucket %s is kept by %d NATS server(s), not the %d replicas asked for: NATS at %s is not a JetStream cluster of that many servers",
						n.cfg.Node, n.cfg.Bucket, have, n.cfg.Replicas, n.nc.ConnectedUrlRedacted())
				}
			}
		}
	}
	if _, err := n.nc.ChanSubscribe(n.nodeSubject(n.cfg.Node), n.inbox); err != nil {
		return fmt.Errorf("cluster: subscribe: %w", err)
	}
	if _, err := n.nc.ChanSubscribe(n.cfg.Subject+".all", n.inbox); err != nil {
		return fmt.Errorf("cluster: subscribe: %w", err)
	}
	if _, err := n.nc.Subscribe(n.ackPrefix()+">", n.onAck); err != nil {
		return fmt.Errorf("cluster: subscribe: %w", err)
	}
	// Just after a JetStream leader election a busy cluster can let the watch's consumer
	// request time out; it is asked again while the start has time left.
	var w jetstream.KeyWatcher
	for {
		if w, err = n.kv.WatchAll(n.ctx); err == nil {
			break
		}
		if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) || cctx.Err() != nil {
			return fmt.Errorf("cluster: watch the session bucket: %w", err)
		}
		n.logf("cluster: node %s: watching the session bucket: %v; asking again", n.cfg.Node, err)
	}
	// The sessions the other nodes hold now, before the switch serves anyone.
	initial := true
	for initial {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("cluster: the session bucket's watch ended")
			}
			if e == nil {
				initial = false
				break
			}
			n.onEntry(e)
		case <-cctx.Done():
			return fmt.Errorf("cluster: loading the sessions of the other nodes: %w", cctx.Err())
		}
	}
	if err := n.nc.Flush(); err != nil {
		return fmt.Errorf("cluster: NATS: %w", err)
	}
	n.wg.Add(4)
	go n.watchLoop(w)
	go n.inboxLoop()
	go n.writeLoop()
	go n.sweepLoop()
	return nil
}

// Close stops the node: its sessions are removed from the bucket (they are gone: close the
// switch first) and the NATS connection is closed.
func (n *Node) Close() error {
	n.mu.Lock()
	var ls []*localSess
	for _, l := range n.local {
		ls = append(ls, l)
	}
	n.mu.Unlock()
	for _, l := range ls {
		n.Unbind(l.sess)
	}
	n.cancel()
	n.wg.Wait()
	// What was written is flushed before the connection closes.
	err := n.nc.Drain()
	for deadline := time.Now().Add(5 * time.Second); !n.nc.IsClosed() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	n.nc.Close()
	return err
}

// SetReroute gives the node the switch's handling of stanzas a session did not deliver
// (server.Server.Reroute): a stanza another node did not take (its session ended while
// the stanza crossed, the node is gone or did not answer) is then handled as one a
// session of this switch did not write: a message goes to the account's other available
// resources, on any node, or is kept offline. Call it once the switch is made, before it
// serves; without it such a message is kept offline.
func (n *Node) SetReroute(f func(owner inspect.JID, lost [][]byte) (kept, bounced int)) {
	n.reroute.Store(&f)
}

// Name returns the node's name.
func (n *Node) Name() string { return n.cfg.Node }

// Connected reports whether the node is connected to NATS now.
func (n *Node) Connected() bool { return n.nc.IsConnected() }

func (n *Node) logf(format string, args ...any) { n.cfg.Logf(format, args...) }

func (n *Node) nodeSubject(node string) string { return n.cfg.Subject + ".node." + node }

// ackPrefix starts the reply subjects of this run of the node (deliver.go).
func (n *Node) ackPrefix() string { return n.cfg.Subject + ".ack." + n.cfg.Node + "." + n.boot + "." }

// redactURL hides the passwords in NATS URLs.
func redactURL(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil {
			parts[i] = u.Redacted()
		}
	}
	return strings.Join(parts, ",")
}
