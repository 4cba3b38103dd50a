package loadgen

import (
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// With several targets (nodes of a cluster), a node that has not yet heard of a peer's
// login treats a message to it as one for an offline user, which the run would count as
// lost: the joining of the nodes, not the steady state the run measures. So before the run
// each pair exchanges probes until each client's messages reach its peer: a client sends
// a probe every probeEvery until its peer answered one, and answers each of its peer's
// (its reader does, in onMessage), bounded by LoginTimeout. Probes that went offline reach
// the account at a later login, where the load tool ignores them.
const (
	probeBody  = "stanzascope-bench probe"
	probeReply = "stanzascope-bench probe answered"
	probeEvery = 200 * time.Millisecond
)

// settlePairs runs the probes of the pairs (both clients of each; their readers run) and
// returns how many clients' probes were not answered within the bound.
func settlePairs(ctx context.Context, cfg *Config, pairs []*client) int {
	var wg sync.WaitGroup
	deadline := time.Now().Add(cfg.LoginTimeout)
	for _, c := range pairs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			probe := []byte("<message to='" + inspect.EscapeAttr(c.peer.jid) + "' type='chat' id='probe'><body>" + probeBody + "</body></message>")
			t := time.NewTicker(probeEvery)
			defer t.Stop()
			for !c.answered.Load() && ctx.Err() == nil && time.Now().Before(deadline) {
				if c.write(probe) != nil {
					return
				}
				select {
				case <-t.C:
				case <-ctx.Done():
				}
			}
		}()
	}
	wg.Wait()
	n := 0
	for _, c := range pairs {
		if !c.answered.Load() {
			n++
		}
	}
	return n
}

// onProbe handles a probe or its answer from the peer (raw is a message without a stamp).
func (c *client) onProbe(raw []byte) {
	if !bytes.Contains(raw, []byte(probeBody)) || !bytes.HasPrefix(tagAttr(raw, "from"), []byte(c.peer.jid)) {
		return
	}
	if bytes.Contains(raw, []byte(probeReply)) {
		c.answered.Store(true)
		return
	}
	_ = c.write([]byte("<message to='" + inspect.EscapeAttr(c.peer.jid) + "' type='chat' id='probe-reply'><body>" + probeReply + "</body></message>"))
}
