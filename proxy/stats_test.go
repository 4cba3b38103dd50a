package proxy

import (
	"crypto/tls"
	"net"
	"testing"
	"time"
)

// TestStats: connections are counted as they are accepted, whatever they send (a client
// that never sends a header too), by how their client leg is protected, and leave the
// open counts when they close.
func TestStats(t *testing.T) {
	swAddr, swRoots := startSwitch(t, true)
	authority := newCA(t)
	var st Stats
	cfg := Config{Upstream: swAddr, CA: authority, UpstreamTLS: &tls.Config{RootCAs: swRoots}, Stats: &st}
	plain := startProxy(t, cfg, false)
	direct := startProxy(t, cfg, true)

	silent, err := net.Dial("tcp", plain.addr)
	if err != nil {
		t.Fatal(err)
	}
	alice := melliumLogin(t, plain.addr, authority.Pool(), false, "alice", "wonderland")
	bob := melliumLogin(t, direct.addr, authority.Pool(), true, "bob", "builder")
	alice.Chat(bob.JID(), "counted")
	bob.WaitFor("counted")
	if st.Accepted.Load() != 2 || st.AcceptedDirectTLS.Load() != 1 || st.StartTLS.Load() != 1 ||
		st.OpenPlain.Load() != 1 || st.OpenStartTLS.Load() != 1 || st.OpenDirectTLS.Load() != 1 {
		t.Fatalf("accepted %d + %d Direct TLS, %d STARTTLS, open %d plain, %d STARTTLS, %d Direct TLS; want 2 + 1, 1, 1, 1, 1",
			st.Accepted.Load(), st.AcceptedDirectTLS.Load(), st.StartTLS.Load(), st.OpenPlain.Load(), st.OpenStartTLS.Load(), st.OpenDirectTLS.Load())
	}
	silent.Close()
	alice.Close()
	bob.Close()
	deadline := time.Now().Add(10 * time.Second)
	open := func() int64 { return st.OpenPlain.Load() + st.OpenStartTLS.Load() + st.OpenDirectTLS.Load() }
	for open() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // polling for the count, with a deadline
	}
	if open() != 0 || st.OpenPlain.Load() != 0 {
		t.Fatalf("after close: open %d plain, %d STARTTLS, %d Direct TLS", st.OpenPlain.Load(), st.OpenStartTLS.Load(), st.OpenDirectTLS.Load())
	}
}
