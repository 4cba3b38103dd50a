package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSwitchLimitsPerClient: behind the proxy, the switch's limits per address count each
// client of the proxy, not the proxy: in the default mode (the embedded switch, which
// always gets a PROXY header) and with --upstream to 'stanzascope switch --trust-proxy'
// (--proxy-protocol). With one connection allowed per address, two clients from two
// addresses both get their stream, and a second connection from one of them is refused
// with the switch's policy-violation, which the proxy passes on.
func TestSwitchLimitsPerClient(t *testing.T) {
	listening := regexp.MustCompile(`listening on (\S+) \(plaintext`)
	for _, tc := range []struct {
		name  string
		proxy func(t *testing.T, dir string) string
	}{
		{"embedded switch", func(t *testing.T, dir string) string {
			return runCommand(t, listening, "proxy", "--listen", "127.0.0.1:0", "--ca-dir", filepath.Join(dir, "ca"), "--fresh",
				"--max-conns-per-ip", "1", "--format", "json")[1]
		}},
		{"switch --trust-proxy", func(t *testing.T, dir string) string {
			sw := runCommand(t, regexp.MustCompile(`serving localhost on (\S+)`), "switch", "--listen", "127.0.0.1:0", "--fresh",
				"--cert", "", "--trust-proxy", "--max-conns-per-ip", "1", "--web", "off", "--format", "json")[1]
			return runCommand(t, listening, "proxy", "--listen", "127.0.0.1:0", "--ca-dir", filepath.Join(dir, "ca"),
				"--upstream", sw, "--upstream-insecure", "--proxy-protocol", "--format", "json")[1]
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("XDG_DATA_HOME", t.TempDir())
			addr := tc.proxy(t, t.TempDir())
			for _, src := range []string{"127.0.0.2", "127.0.0.3"} {
				if got := features(t, addr, src); !strings.Contains(got, "</stream:features>") {
					t.Fatalf("client from %s got %q", src, got)
				}
			}
			if got := features(t, addr, "127.0.0.2"); !strings.Contains(got, "too many connections from 127.0.0.2 (limit 1)") {
				t.Fatalf("second client from 127.0.0.2 got %q", got)
			}
		})
	}
}

// features opens a stream from the loopback address src through addr and returns what it
// read up to the features or a stream error; the connection stays open until the test
// ends.
func features(t *testing.T, addr, src string) string {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	io.WriteString(c, "<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var got bytes.Buffer
	b := make([]byte, 4096)
	for !strings.Contains(got.String(), "</stream:features>") && !strings.Contains(got.String(), "</stream:error>") {
		n, err := c.Read(b)
		got.Write(b[:n])
		if err != nil {
			break
		}
	}
	return got.String()
}

// TestLimitFlagsUsage: the limits are checked, and the embedded switch's cannot go with
// --upstream.
func TestLimitFlagsUsage(t *testing.T) {
	for _, args := range [][]string{
		{"proxy", "--upstream", "x:5222", "--max-conns-per-ip", "3"},
		{"proxy", "--proxy-protocol"},
		{"proxy", "--logins-per-minute", "-1"},
		{"switch", "--registrations-per-minute", "-2"},
		{"switch", "--auth-failure-delay", "0s"},
		{"switch", "--max-offline", "0"},
		{"switch", "--max-roster", "-1"},
		{"switch", "--idle-timeout", "10ms"},
	} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), args, &out, &errb); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errb.String())
		}
	}
}

// TestSwitchStoreLimitFlags: --max-offline reaches the store: the message past it is
// bounced to its sender with resource-constraint.
func TestSwitchStoreLimitFlags(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", t.TempDir())
	addr := runCommand(t, regexp.MustCompile(`serving localhost on (\S+)`), "switch", "--listen", "127.0.0.1:0", "--fresh",
		"--max-offline", "2", "--web", "off", "--format", "json")[1]
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	io.WriteString(c, "<stream:stream to='localhost' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"+
		"<iq id='r1' type='set'><query xmlns='jabber:iq:register'><username>dana</username><password>pw</password></query></iq>"+
		"<iq id='r2' type='set'><query xmlns='jabber:iq:register'><username>jane</username><password>pw</password></query></iq>"+
		"<iq id='a' type='set'><query xmlns='jabber:iq:auth'><username>jane</username><password>pw</password><resource>r</resource></query></iq>")
	for i := 1; i <= 3; i++ {
		io.WriteString(c, "<message id='m"+strconv.Itoa(i)+"' to='dana@localhost' type='chat'><body>hi</body></message>")
	}
	var got bytes.Buffer
	b := make([]byte, 4096)
	for !strings.Contains(got.String(), "id='m3'") || !strings.Contains(got.String(), "</message>") {
		n, err := c.Read(b)
		got.Write(b[:n])
		if err != nil {
			t.Fatalf("%v; got %q", err, got.String())
		}
	}
	if !regexp.MustCompile(`<message id='m3' type='error'[^>]*>.*<resource-constraint `).MatchString(got.String()) || strings.Contains(got.String(), "id='m2' type='error'") {
		t.Fatalf("the third message was not bounced alone: %q", got.String())
	}
}
