package cluster

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/switch/store"
)

// FuzzApply feeds what other nodes say (the broadcast's and the bucket's JSON, as it
// arrives from NATS) to a node, one line at a time: nothing panics, and the node's view
// of the other nodes' sessions stays consistent (each session once under its JID and once
// under its account, counted in Stats).
func FuzzApply(f *testing.F) {
	f.Add([]byte(`{"op":"bind","node":"b","jid":"alice@localhost/r","id":"b.1.1","bound":5,"ver":1,"avail":true,"last":"PHByZXNlbmNlLz4="}` + "\n" +
		`{"op":"bind","node":"c","jid":"alice@localhost/r","id":"c.1.1","bound":6,"ver":1}` + "\n" +
		`{"op":"unbind","node":"c","jid":"alice@localhost/r","id":"c.1.1","bound":6}`))
	f.Add([]byte(`{"op":"bind","node":"a","jid":"bob@localhost/x","id":"a.1.1","bound":1}` + "\n" + `{"op":"bind","node":"b","jid":"bob@localhost","id":"b.1.2"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		n := &Node{
			cfg:      Config{Node: "a", Store: store.NewMemory(), TTL: time.Minute, Stats: new(Stats), Logf: func(string, ...any) {}},
			local:    map[inspect.JID]*localSess{},
			localBy:  map[inspect.JID][]*localSess{},
			remote:   map[inspect.JID]*remoteSess{},
			remoteBy: map[inspect.JID][]*remoteSess{},
			removed:  map[string]time.Time{},
			expired:  map[string]time.Time{},
			dirty:    map[*localSess]struct{}{},
		}
		dec := json.NewDecoder(bytes.NewReader(in))
		for i := 0; i < 100; i++ {
			var e entry
			if dec.Decode(&e) != nil {
				break
			}
			n.apply(e)
		}
		total := 0
		for bare, list := range n.remoteBy {
			for _, r := range list {
				if r.jid.Bare() != bare || n.remote[r.jid] != r {
					t.Fatalf("%s listed under %s but the session of its JID is %v", r.jid, bare, n.remote[r.jid])
				}
				if r.node == n.cfg.Node {
					t.Fatalf("this node's own session %s came in as another node's", r.jid)
				}
			}
			total += len(list)
		}
		if total != len(n.remote) || int64(total) != n.cfg.Stats.RemoteSessions.Load() {
			t.Fatalf("%d sessions by account, %d by JID, %d counted", total, len(n.remote), n.cfg.Stats.RemoteSessions.Load())
		}
	})
}

// FuzzNodeMsg feeds what arrives on a node's subject (a stanza or a kick behind its line)
// and on its answer subject (the ranges taken and missed) to their parsers: nothing
// panics, a stanza's bytes come out unchanged, and answers that parse are written back
// the same way.
func FuzzNodeMsg(f *testing.F) {
	f.Add([]byte("d a.1234abcd.7\n<message to='bob@localhost/r'><body>hi</body></message>"), []byte("+1-5 +7-9 -6"))
	f.Add([]byte("k a.1234abcd.7 conflict\nreplaced"), []byte("-3"))
	f.Fuzz(func(t *testing.T, msg, answers []byte) {
		if op, id, cond, rest, ok := parseNodeMsg(msg); ok {
			line := len(msg) - len(rest)
			if msg[0] != op || len(id) == 0 || bytes.IndexByte(id, ' ') >= 0 || !bytes.Equal(msg[line:], rest) {
				t.Fatalf("%q: op %c id %q cond %q rest %q", msg, op, id, cond, rest)
			}
			if (op == opKick) != (len(cond) > 0) {
				t.Fatalf("%q: op %c with cond %q", msg, op, cond)
			}
		}
		a, err := parseAcks(answers)
		if err != nil {
			return
		}
		again, err := parseAcks(formatAcks(a))
		if err != nil || countAcks(again) != countAcks(a) || len(again.taken) != len(a.taken) || len(again.missed) != len(a.missed) {
			t.Fatalf("%q: written back as %q: %v", answers, formatAcks(a), err)
		}
		for _, r := range a.taken {
			if r[0] > r[1] {
				t.Fatalf("%q: range %v", answers, r)
			}
		}
	})
}
