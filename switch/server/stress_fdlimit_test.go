//go:build stress && linux

package server

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// TestStressFDLimit: the switch runs in a process of its own under `prlimit --nofile=N`
// (as an operator's limit, or ulimit in the shell that starts it, would set it) and a
// flood of connections, each sending a stream header, takes every descriptor it has. The
// switch refuses no one outright, it cannot accept: the connections beyond its limit wait
// in the kernel's listen queue, the log says so once, and the process keeps running and
// serving the sessions it has (one answers a ping meanwhile). When
// the flood's connections close, the ones that waited are accepted and answered, a
// legitimate client logs in, and the log says the switch accepts connections again.
func TestStressFDLimit(t *testing.T) {
	const limit = 2048
	const flood = limit + 64 // more than the process can hold
	const addrs = 64         // flood sources, each under the limit of connections per address
	prlimit, err := exec.LookPath("prlimit")
	if err != nil {
		t.Fatalf("prlimit (util-linux) is needed: %v", err)
	}
	db := filepath.Join(t.TempDir(), "switch.db")
	sw := startKillableUnder(t, db, prlimit, fmt.Sprintf("--nofile=%d:%d", limit, limit), "--")
	dana := legacyLoginFrom(t, sw.addr, "127.0.0.8", "dana2")

	header := regexp.MustCompile(headerRe)
	conns := make([]net.Conn, 0, flood)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	answered := make(chan int, flood) // index of a connection that got our header; -1: it failed
	start := time.Now()
	for i := range flood {
		src := fmt.Sprintf("127.0.8.%d", i%addrs+1)
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 10 * time.Second}
		c, err := d.Dial("tcp", sw.addr)
		if err != nil {
			t.Fatalf("connection %d from %s: %v", i, src, err)
		}
		conns = append(conns, c)
		c.SetDeadline(time.Now().Add(2 * time.Minute))
		if _, err := c.Write([]byte(legacyHeader)); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		go func() {
			r := bufio.NewReader(c)
			var got []byte
			for !header.Match(got) {
				b, err := r.ReadByte()
				if err != nil {
					answered <- -1
					return
				}
				got = append(got, b)
			}
			answered <- i
		}()
	}
	opened := time.Since(start)
	if !sw.logs.await("too many open files", time.Minute) {
		t.Fatalf("no log line about the descriptors after %d connections under a limit of %d; log:\n%v", flood, limit, sw.logs.matching(""))
	}
	full := time.Since(start)
	if sw.cmd.ProcessState != nil {
		t.Fatal("the switch process ended")
	}
	held := countFDs(t, sw.cmd.Process.Pid)
	// A session logged in before the flood is served meanwhile: it needs no descriptor.
	pingStart := time.Now()
	dana.send("<iq id='during' type='get' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
	dana.expect("<iq id='during' type='result' from='localhost' to='dana2@localhost/r'/>")
	ping := time.Since(pingStart)

	// The flood lets go: each connection that got our header closes, and those that
	// waited in the listen queue are accepted, answered, and close in turn.
	release := time.Now()
	served, failed := 0, 0
	deadline := time.After(time.Minute)
	for served+failed < flood {
		select {
		case i := <-answered:
			if i < 0 {
				failed++
				continue
			}
			conns[i].Close()
			served++
		case <-deadline:
			t.Fatalf("after the release, %d of %d flood connections answered, %d failed", served, flood, failed)
		}
	}
	if failed > 0 {
		t.Errorf("%d flood connections were closed without our header (want every one served in turn)", failed)
	}
	loginStart := time.Now()
	legacyLoginFrom(t, sw.addr, "127.0.0.9", "erin").conn.Close()
	login := time.Since(loginStart)
	if !sw.logs.await("accepting connections again", 30*time.Second) {
		t.Errorf("no log line about the recovery; log:\n%v", sw.logs.matching("accept"))
	}
	lines := len(sw.logs.matching("too many open files"))
	t.Logf("log lines about accept: %q", sw.logs.matching("accept"))
	figures(t, "switch under prlimit --nofile=%d: %d connections opened in %v, out of descriptors %v after the first (the process held %d), %d log line about it; a session logged in before answered a ping meanwhile in %v; after the flood closed, every connection that had waited in the listen queue was served (%d of %d answered in all, the last %v after the release); a new client registered and logged in in %v",
		limit, flood, opened.Round(time.Millisecond), full.Round(time.Millisecond), held, lines, ping.Round(time.Millisecond), served, flood,
		time.Since(release).Round(time.Millisecond), login.Round(time.Millisecond))
}

// countFDs counts the descriptors process pid has open.
func countFDs(t *testing.T, pid int) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}
