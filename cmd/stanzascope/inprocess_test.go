package main

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"

	"github.com/stanzascope/stanzascope/inspect"
	"github.com/stanzascope/stanzascope/proxy/ca"
	"github.com/stanzascope/stanzascope/switch/store"
	"github.com/stanzascope/stanzascope/switch/switchtest"
)

// melliumStartTLS logs user in at addr with mellium doing all of it: STARTTLS (trusting
// roots), SASL SCRAM-SHA-256, resource binding.
func melliumStartTLS(t *testing.T, addr string, roots *tls.Config, user, pass string) *switchtest.Client {
	t.Helper()
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	origin := jid.MustParse(user + "@localhost")
	s, err := xmpp.NewSession(ctx, origin.Domain(), origin, raw, 0,
		xmpp.NewNegotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
			return xmpp.StreamConfig{Features: []xmpp.StreamFeature{xmpp.StartTLS(roots), xmpp.SASL("", pass, sasl.ScramSha256), xmpp.BindResource()}}
		}))
	if err != nil {
		t.Fatalf("mellium login of %s over STARTTLS at %s: %v", user, addr, err)
	}
	return switchtest.Serve(t, s)
}

// startJob runs the stanzascope command args (the main job or the proxy, with a JSON log
// at logPath) and returns its address and a function that stops it and reads its log.
func startJob(t *testing.T, args []string, logPath string) (string, func() *observed) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	code := make(chan int, 1)
	go func() { code <- run(ctx, args, &stdout, &stderr) }()
	stopped := false
	stop := func() *observed {
		t.Helper()
		if !stopped {
			stopped = true
			cancel()
			waitJobExit(t, code, &stderr, "the job")
		}
		return readObserved(t, logPath)
	}
	t.Cleanup(func() {
		if !stopped {
			stopped = true
			cancel()
			<-code
		}
	})
	return waitListening(t, &stderr, code), stop
}

// featuresAfterTLS returns what the log says each client got as stream features after its
// leg's TLS handshake, and the TLS milestones of the legs, by leg.
func featuresAfterTLS(t *testing.T, logged *observed) ([]string, []inspect.Milestone) {
	t.Helper()
	var feats []string
	var legs []inspect.Milestone
	tlsUp := map[uint64]bool{}
	for _, r := range logged.recs {
		if r.Conn == nil {
			continue
		}
		if r.Milestone() != nil && r.Milestone().Kind == inspect.MilestoneTLS {
			legs = append(legs, *r.Milestone())
			if r.Milestone().Leg == "client" {
				tlsUp[r.Conn.ID] = true
			}
		}
		if tlsUp[r.Conn.ID] && r.Dir == inspect.ServerToClient && r.Kind == inspect.KindStanza && r.Name == "features" && r.Verdict.Delivered() {
			feats = append(feats, string(r.Raw))
			tlsUp[r.Conn.ID] = false // the first after TLS only
		}
	}
	return feats, legs
}

// The main job's link to its embedded switch is secured by STARTTLS without encryption
// (in-process), while its client leg is TLS: a mellium client doing STARTTLS itself logs
// in through it and gets the very features a client gets from the proxy in front of a
// separate switch, whose leg to that switch, over the network, is real TLS.
func TestMainJobInProcessSTARTTLS(t *testing.T) {
	dir := t.TempDir()
	var dbs []string
	for _, name := range []string{"embedded", "separate"} {
		p := filepath.Join(dir, name, "switch.db")
		must(t, os.MkdirAll(filepath.Dir(p), 0o700))
		db, err := store.OpenBolt(p)
		if err != nil {
			t.Fatal(err)
		}
		switchtest.AddAccount(t, db, "alice", "wonderland")
		switchtest.AddAccount(t, db, "bob", "builder")
		must(t, db.Close())
		dbs = append(dbs, p)
	}
	caDir := filepath.Join(dir, "ca")
	authority, err := ca.LoadOrCreate(caDir)
	if err != nil {
		t.Fatal(err)
	}
	roots := &tls.Config{ServerName: "localhost", RootCAs: authority.Pool()}

	// The main job, its switch in process.
	embLog := filepath.Join(dir, "embedded.jsonl")
	embAddr, embStop := startJob(t, []string{"--listen", "127.0.0.1:0", "--ca-dir", caDir, "--db", dbs[0],
		"--web", "off", "--format", "raw", "--log", embLog}, embLog)
	// The proxy in front of a separate switch, with the PROXY header as the main job's
	// switch gets it (so that both offer the same in clear).
	sw := runCommand(t, regexp.MustCompile(`on (127\.0\.0\.1:\d+) \(database`), "switch", "--listen", "127.0.0.1:0",
		"--db", dbs[1], "--trust-proxy", "--web", "off", "--format", "json")
	sepLog := filepath.Join(dir, "separate.jsonl")
	sepAddr, sepStop := startJob(t, []string{"proxy", "--listen", "127.0.0.1:0", "--ca-dir", caDir, "--upstream", sw[1],
		"--upstream-insecure", "--proxy-protocol", "--web", "off", "--format", "raw", "--log", sepLog}, sepLog)

	for _, addr := range []string{embAddr, sepAddr} {
		alice := melliumStartTLS(t, addr, roots, "alice", "wonderland")
		bob := melliumStartTLS(t, addr, roots, "bob", "builder")
		alice.Chat(bob.JID(), "over STARTTLS")
		bob.WaitFor("over STARTTLS")
		alice.Close()
		bob.Close()
	}
	embFeat, embLegs := featuresAfterTLS(t, embStop())
	sepFeat, sepLegs := featuresAfterTLS(t, sepStop())
	if len(embFeat) != 2 || len(sepFeat) != 2 {
		t.Fatalf("features after TLS: the main job's clients got %q, the separate switch's %q; want two each", embFeat, sepFeat)
	}
	for i := range embFeat {
		if embFeat[i] != sepFeat[i] {
			t.Errorf("after STARTTLS, a client of the main job got\n  %s\nand one of the proxy in front of a separate switch\n  %s", embFeat[i], sepFeat[i])
		}
	}
	for _, c := range []struct {
		name      string
		legs      []inspect.Milestone
		inProcess bool
	}{{"main job", embLegs, true}, {"proxy in front of a separate switch", sepLegs, false}} {
		ups := 0
		for _, m := range c.legs {
			switch {
			case m.Leg == "client" && (m.Version == "" || m.InProcess):
				t.Errorf("%s: client leg %+v, want real TLS", c.name, m)
			case m.Leg == "upstream" && c.inProcess && (!m.InProcess || m.Version != "" || m.Cipher != ""):
				t.Errorf("%s: upstream leg %+v, want in-process, no version or cipher", c.name, m)
			case m.Leg == "upstream" && !c.inProcess && (m.InProcess || m.Version == "" || m.Cipher == ""):
				t.Errorf("%s: upstream leg %+v, want real TLS over the network", c.name, m)
			}
			if m.Leg == "upstream" {
				ups++
			}
		}
		if ups != 2 {
			t.Errorf("%s: %d TLS milestones of upstream legs, want 2: %+v", c.name, ups, c.legs)
		}
	}
}
