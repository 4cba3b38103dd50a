//go:build stress && linux

package server

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestStressHalfOpen: 2,000 connections that never send a byte and 2,000 that stop in the
// middle of their stream header, from 40 addresses (each under the limit of connections
// per address). A legitimate client registers and logs in meanwhile, and every one of the
// 4,000 is closed by the login timeout.
func TestStressHalfOpen(t *testing.T) {
	const perKind, addrs = 2000, 20
	ts := startServer(t, func(c *Config) { c.LoginTimeout = 2 * time.Second })
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	start := time.Now()
	for kind, partial := range []string{"", "<stream:stream to='localhost' xmlns='jabber:cli"} {
		for i := range perKind {
			src := fmt.Sprintf("127.0.%d.%d", kind+1, i%addrs+1)
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
			c, err := d.Dial("tcp", ts.addr)
			if err != nil {
				t.Fatalf("connection %d of kind %d: %v", i, kind, err)
			}
			conns = append(conns, c)
			if partial != "" {
				io.WriteString(c, partial)
			}
		}
	}
	opened := time.Since(start)

	// A legitimate client, while they hang.
	loginStart := time.Now()
	legacyLoginFrom(t, ts.addr, "127.0.0.9", "jane").conn.Close()
	login := time.Since(loginStart)

	// Every one is closed by the login timeout: it reads EOF (or a stream error, then EOF).
	var wg sync.WaitGroup
	var mu sync.Mutex
	open := 0
	for _, c := range conns {
		wg.Go(func() {
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			_, err := io.Copy(io.Discard, c)
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				mu.Lock()
				open++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	allClosed := time.Since(start)
	if open > 0 {
		t.Errorf("%d connections still open 30 s after the login timeout", open)
	}
	figures(t, "%d silent + %d stopped mid-header connections opened in %v; a legitimate registration and login took %v meanwhile; all closed %v after the first was opened (login timeout 2 s), %d left open",
		perKind, perKind, opened.Round(time.Millisecond), login.Round(time.Millisecond), allClosed.Round(time.Millisecond), open)
}

// TestStressFloods: a registration flood, a login flood (wrong passwords) and a
// connection flood, each from one address, with the default limits; the limits bite, and
// a client at another address registers and logs in at once all along.
func TestStressFloods(t *testing.T) {
	const delay = 50 * time.Millisecond
	ts := startServer(t, func(c *Config) { c.AuthFailureDelay = delay })
	registerRaw(t, ts.addr, "victim", "pw")

	// Registrations: 100 from one address, 25 per connection (32 stanzas before login
	// end one).
	var c *rawClient
	regOK, regRefused := 0, 0
	for i := range 100 {
		if i%25 == 0 {
			c = openStream(t, ts.addr, "127.0.4.1")
		}
		u := fmt.Sprintf("flood%d", i)
		c.send("<iq id='" + u + "' type='set'><query xmlns='jabber:iq:register'><username>" + u + "</username><password>pw</password></query></iq>")
		switch s := c.readStanza(); {
		case strings.Contains(s, "type='result'"):
			regOK++
		case strings.Contains(s, "too many registrations"):
			regRefused++
		default:
			t.Fatalf("registration %d: %s", i, s)
		}
	}
	if regOK != DefaultRegistrationsPerMinute || regRefused != 100-regOK {
		t.Errorf("registrations: %d accepted, %d refused; want %d accepted", regOK, regRefused, DefaultRegistrationsPerMinute)
	}
	other := time.Now()
	legacyLoginFrom(t, ts.addr, "127.0.0.9", "someone").conn.Close()
	regOther := time.Since(other)

	// Logins: 200 guesses of victim's password, 4 per connection (5 failures close one).
	guessOK, guessRefused, guessFailed := 0, 0, 0
	floodStart := time.Now()
	var g *rawClient
	for i := range 200 {
		if i%4 == 0 {
			g = openStream(t, ts.addr, "127.0.5.1")
		}
		g.send(fmt.Sprintf("<iq id='g%d' type='set'><query xmlns='jabber:iq:auth'><username>victim</username><password>guess%d</password><resource>r</resource></query></iq>", i, i))
		switch s := g.readStanza(); {
		case strings.Contains(s, "too many logins"):
			guessRefused++
		case strings.Contains(s, "not-authorized"):
			guessFailed++
		default:
			guessOK++
		}
	}
	flood := time.Since(floodStart)
	// The rate: a burst of DefaultLoginsPerMinute, then one per 60/DefaultLoginsPerMinute s.
	if most := DefaultLoginsPerMinute + int(flood*DefaultLoginsPerMinute/time.Minute) + 1; guessOK != 0 || guessFailed > most || guessRefused == 0 && guessFailed < 200 {
		t.Errorf("guesses in %v: %d logged in, %d answered, %d refused; want none logged in and at most %d answered", flood, guessOK, guessFailed, guessRefused, most)
	}
	// Failures past the rate waited for the delay each: the flood took at least that.
	if minFlood := time.Duration(guessFailed-DefaultAuthFailuresPerMinute) * delay; flood < minFlood {
		t.Errorf("the guesses took %v, less than the %v their delays add up to", flood, minFlood)
	}
	// The victim is not locked out: from another address, at once.
	other = time.Now()
	v := openStream(t, ts.addr, "127.0.0.10")
	v.send("<iq id='v' type='set'><query xmlns='jabber:iq:auth'><username>victim</username><password>pw</password><resource>home</resource></query></iq>")
	v.expect("<iq id='v' type='result'/>")
	victim := time.Since(other)

	// Connections: 300 from one address; the default limit holds, the others are refused.
	var held []*rawClient
	refused := 0
	for range 300 {
		c := dialFrom(t, ts.addr, "127.0.6.1")
		// A refused connection may be closed before our bytes reach it: errors are refusals.
		c.conn.SetDeadline(time.Now().Add(10 * time.Second))
		_, err := io.WriteString(c.conn, legacyHeader+"<iq id='form' type='get'><query xmlns='jabber:iq:register'/></iq>")
		var got string
		for err == nil && !strings.Contains(got, "id='form'") && !strings.Contains(got, "too many connections") {
			var st string
			st, err = c.tryStanza(10 * time.Second)
			got += st
		}
		if err == nil && strings.Contains(got, "id='form'") {
			held = append(held, c)
		} else {
			refused++
			c.conn.Close()
		}
	}
	if len(held) != DefaultMaxConnsPerIP {
		t.Errorf("%d connections held from one address, want %d", len(held), DefaultMaxConnsPerIP)
	}
	other = time.Now()
	legacyLoginFrom(t, ts.addr, "127.0.0.11", "another").conn.Close()
	connOther := time.Since(other)
	figures(t, "registration flood: %d accepted, %d refused, another address registered and logged in in %v; login flood: %d guesses, %d answered not-authorized (past %d/min after a delay), %d refused, 0 succeeded, in %v; the victim logged in from another address in %v; connection flood: %d held, %d refused, another address in %v",
		regOK, regRefused, regOther.Round(time.Millisecond), guessOK+guessFailed+guessRefused, guessFailed, DefaultAuthFailuresPerMinute, guessRefused, flood.Round(time.Millisecond), victim.Round(time.Millisecond), len(held), refused, connOther.Round(time.Millisecond))
}
