package loadgen

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/proxy"
	"github.com/stanzascope/stanzascope/rules"
)

// Rules for the proxy between the bench and the switch: messages whose id (the sequence
// number) ends in 0 vanish, those ending in 5 are bounced with an error.
const lossyRules = `
rules:
  - name: lose
    when: {direction: c2s, element: message, xpath: "substring(@id, string-length(@id)) = '0'"}
    do: [drop]
  - name: bounce
    when: {direction: c2s, element: message, xpath: "substring(@id, string-length(@id)) = '5'"}
    do:
      - reject: {condition: not-acceptable}
`

// TestBenchCountsLostAndErrored runs the bench through the stanzascope proxy with rules
// that drop and bounce known messages: every message must be accounted for as exactly
// delivered, errored or lost.
func TestBenchCountsLostAndErrored(t *testing.T) {
	swAddr := startSwitch(t)
	rs, err := rules.Parse("lossy.yaml", []byte(lossyRules))
	if err != nil {
		t.Fatal(err)
	}
	eng, err := rules.New(rs)
	if err != nil {
		t.Fatal(err)
	}
	var d net.Dialer
	p, err := proxy.New(proxy.Config{
		Dial: func(ctx context.Context) (net.Conn, error) { return d.DialContext(ctx, "tcp", swAddr) },
		Hook: eng,
		Logf: t.Logf,
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
	go func() { done <- p.Serve(ctx, ln) }()
	defer func() {
		cancel()
		<-done
	}()
	res, err := Run(context.Background(), Config{
		Target: ln.Addr().String(), Domain: testDomain, Clients: 2, Rate: 200, Duration: time.Second,
		Register: true, Grace: 2 * time.Second, // the dropped messages never arrive: the run waits all of it
	})
	if err != nil {
		t.Fatal(err)
	}
	m := res.Messages
	// Each client numbers its messages from 1; the two may differ by one message at the
	// edges of the run, hence the tolerance of one.
	perClient := func(n int64) (lost, errored int64) { return n / 10, (n + 5) / 10 }
	a := m.Sent / 2
	l1, e1 := perClient(a)
	l2, e2 := perClient(m.Sent - a)
	wantLost, wantErr := l1+l2, e1+e2
	// At least two rounds of ten per client, whatever the machine's speed (at 200/s for
	// 1 s, about 200 are due).
	if m.Sent < 40 || m.Delivered+m.Errored+m.Lost != m.Sent {
		t.Fatalf("counts do not add up: %+v", m.Counts)
	}
	if d := m.Lost - wantLost; d < -1 || d > 1 {
		t.Errorf("lost %d, want about %d (%+v)", m.Lost, wantLost, m.Counts)
	}
	if d := m.Errored - wantErr; d < -1 || d > 1 {
		t.Errorf("errored %d, want about %d (%+v)", m.Errored, wantErr, m.Counts)
	}
}
