package server

import (
	"bufio"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// dialSlow connects with a 4 KiB receive buffer, so that a client that stops reading
// soon makes the server's writes to it block.
func dialSlow(t *testing.T, addr string) *rawClient {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawClient{t: t, conn: c, r: bufio.NewReader(c)}
}

// writeBlocked reports whether the session of full has been in one write for a while: its
// write lock is held at two looks 200 ms apart (a write that is not stuck takes
// microseconds).
func writeBlocked(ts *testServer, full string) bool {
	j, _ := inspect.ParseJID(full)
	c, ok := ts.srv.dir.Lookup(j).(*conn)
	if !ok {
		return false
	}
	for i := range 2 {
		if i > 0 {
			time.Sleep(200 * time.Millisecond) // the second look of a bounded poll
		}
		if c.wmu.TryLock() {
			c.wmu.Unlock()
			return false
		}
	}
	return true
}

// TestSlowReadersDoNotStallRosters: accounts that stop reading while the server writes
// roster pushes and results to them must not stall the roster and subscription operations
// of other accounts. Before, those writes happened under the server-wide subscription lock,
// so each such reader held every roster operation of the server for a write timeout (the
// issue measured 18 s with 2 readers and 37.9 s with 4).
func TestSlowReadersDoNotStallRosters(t *testing.T) {
	const (
		writeTimeout = 4 * time.Second
		slowReaders  = 3
	)
	ts := startServer(t, func(c *Config) { c.WriteTimeout = writeTimeout })
	for _, u := range []string{"bob", "carol", "slow0", "slow1", "slow2"} {
		registerRaw(t, ts.addr, u, "pw")
	}
	bob := legacyLogin(t, ts.addr, "bob", "pw", "Home")
	carol := legacyLogin(t, ts.addr, "carol", "pw", "Home")
	bob.send("<presence/>")
	carol.send("<presence/>")

	// Each slow reader asks for its roster (so it gets pushes), then sends thousands of
	// roster sets with long names and never reads the results and pushes: its buffers fill
	// and the server's write to it blocks.
	name := strings.Repeat("n", 1000)
	var flood strings.Builder
	for range 6000 {
		flood.WriteString("<iq id='s' type='set'><query xmlns='jabber:iq:roster'><item jid='x@localhost' name='" + name + "'/></query></iq>")
	}
	var slow []string
	for i := range slowReaders {
		u := "slow" + string(rune('0'+i))
		c := dialSlow(t, ts.addr)
		c.send(legacyHeader)
		c.expectRe(headerRe)
		c.send("<iq id='auth1' type='set'><query xmlns='jabber:iq:auth'><username>" + u + "</username><password>pw</password><resource>r</resource></query></iq>")
		c.expect("<iq id='auth1' type='result'/>")
		c.send("<iq id='g' type='get'><query xmlns='jabber:iq:roster'/></iq>")
		c.readStanza()
		slow = append(slow, u+"@localhost/r")
		go func() {
			// Ends when the server stops reading (its write deadline) or closes.
			c.conn.SetWriteDeadline(time.Now().Add(3 * writeTimeout))
			c.conn.Write([]byte(flood.String()))
		}()
	}
	// Wait until a server write to a slow reader is stuck (bounded poll).
	stuck := ""
	for deadline := time.Now().Add(30 * time.Second); stuck == ""; {
		if time.Now().After(deadline) {
			t.Fatal("no write to a slow reader blocked")
		}
		for _, j := range slow {
			if writeBlocked(ts, j) {
				stuck = j
				break
			}
		}
	}
	t.Logf("the server's write to %s is blocked", stuck)

	// Another pair's roster and subscription operations.
	start := time.Now()
	bob.send("<iq id='s1' type='set'><query xmlns='jabber:iq:roster'><item jid='carol@localhost' name='Carol'/></query></iq>")
	bob.expect("<iq id='s1' type='result' to='bob@localhost/Home'/>")
	bob.send("<iq id='g1' type='get'><query xmlns='jabber:iq:roster'/></iq>")
	bob.expectRe(`<iq id='g1' type='result' to='bob@localhost/Home'><query xmlns='jabber:iq:roster'><item jid='carol@localhost' name='Carol' subscription='none'/></query></iq>`)
	bob.send("<presence to='carol@localhost' type='subscribe'/>")
	bob.expectRe(`<iq id='push\d+' type='set' to='bob@localhost/Home'><query xmlns='jabber:iq:roster'><item jid='carol@localhost' name='Carol' subscription='none' ask='subscribe'/></query></iq>`)
	carol.expect("<presence from='bob@localhost' to='carol@localhost' type='subscribe'/>")
	carol.send("<presence to='bob@localhost' type='subscribed'/>")
	bob.expectRe(`<iq id='push\d+' type='set' to='bob@localhost/Home'><query xmlns='jabber:iq:roster'><item jid='carol@localhost' name='Carol' subscription='to'/></query></iq>`)
	bob.expect("<presence from='carol@localhost' to='bob@localhost' type='subscribed'/>")
	bob.expect("<presence from='carol@localhost/Home' to='bob@localhost/Home'/>")
	elapsed := time.Since(start)
	// Lenient on a loaded machine, yet below what the rest of one stuck write (about a
	// write timeout) would cost, let alone slowReaders of them.
	if elapsed > writeTimeout/2 {
		t.Fatalf("roster and subscription operations took %v while %d clients did not read (write timeout %v)", elapsed, slowReaders, writeTimeout)
	}
	t.Logf("roster and subscription operations took %v", elapsed)
}
