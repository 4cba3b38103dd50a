package server

import (
	"bufio"
	"crypto/tls"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// smallRcvBufDialer dials with a 4 KiB receive buffer, so that a client that stops
// reading soon makes the server's writes to it block.
func smallRcvBufDialer() net.Dialer {
	return net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		err := rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		if err != nil {
			return err
		}
		return serr
	}}
}

// dialSlow connects with a 4 KiB receive buffer, so that a client that stops reading
// soon makes the server's writes to it block.
func dialSlow(t *testing.T, addr string) *rawClient {
	t.Helper()
	d := smallRcvBufDialer()
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawClient{t: t, conn: c, r: bufio.NewReader(c)}
}

// writeBlocked reports whether the writer of the session of full is stuck on its client:
// the session is being dropped (or was) for not reading, or its writer has something to write and
// wrote nothing between two looks 200 ms apart (a write that is not stuck takes
// microseconds).
func writeBlocked(ts *testServer, full string) bool {
	j, _ := inspect.ParseJID(full)
	c, ok := ts.srv.dir.Lookup(j).(*conn)
	if !ok {
		return true // it was bound: it has been dropped
	}
	look := func() (wrote uint64, busy, closing bool) {
		c.ob.mu.Lock()
		defer c.ob.mu.Unlock()
		return c.ob.wrote, c.ob.running && c.ob.bytes > 0, c.ob.closing
	}
	w0, busy, closing := look()
	if closing {
		return true
	}
	if !busy {
		return false
	}
	time.Sleep(200 * time.Millisecond) // the second look of a bounded poll
	w1, busy, _ := look()
	return busy && w1 == w0
}

// TestSlowReadersDoNotStallRosters: accounts that stop reading while the server writes
// roster pushes and results to them must not stall the roster and subscription operations
// of other accounts. Before, those writes happened under the server-wide subscription lock,
// so each such reader held every roster operation of the server for a write timeout (the
// issue measured 18 s with 2 readers and 37.9 s with 4). Now each session has its own
// writer, and one whose outbox fills is dropped.
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
		c := legacyAuth(dialSlow(t, ts.addr), u, "pw", "r")
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
	t.Logf("the server's writer of %s is stuck, or it is being dropped", stuck)

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
	bob.expect("<presence from='carol@localhost' to='bob@localhost' type='subscribed'/>")
	bob.expectRe(`<iq id='push\d+' type='set' to='bob@localhost/Home'><query xmlns='jabber:iq:roster'><item jid='carol@localhost' name='Carol' subscription='to'/></query></iq>`)
	bob.expect("<presence from='carol@localhost/Home' to='bob@localhost/Home'/>")
	elapsed := time.Since(start)
	// Lenient on a loaded machine, yet below what the rest of one stuck write (about a
	// write timeout) would cost, let alone slowReaders of them.
	if elapsed > writeTimeout/2 {
		t.Fatalf("roster and subscription operations took %v while %d clients did not read (write timeout %v)", elapsed, slowReaders, writeTimeout)
	}
	t.Logf("roster and subscription operations took %v", elapsed)
}

// streamElements parses what a client received after our stream header (data, up to and
// including our closing tag) and returns its whole top-level elements as local name and
// id (or, for a stream error, its condition). An error means the stream was cut in the
// middle of an element; what came before it is returned.
func streamElements(data []byte) (names, ids []string, err error) {
	doc := "<stream:stream xmlns:stream='" + inspect.NSStreams + "' xmlns='jabber:client'>" + string(data)
	dec := xml.NewDecoder(strings.NewReader(doc))
	depth := 0
	var name, id string
	for {
		tok, err := dec.Token()
		if err == io.EOF && depth == 0 {
			return names, ids, nil
		}
		if err != nil {
			return names, ids, err
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 2:
				name, id = tok.Name.Local, ""
				for _, a := range tok.Attr {
					if a.Name.Local == "id" {
						id = a.Value
					}
				}
			case depth == 3 && name == "error" && tok.Name.Space == streamErrNS && id == "":
				id = tok.Name.Local
			}
		case xml.EndElement:
			if depth == 2 {
				names, ids = append(names, name), append(ids, id)
			}
			depth--
		}
	}
}

// TestSlowReaderDropped: a client that stops reading while messages are routed to it is
// dropped, and nothing is lost: the messages it did not take are stored for it (or, past
// the offline limit, bounced to the sender). Its stream ends with a whole stream error,
// not in the middle of a stanza, as long as it reads at all within a grace period after
// the write timeout; one that reads nothing is closed, and what it never took whole is
// stored or bounced too.
func TestSlowReaderDropped(t *testing.T) {
	t.Run("reads within the grace period", func(t *testing.T) { testSlowReaderDropped(t, true, false) })
	t.Run("reads within the grace period, TLS", func(t *testing.T) { testSlowReaderDropped(t, true, true) })
	t.Run("never reads", func(t *testing.T) { testSlowReaderDropped(t, false, false) })
}

// tlsLogin takes c (a fresh connection) through STARTTLS, SASL PLAIN and binding res,
// and returns the client on the TLS connection.
func tlsLogin(t *testing.T, ts *testServer, c *rawClient, user, pass, res string) *rawClient {
	t.Helper()
	c.send(header10)
	c.readStanza()
	c.readStanza() // features
	c.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	c.expect("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
	tc := tls.Client(c.conn, &tls.Config{ServerName: "localhost", RootCAs: ts.pool})
	if err := tc.Handshake(); err != nil {
		t.Fatal(err)
	}
	s := &rawClient{t: t, conn: tc, r: bufio.NewReader(tc)}
	s.send(header10)
	s.readStanza()
	s.readStanza()
	s.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + base64.StdEncoding.EncodeToString([]byte("\x00"+user+"\x00"+pass)) + "</auth>")
	s.expect("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
	s.send(header10)
	s.readStanza()
	s.readStanza()
	s.send("<iq id='b' type='set'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>" + res + "</resource></bind></iq>")
	s.expectRe(`<iq id='b' type='result'>.*</iq>`)
	return s
}

func testSlowReaderDropped(t *testing.T, readsInGrace, useTLS bool) {
	// Long enough for the client that logs in again to read a few megabytes of stored
	// messages under the race detector without looking slow itself.
	const writeTimeout = 3 * time.Second
	logs := &logBuffer{}
	ts := startServer(t, func(c *Config) { c.WriteTimeout = writeTimeout; c.Logf = logs.logf })
	registerRaw(t, ts.addr, "alice", "pw")
	registerRaw(t, ts.addr, "slow", "pw")
	slow := dialSlow(t, ts.addr)
	if useTLS {
		slow = tlsLogin(t, ts, slow, "slow", "pw", "r")
	} else {
		legacyAuth(slow, "slow", "pw", "r")
	}
	slow.send("<presence/>")
	alice := legacyLogin(t, ts.addr, "alice", "pw", "Home")
	alice.send("<presence/>")

	// The slow client reads nothing until the server says it stopped reading (or, should
	// it never say so, until the server dropped it). Then it reads all it can: at once, or
	// only after the server dropped it.
	type result struct {
		data []byte
		err  error
	}
	slowGot := make(chan result, 1)
	go func() {
		j, _ := inspect.ParseJID("slow@localhost/r")
		dropped := func() bool { return ts.srv.dir.Lookup(j) == nil }
		for deadline := time.Now().Add(60 * time.Second); ; {
			if time.Now().After(deadline) {
				slowGot <- result{err: errors.New("the slow client was never dropped")}
				return
			}
			if readsInGrace && logs.await("stopped reading", 10*time.Millisecond) || dropped() {
				break
			}
			time.Sleep(5 * time.Millisecond) // a bounded poll
		}
		slow.conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		data, err := io.ReadAll(slow.r)
		if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = nil // a close without TLS close_notify, or a reset, is a close too
		}
		slowGot <- result{data, err}
	}()
	// Alice reads all along: the bounces, until the answer to her ping sent once the slow
	// client's connection closed. The session's end bounces what it held beyond the
	// offline limit (rescue.go) before it closes the socket, so those bounces come before
	// that answer; the answer to a ping sent right after the flood can come before them.
	bounced := make(chan []string, 1)
	go func() {
		var ids []string
		for {
			s, err := alice.tryStanza(60 * time.Second)
			if err != nil || strings.HasPrefix(s, "<iq id='rescued'") {
				bounced <- ids
				return
			}
			if m := regexp.MustCompile(`^<message id='(m\d+)' type='error'`).FindStringSubmatch(s); m != nil {
				ids = append(ids, m[1])
			}
		}
	}()

	// Alice floods the slow client until the server drops it, and a little longer.
	pad := strings.Repeat("p", 4096)
	sent := 0
	alice.conn.SetWriteDeadline(time.Now().Add(60 * time.Second))
	for extra := 0; extra < 20 && sent < 5000; sent++ {
		msg := fmt.Sprintf("<message id='m%04d' to='slow@localhost' type='chat'><body>m%04d %s</body></message>", sent, sent, pad)
		if _, err := io.WriteString(alice.conn, msg); err != nil {
			t.Fatalf("flood: %v", err)
		}
		if len(logs.matching("stopped reading")) > 0 {
			extra++
		}
	}

	r := <-slowGot
	alice.send("<iq id='rescued' type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	if r.err != nil {
		t.Fatalf("slow client: %v", r.err)
	}
	names, ids, err := streamElements(r.data)
	tail := r.data[max(0, len(r.data)-200):]
	if readsInGrace {
		if err != nil {
			t.Fatalf("the slow client's stream was cut mid-stanza (%v); it ends with %q", err, tail)
		}
		if len(names) == 0 || names[len(names)-1] != "error" || ids[len(ids)-1] != "policy-violation" || !strings.HasSuffix(string(r.data), "</stream:error></stream:stream>") {
			t.Fatalf("the slow client's stream does not end with a policy-violation stream error: %q", tail)
		}
	}
	if len(names) > 0 && names[len(names)-1] == "error" {
		// Whole, even without the client reading: the kernel may take the rest when its
		// buffers grow.
		names = names[:len(names)-1]
	}
	seen := map[string]int{}
	live := 0
	for i, n := range names {
		switch n {
		case "message":
			seen[ids[i]]++
			live++
		case "presence": // its own, on a 1.0 stream
		default:
			t.Fatalf("the slow client got a %s", n)
		}
	}
	b := <-bounced
	for _, id := range b {
		seen[id]++
	}

	// The rest waits for the slow client's next login.
	stored := sent - live - len(b)
	again := legacyLogin(t, ts.addr, "slow", "pw", "r2")
	again.send("<presence/>")
	for range stored {
		s := again.readStanza()
		const head = "<message id='m"
		if !strings.HasPrefix(s, head) || !strings.Contains(s, "' to='slow@localhost' type='chat' from='alice@localhost/Home'><body>m") || !strings.Contains(s, "</body><delay ") {
			t.Fatalf("expected a stored message, got %.200q", s)
		}
		seen[s[len(head)-1:len(head)+4]]++
	}
	for i := range sent {
		if id := fmt.Sprintf("m%04d", i); seen[id] != 1 {
			t.Errorf("message %s arrived %d times", id, seen[id])
		}
	}
	t.Logf("%d messages sent: %d delivered live, %d stored, %d bounced", sent, live, stored, len(b))
}

// TestOwnAnswersLeaveRoomForDeliveries: a client that sends faster than it reads its
// answers fills its outbox only to the reader's mark (MaxOutbox/ownShare), so a message
// from another session still finds room and the client, which does read in the end, is
// not dropped. Before, the reader filled the outbox to the brim and any delivery then
// ended the session (seen in TestStressSlowReader: the bounces of a flood's rescued
// messages ended the flooding sender's session).
func TestOwnAnswersLeaveRoomForDeliveries(t *testing.T) {
	const maxOutbox = 16 << 10
	ts := startServer(t, func(c *Config) { c.MaxOutbox = maxOutbox; c.WriteTimeout = time.Minute })
	for _, u := range []string{"a", "c"} {
		registerRaw(t, ts.addr, u, "pw")
	}
	a := legacyAuth(dialSlow(t, ts.addr), "a", "pw", "r")
	c := legacyLogin(t, ts.addr, "c", "pw", "r")

	// A asks for far more answers (10 MB) than its socket and the server's take, and reads
	// none.
	const pings = 20000
	var flood strings.Builder
	for i := range pings {
		fmt.Fprintf(&flood, "<iq id='p%d' type='get' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>", i)
	}
	go func() {
		a.conn.SetWriteDeadline(time.Now().Add(time.Minute))
		a.conn.Write([]byte(flood.String()))
	}()
	j, _ := inspect.ParseJID("a@localhost/r")
	sess, ok := ts.srv.dir.Lookup(j).(*conn)
	if !ok {
		t.Fatal("a is not bound")
	}
	queued := func() int {
		sess.ob.mu.Lock()
		defer sess.ob.mu.Unlock()
		return sess.ob.bytes
	}
	// Wait until the reader waits for room: the outbox stays at its mark (bounded poll).
	const mark = maxOutbox / ownShare
	for deadline := time.Now().Add(30 * time.Second); queued() < mark-1024 || !writeBlocked(ts, "a@localhost/r"); {
		if time.Now().After(deadline) {
			t.Fatalf("a's outbox never filled to the reader's mark: %d bytes", queued())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := queued(); n > mark {
		t.Fatalf("a's own answers filled %d bytes of its outbox, beyond the reader's mark of %d", n, mark)
	}

	// Larger than one answer: it does not fit in the gap a full outbox leaves.
	c.send("<message id='hi' to='a@localhost/r' type='chat'><body>" + strings.Repeat("still there? ", 80) + "</body></message>")
	// A reads everything: every answer, the message, and no stream error.
	answers, message := 0, false
	a.conn.SetReadDeadline(time.Now().Add(time.Minute))
	for answers < pings || !message {
		s, err := a.tryStanza(30 * time.Second)
		if err != nil {
			t.Fatalf("after %d answers (message: %v): %v", answers, message, err)
		}
		switch {
		case strings.HasPrefix(s, "<iq id='p"):
			answers++
		case strings.HasPrefix(s, "<message id='hi'"):
			message = true
		default:
			t.Fatalf("after %d answers: %.300q", answers, s)
		}
	}
	if n := ts.srv.cfg.Stats.OutboxCloses.Load(); n != 0 {
		t.Fatalf("%d sessions closed for a full outbox", n)
	}
}
