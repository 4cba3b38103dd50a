package loadgen

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/switch/server"
	"github.com/stanzascope/stanzascope/switch/store"
)

const testDomain = "bench.test"

// startSwitch runs the embedded switch on loopback for the test, with STARTTLS offered.
func startSwitch(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cert, err := server.LoadOrCreateCert(filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem"), testDomain)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{
		Domain: testDomain,
		Store:  store.NewMemory(),
		TLS:    &tls.Config{Certificates: []tls.Certificate{cert}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("switch: %v", err)
		}
	})
	return ln.Addr().String()
}

func checkAllDelivered(t *testing.T, res *Result) {
	t.Helper()
	m := res.Messages
	if m == nil {
		t.Fatal("no message result")
	}
	if m.Sent == 0 || m.Delivered != m.Sent || m.Lost != 0 || m.Errored != 0 || m.Duplicates != 0 || m.Unexpected != 0 {
		t.Fatalf("not every message delivered: %+v", m.Counts)
	}
	if m.Latency.Count != uint64(m.Delivered) || m.Latency.P50 <= 0 || m.Latency.P99 < m.Latency.P50 || m.Latency.Max < m.Latency.P99 {
		t.Fatalf("latency %+v", m.Latency)
	}
	if len(res.Dropped) > 0 {
		t.Fatalf("dropped: %v", res.Dropped)
	}
}

// TestBenchSwitchRate is the end-to-end test of the brief: 10 clients at 200 msg/s for
// 2 s against the switch in-process; every message must be delivered.
func TestBenchSwitchRate(t *testing.T) {
	addr := startSwitch(t)
	res, err := Run(context.Background(), Config{
		Target: addr, Domain: testDomain, Clients: 10, Rate: 200, Duration: 2 * time.Second, Register: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkAllDelivered(t, res)
	m := res.Messages
	// The schedule is open-loop: 200/s for 2 s is at most 400 messages due, each sent or
	// skipped (a whole window behind). How many are due before the senders stop depends
	// on the machine's load, so only the bound and the accounting are checked here; the
	// pacer's own tests check the schedule.
	if m.Sent == 0 || m.Sent+m.Skipped > 400 || m.Seconds < 2 {
		t.Fatalf("sent %d and skipped %d in %.2fs, want at most 400 due in 2 s", m.Sent, m.Skipped, m.Seconds)
	}
	if res.Register == nil || res.Register.OK != 10 || res.Login.OK != 10 || res.Mechanism != "SCRAM-SHA-256" || m.Pairs != 5 {
		t.Fatalf("register %+v login %+v mech %s", res.Register, res.Login, res.Mechanism)
	}
	var sb strings.Builder
	if err := res.WriteSummary(&sb); err != nil || !strings.Contains(sb.String(), fmt.Sprintf("delivered     %d (", m.Delivered)) || strings.Contains(sb.String(), "LOST") {
		t.Fatalf("summary: %v\n%s", err, sb.String())
	}
}

// TestBenchSwitchMaxTLS: as fast as possible, over STARTTLS with SCRAM-SHA-1 forced, with
// existing accounts registered again (conflict is fine).
func TestBenchSwitchMaxTLS(t *testing.T) {
	addr := startSwitch(t)
	cfg := Config{Target: addr, Domain: testDomain, Clients: 4, Duration: time.Second, Register: true, TLS: true}
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Mechanism = "SCRAM-SHA-1"
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkAllDelivered(t, res)
	// How many messages fit in the second depends on the machine; checkAllDelivered
	// already requires some, and all of them delivered.
	if res.Mechanism != "SCRAM-SHA-1" || !res.TLS {
		t.Fatalf("mech %s tls %v sent %d", res.Mechanism, res.TLS, res.Messages.Sent)
	}
}

// TestBenchThroughRelay runs the bench through the plain TCP relay to the switch.
func TestBenchThroughRelay(t *testing.T) {
	addr := startSwitch(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Relay(ctx, ln, addr, t.Logf) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	res, err := Run(context.Background(), Config{
		Target: ln.Addr().String(), Domain: testDomain, Clients: 2, Rate: 100, Duration: time.Second, Register: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	checkAllDelivered(t, res)
}

// TestBenchIdle holds idle connections and reads this process's memory.
func TestBenchIdle(t *testing.T) {
	addr := startSwitch(t)
	res, err := Run(context.Background(), Config{
		Target: addr, Domain: testDomain, Idle: 20, Hold: 200 * time.Millisecond, Register: true, WatchPID: os.Getpid(),
	})
	if err != nil {
		t.Fatal(err)
	}
	id := res.Idle
	if id == nil || id.Connections != 20 || id.Error != "" || id.RSSAfter == 0 || res.Messages != nil {
		t.Fatalf("idle %+v", id)
	}
}

// TestBenchRefusedLogin: a wrong password is a clear error naming the SASL condition.
func TestBenchRefusedLogin(t *testing.T) {
	addr := startSwitch(t)
	_, err := Run(context.Background(), Config{
		Target: addr, Domain: testDomain, Clients: 2, Duration: time.Second, Password: "never-registered",
	})
	if err == nil || !strings.Contains(err.Error(), "no client could log in") || !strings.Contains(err.Error(), "not-authorized") {
		t.Fatalf("error %v", err)
	}
}

func TestBenchBadTarget(t *testing.T) {
	// A port that was just free: nothing listens there.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, err = Run(context.Background(), Config{Target: addr, Domain: testDomain, Clients: 2, Duration: time.Second})
	if err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("error %v, want connection refused", err)
	}
	for _, target := range []string{"no-port", ":5222x", ""} {
		if err := Probe(context.Background(), target); err == nil {
			t.Errorf("target %q accepted", target)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Target: "127.0.0.1:1", Domain: "d", Clients: 2, Duration: time.Second}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*Config){
		"odd clients":   func(c *Config) { c.Clients = 3 },
		"one client":    func(c *Config) { c.Clients = 0 },
		"too many":      func(c *Config) { c.Clients = MaxClients + 2 },
		"long":          func(c *Config) { c.Duration = MaxDuration + time.Second },
		"no duration":   func(c *Config) { c.Duration = 0 },
		"negative rate": func(c *Config) { c.Rate = -1 },
		"mechanism":     func(c *Config) { c.Mechanism = "DIGEST-MD5" },
		"few accounts":  func(c *Config) { c.Accounts = []Account{{"a", "b"}} },
		"idle too many": func(c *Config) { c.Idle = MaxClients + 1 },
		"no domain":     func(c *Config) { c.Domain = "" },
		"offline many":  func(c *Config) { c.Offline = MaxOffline + 1 },
		"offline idle":  func(c *Config) { c.Offline, c.Idle = 1, 2 },
		"same share":    func(c *Config) { c.SameTarget = 1.5 },
	} {
		c := ok
		mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestBenchTwoTargets splits the clients between two targets (the switch, and a TCP relay
// in front of it: two addresses of one server), each pair across the two, then with half
// of the pairs on one target: every message is delivered, and those between clients on
// two targets are counted as crossed.
func TestBenchTwoTargets(t *testing.T) {
	addr := startSwitch(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Relay(ctx, ln, addr, t.Logf) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	cfg := Config{Target: addr, Targets: []string{addr, ln.Addr().String()}, Domain: testDomain, Clients: 4, Rate: 200, Duration: time.Second, Register: true}
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkAllDelivered(t, res)
	if m := res.Messages; m.Crossed != m.Delivered || m.CrossedShare != 1 || res.Target != addr+","+ln.Addr().String() {
		t.Fatalf("crossed %d of %d (share %v), target %q", m.Crossed, m.Delivered, m.CrossedShare, res.Target)
	}
	var sb strings.Builder
	if err := res.WriteSummary(&sb); err != nil || !strings.Contains(sb.String(), "100.0 % of delivered") {
		t.Fatalf("summary: %v\n%s", err, sb.String())
	}
	cfg.SameTarget, cfg.Register = 0.5, false
	res, err = Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkAllDelivered(t, res)
	if m := res.Messages; m.Crossed == 0 || m.Crossed >= m.Delivered {
		t.Fatalf("half the pairs on one target: crossed %d of %d", m.Crossed, m.Delivered)
	}
}

// TestTargetOf: pair k's clients are on targets k and k+1, or both on k for the share of
// pairs kept on one target.
func TestTargetOf(t *testing.T) {
	cfg := Config{Targets: []string{"a", "b", "c"}}
	var got []string
	for i := range 6 {
		got = append(got, cfg.targetOf(i))
	}
	if strings.Join(got, "") != "abbcca" {
		t.Fatalf("all across: %v", got)
	}
	cfg.SameTarget = 0.5
	same := 0
	for k := range 100 {
		if cfg.targetOf(2*k) == cfg.targetOf(2*k+1) {
			same++
		}
	}
	if same != 50 {
		t.Fatalf("%d of 100 pairs on one target, want 50", same)
	}
	if one := (&Config{Target: "x"}); one.targetOf(0) != "x" || one.targetOf(1) != "x" {
		t.Fatal("one target")
	}
}

// TestBenchOffline: the senders send while their receivers are not logged in; the switch
// keeps the messages, and the receivers get all of them when they log in.
func TestBenchOffline(t *testing.T) {
	addr := startSwitch(t)
	res, err := Run(context.Background(), Config{Target: addr, Domain: testDomain, Clients: 6, Offline: 7, Duration: time.Second, Register: true})
	if err != nil {
		t.Fatal(err)
	}
	o := res.Offline
	if o == nil || res.Messages != nil || res.Login.OK != 3 {
		t.Fatalf("offline %+v, messages %+v, logins %+v", o, res.Messages, res.Login)
	}
	if o.Sent != 21 || o.Delivered != 21 || o.Missing != 0 || o.Errored != 0 || o.Logins.OK != 3 || o.StoredPerSec <= 0 || o.DeliveredPerSc <= 0 {
		t.Fatalf("offline %+v", o)
	}
	var sb strings.Builder
	if err := res.WriteSummary(&sb); err != nil || !strings.Contains(sb.String(), "delivered     21 (") || strings.Contains(sb.String(), "MISSING") {
		t.Fatalf("summary: %v\n%s", err, sb.String())
	}
}
