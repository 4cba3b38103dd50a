package server

import (
	"encoding/base64"
	"slices"
	"testing"
	"time"
)

// TestLoginTimingHidesAccounts: a failed PLAIN or jabber:iq:auth login takes as long for
// a username that does not exist as for one that does (the issue measured 0.10 ms against
// 0.94 ms), so an attacker cannot list accounts by timing. The server runs with a high
// PBKDF2 iteration count, so the work dominates what is measured; the fastest of 7
// interleaved attempts of each kind must be within a factor of 3 (skipping the work costs
// a factor of hundreds here). The fastest attempt is the work itself: a loaded machine
// only ever adds to an attempt (a CI run once saw medians of 120 and 38 ms at load 16).
func TestLoginTimingHidesAccounts(t *testing.T) {
	// Dozens of failed logins from one address: the delay past AuthFailuresPerMinute
	// would be what the test measures.
	ts := startServer(t, func(c *Config) { c.Iterations = 20_000; c.AuthFailuresPerMinute = -1; c.LoginsPerMinute = -1 })
	registerRaw(t, ts.addr, "real", "secret")

	plain := func(user string) time.Duration {
		c := dialRaw(t, ts.addr)
		c.send(header10)
		c.readStanza()
		c.readStanza() // features
		start := time.Now()
		c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00wrong")) + "</auth>")
		c.expect("<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>")
		d := time.Since(start)
		c.conn.Close()
		return d
	}
	legacy := func(user string) time.Duration {
		c := dialRaw(t, ts.addr)
		c.send(legacyHeader)
		c.expectRe(headerRe)
		start := time.Now()
		c.send("<iq id='a' type='set'><query xmlns='jabber:iq:auth'><username>" + user + "</username><password>wrong</password><resource>r</resource></query></iq>")
		c.expect("<iq id='a' type='error'><error code='401' type='auth'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")
		d := time.Since(start)
		c.conn.Close()
		return d
	}
	for _, mech := range []struct {
		name  string
		login func(string) time.Duration
	}{{"PLAIN", plain}, {"jabber:iq:auth", legacy}} {
		var known, unknown []time.Duration
		for range 7 {
			known = append(known, mech.login("real"))
			unknown = append(unknown, mech.login("ghost"))
		}
		k, u := slices.Min(known), slices.Min(unknown)
		t.Logf("%s: failed login for an account %v, for no account %v (fastest of 7; medians %v and %v)",
			mech.name, k, u, median(known), median(unknown))
		if u < k/3 || k < u/3 {
			t.Errorf("%s: a failed login takes %v for an existing account and %v for a missing one", mech.name, k, u)
		}
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
