package server

import (
	"testing"
	"time"

	"mellium.im/sasl"
)

// TestStats: the counters an operator reads move by what happened: two registrations, a
// message kept offline and delivered at login, STARTTLS (mellium's login), and every
// connection counted open while open and closed after.
func TestStats(t *testing.T) {
	var st Stats
	ts := startServer(t, func(c *Config) { c.Stats = &st })
	registerRaw(t, ts.addr, "jane", "pw")
	registerRaw(t, ts.addr, "dana", "pw")
	if st.Registrations.Load() != 2 {
		t.Fatalf("Registrations = %d after two", st.Registrations.Load())
	}
	jane := legacyLogin(t, ts.addr, "jane", "pw", "Home")
	jane.send("<message to='dana@localhost' type='chat' id='m1'><body>while you were out</body></message>")
	jane.expectNothingBefore(jane, "jane@localhost/Home", "jane@localhost/Home") // the message was handled
	if st.OfflineStored.Load() != 1 || st.OfflineDelivered.Load() != 0 {
		t.Fatalf("offline stored %d, delivered %d; want 1, 0", st.OfflineStored.Load(), st.OfflineDelivered.Load())
	}
	dana := melliumLogin(t, ts, "dana", "pw", "desk", sasl.ScramSha256)
	dana.SendRaw("<presence/>") // offline messages come with initial presence
	dana.WaitFor("while you were out")
	// The counter moves after the writer reports the write, which may be after dana read it.
	for deadline := time.Now().Add(10 * time.Second); st.OfflineDelivered.Load() == 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond) // polling for the count, with a deadline
	}
	if st.OfflineDelivered.Load() != 1 {
		t.Fatalf("offline delivered %d, want 1", st.OfflineDelivered.Load())
	}
	if st.Accepted.Load() != 4 || st.OpenPlain.Load() != 1 || st.OpenStartTLS.Load() != 1 || st.StartTLS.Load() != 1 {
		t.Fatalf("accepted %d, open %d plain and %d after STARTTLS, %d STARTTLS; want 4, 1, 1, 1",
			st.Accepted.Load(), st.OpenPlain.Load(), st.OpenStartTLS.Load(), st.StartTLS.Load())
	}
	dana.Close()
	jane.send("</stream:stream>")
	jane.expect("</stream:stream>")
	deadline := time.Now().Add(10 * time.Second)
	for (st.OpenPlain.Load() != 0 || st.OpenStartTLS.Load() != 0) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // polling for the count, with a deadline
	}
	if st.OpenPlain.Load() != 0 || st.OpenStartTLS.Load() != 0 || st.Accepted.Load() != 4 {
		t.Fatalf("after close: open %d plain and %d TLS, accepted %d", st.OpenPlain.Load(), st.OpenStartTLS.Load(), st.Accepted.Load())
	}
}
