package capture

import (
	"bytes"
	"compress/gzip"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/stanzascope/stanzascope/inspect"
)

func TestLinkTypes(t *testing.T) {
	links := []struct {
		name string
		link uint32
	}{
		{"ethernet", linkEthernet},
		{"sll", linkSLL},
		{"sll2", linkSLL2},
		{"null", linkNull},
		{"loop", linkLoop},
		{"raw", linkRaw},
		{"ipv4", linkIPv4},
		{"ipv6", linkIPv6},
	}
	addrs := []struct{ name, client, server string }{
		{"v4", "10.0.0.1:40000", "10.0.0.2:5222"},
		{"v6", "[2001:db8::1]:40000", "[2001:db8::2]:5222"},
	}
	for _, l := range links {
		for _, a := range addrs {
			if (l.link == linkIPv4 && a.name == "v6") || (l.link == linkIPv6 && a.name == "v4") {
				continue
			}
			t.Run(l.name+"/"+a.name, func(t *testing.T) {
				s := newSynth(t, l.link)
				session(s.dial(a.client, a.server), 3)
				recs, sum, err := collect(t, s.bytes(), Options{})
				if err != nil {
					t.Fatal(err)
				}
				got := sequences(recs)
				if want := sessionTokens(3); !slices.Equal(got[1], want) {
					t.Fatalf("events:\n got %q\nwant %q", got[1], want)
				}
				open := kinds(recs, inspect.KindConnOpen)
				if len(open) != 1 || open[0].Conn.Client.String() != a.client || open[0].Conn.Server.String() != a.server {
					t.Fatalf("conn-open records: %+v", open)
				}
				if c := kinds(recs, inspect.KindConnClose); len(c) != 1 || c[0].Note() != "closed (FIN)" {
					t.Fatalf("conn-close records: %+v", c)
				}
				if sum.XMPPFlows != 1 || sum.Gaps != 0 || sum.Records != len(recs) {
					t.Fatalf("summary %+v", sum)
				}
			})
		}
	}
}

func TestPcapng(t *testing.T) {
	s := newSynthNg(t)
	session(s.dial("10.0.0.1:40000", "10.0.0.2:5222"), 2)
	recs, _, err := collect(t, s.bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := sequences(recs)[1], sessionTokens(2); !slices.Equal(got, want) {
		t.Fatalf("got %q want %q", got, want)
	}
	// Timestamps are the capture's.
	if r := recs[1]; r.Time.Year() != 2026 || r.Time.Nanosecond() == 0 && r.Time.Second() == 0 {
		t.Fatalf("time %v", r.Time)
	}
}

func TestTimesAndOrder(t *testing.T) {
	s := newSynth(t, linkEthernet)
	c := s.dial("10.0.0.1:40000", "10.0.0.2:5222")
	c.send(0, clientHeader)
	t1 := s.ts
	c.send(1, serverHeader)
	t2 := s.ts
	recs, _, err := collect(t, s.bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	opens := kinds(recs, inspect.KindStreamOpen)
	if len(opens) != 2 || !opens[0].Time.Equal(t1) || !opens[1].Time.Equal(t2) || opens[0].Dir != inspect.ClientToServer {
		t.Fatalf("stream opens: %v %v (want %v %v)", opens[0].Time, opens[1].Time, t1, t2)
	}
	if c := kinds(recs, inspect.KindConnClose); len(c) != 1 || c[0].Note() != "capture ended" {
		t.Fatalf("close: %+v", c)
	}
}

func TestReorderAndRetransmit(t *testing.T) {
	s := newSynth(t, linkEthernet)
	c := s.dial("10.0.0.1:40000", "10.0.0.2:5222")
	c.send(0, clientHeader)
	c.send(1, serverHeader+features)
	var text string
	for i := range 4 {
		text += message(i)
	}
	base := c.next[0]
	sg := c.segs(0, text, 37)
	// Swap neighbours, send some twice, and one overlapping retransmission.
	for i := 0; i+1 < len(sg); i += 2 {
		sg[i], sg[i+1] = sg[i+1], sg[i]
	}
	for i, x := range sg {
		c.write(0, x)
		if i%3 == 0 {
			c.write(0, x) // retransmission
		}
	}
	c.write(0, seg{base + 10, []byte(text[10:80])}) // overlaps delivered bytes
	c.send(0, "</stream:stream>")
	c.send(1, "</stream:stream>")
	c.close()
	recs, sum, err := collect(t, s.bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"c2s stream", "s2c stream", "s2c features", "c2s message", "c2s message", "c2s message", "c2s message", "c2s /stream", "s2c /stream"}
	if got := sequences(recs)[1]; !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	var all string
	for _, r := range kinds(recs, inspect.KindStanza)[1:] {
		all += string(r.Raw)
	}
	if all != text {
		t.Fatalf("reassembled text differs:\n%s\n%s", all, text)
	}
	if sum.Gaps != 0 {
		t.Fatalf("gaps: %d", sum.Gaps)
	}
}

func TestGapResync(t *testing.T) {
	s := newSynth(t, linkEthernet)
	c := s.dial("10.0.0.1:40000", "10.0.0.2:5222")
	c.send(0, clientHeader)
	c.send(1, serverHeader+features)
	c.send(0, message(0))
	// Message 1 is sent in three segments; the middle one is lost by the capture.
	sg := c.segs(0, message(1), 30)
	c.write(0, sg[0])
	c.write(0, sg[2])
	c.send(0, message(2))
	c.send(1, message(3)) // its ACK covers the lost bytes
	c.send(0, message(4))
	recs, sum, err := collect(t, s.bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"c2s stream", "s2c stream", "s2c features", "c2s message", "c2s message", "s2c message", "c2s message"}
	if got := sequences(recs)[1]; !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
	if sum.Gaps != 1 {
		t.Fatalf("gaps %d", sum.Gaps)
	}
	// The gap is reported at its place: after message 0, before message 2.
	var order []string
	for _, r := range recs {
		switch r.Kind {
		case inspect.KindGap:
			order = append(order, "gap:"+r.Note())
		case inspect.KindStanza:
			order = append(order, r.Attr("id"))
		}
	}
	// The gap is only known when the server's ACK arrives: m2 waits until then.
	if !slices.Equal(order, []string{"", "m0", "gap:30 bytes missing from the capture", "m2", "m3", "m4"}) {
		t.Fatalf("order %q", order)
	}
	if kinds(recs, inspect.KindGap)[0].Dir != inspect.ClientToServer {
		t.Fatal("gap direction")
	}
}

func TestGapAtClose(t *testing.T) {
	// No ACK reveals the loss; the waiting bytes are flushed at the FIN.
	s := newSynth(t, linkEthernet)
	c := s.dial("10.0.0.1:40000", "10.0.0.2:5222")
	c.send(0, clientHeader)
	sg := c.segs(0, message(1)+message(2), 30)
	for i, x := range sg {
		if i != 1 {
			c.write(0, x)
		}
	}
	c.send(0, "</stream:stream>")
	c.s.packet(c.client, c.server, c.next[0], 0, "F", nil)
	c.s.packet(c.server, c.client, c.next[1], 0, "F", nil)
	recs, sum, err := collect(t, s.bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Gaps != 1 {
		t.Fatalf("gaps %d: %v", sum.Gaps, sequences(recs))
	}
	want := []string{"c2s stream", "c2s message", "c2s /stream"}
	if got := sequences(recs)[1]; !slices.Equal(got, want) {
		t.Fatalf("got %q want %q", got, want)
	}
	if m := kinds(recs, inspect.KindStanza); m[0].Attr("id") != "m2" {
		t.Fatalf("resynced at %s", m[0].Raw)
	}
}

func TestMidStream(t *testing.T) {
	s := newSynth(t, linkSLL2)
	c := s.midway("10.0.0.1:40000", "10.0.0.2:5222")
	m := message(7)
	c.send(0, m[20:]+message(8)) // starts inside a stanza
	c.send(1, message(9))
	c.send(0, "</stream:stream>")
	recs, sum, err := collect(t, s.bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"c2s message", "s2c message", "c2s /stream"}
	if got := sequences(recs)[1]; !slices.Equal(got, want) {
		t.Fatalf("got %q want %q", got, want)
	}
	open := kinds(recs, inspect.KindConnOpen)
	if len(open) != 1 || !strings.Contains(open[0].Note(), "mid-stream") || open[0].Conn.Server.Port() != 5222 {
		t.Fatalf("open %+v", open)
	}
	st := kinds(recs, inspect.KindStanza)
	if st[0].Attr("id") != "m8" || st[0].NS != inspect.NSClient {
		t.Fatalf("first stanza %s ns %q", st[0].Raw, st[0].NS)
	}
	if sum.XMPPFlows != 1 {
		t.Fatalf("%+v", sum)
	}
}

func TestDetectByHeader(t *testing.T) {
	s := newSynth(t, linkEthernet)
	session(s.dial("10.0.0.1:40000", "10.0.0.2:9999"), 1) // XMPP on an unusual port
	web := s.dial("10.0.0.1:40001", "10.0.0.2:80")
	web.send(0, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	web.send(1, "HTTP/1.1 200 OK\r\n\r\n<html></html>")
	web.close()
	recs, sum, err := collect(t, s.bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Flows != 2 || sum.XMPPFlows != 1 {
		t.Fatalf("%+v", sum)
	}
	if got := sequences(recs)[1]; !slices.Equal(got, sessionTokens(1)) {
		t.Fatalf("got %q", got)
	}
	// --port makes a port XMPP even when its bytes are not.
	recs, sum, _ = collect(t, s.bytes(), Options{Ports: []int{80}})
	if notes := kinds(recs, inspect.KindNote); sum.XMPPFlows != 2 || len(notes) != 2 || !strings.Contains(notes[0].Note(), "skipped") {
		t.Fatalf("with port 80: %+v", sum)
	}
}

// clientHello returns the first flight of a real TLS client.
func clientHello(t *testing.T, server string) []byte {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	go func() {
		_ = tls.Client(a, &tls.Config{ServerName: server}).Handshake()
	}()
	buf := make([]byte, 64<<10)
	n, err := b.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	return buf[:n]
}

func TestTLS(t *testing.T) {
	hello := clientHello(t, "chat.example.org")
	s := newSynth(t, linkEthernet)
	// STARTTLS, then TLS.
	c := s.dial("10.0.0.1:40000", "10.0.0.2:5222")
	c.send(0, clientHeader)
	c.send(1, serverHeader+`<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>`)
	c.send(0, `<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
	c.send(1, `<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
	c.send(0, string(hello[:40])) // the hello in two segments
	c.send(0, string(hello[40:]))
	c.send(1, "\x16\x03\x03\x00\x10junkjunkjunkjunk")
	c.send(0, "\x17\x03\x03\x00\x05<iq/>")
	c.close()
	// Direct TLS on port 5223, added with Ports.
	d := s.dial("10.0.0.1:40001", "10.0.0.2:5223")
	d.send(0, string(clientHello(t, "direct.example.org")))
	d.send(1, "\x16\x03\x03\x00\x04abcd")
	d.close()
	recs, sum, err := collect(t, s.bytes(), Options{Ports: []int{5223}})
	if err != nil {
		t.Fatal(err)
	}
	if sum.TLSFlows != 2 || sum.XMPPFlows != 2 {
		t.Fatalf("%+v", sum)
	}
	notes := kinds(recs, inspect.KindNote)
	if len(notes) != 2 || notes[0].Note() != "TLS-encrypted, SNI=chat.example.org" || notes[1].Note() != "TLS-encrypted, SNI=direct.example.org" {
		for _, n := range notes {
			t.Log(n.Note())
		}
		t.Fatal("TLS notes")
	}
	want := []string{"c2s stream", "s2c stream", "s2c features", "c2s starttls", "s2c proceed"}
	if got := sequences(recs)[1]; !slices.Equal(got, want) {
		t.Fatalf("got %q", got)
	}
	if len(kinds(recs, inspect.KindError)) != 0 || len(sequences(recs)[2]) != 0 {
		t.Fatal("TLS bytes were read as XMPP")
	}
}

func TestDecryptedAfterProceed(t *testing.T) {
	// A capture written by the proxy: after <proceed/> comes plaintext, not TLS.
	s := newSynth(t, linkEthernet)
	c := s.dial("10.0.0.1:40000", "10.0.0.2:5222")
	c.send(0, clientHeader)
	c.send(1, serverHeader+features)
	c.send(0, `<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
	c.send(1, `<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
	c.send(0, clientHeader)
	c.send(1, serverHeader+features)
	c.send(0, message(1))
	recs, sum, err := collect(t, s.bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"c2s stream", "s2c stream", "s2c features", "c2s starttls", "s2c proceed", "c2s stream", "s2c stream", "s2c features", "c2s message"}
	if got := sequences(recs)[1]; !slices.Equal(got, want) || sum.TLSFlows != 0 {
		t.Fatalf("got %q, %+v", got, sum)
	}
}

func TestTruncated(t *testing.T) {
	s := newSynth(t, linkEthernet)
	c := s.dial("10.0.0.1:40000", "10.0.0.2:5222")
	c.send(0, clientHeader)
	c.send(0, message(1))
	c.send(0, message(2)[:30])
	c.send(0, message(2)[30:])
	data := s.bytes()
	data = data[:len(data)-20] // cut inside the last packet
	recs, sum, err := collect(t, data, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Truncated {
		t.Fatalf("%+v", sum)
	}
	if got := sequences(recs)[1]; !slices.Equal(got, []string{"c2s stream", "c2s message"}) {
		t.Fatalf("got %q", got)
	}
	var notes []string
	for _, r := range recs {
		if r.Kind == inspect.KindNote || r.Kind == inspect.KindGap || r.Kind == inspect.KindConnClose {
			notes = append(notes, r.Kind.String()+": "+r.Note())
		}
	}
	want := []string{
		"note: capture file truncated at byte " + itoa(len(data)) + ": the last packet is incomplete",
		"gap: connection ends inside a stanza (30 bytes incomplete)",
		"conn-close: capture ended (file truncated)",
	}
	if !slices.Equal(notes, want) {
		t.Fatalf("notes:\n%q\nwant\n%q", notes, want)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestIdleFlush(t *testing.T) {
	s := newSynth(t, linkEthernet)
	c := s.dial("10.0.0.1:40000", "10.0.0.2:5222")
	c.send(0, clientHeader)
	s.ts = s.ts.Add(time.Hour)
	d := s.dial("10.0.0.1:40001", "10.0.0.2:5222")
	d.send(0, clientHeader)
	recs, _, err := collect(t, s.bytes(), Options{IdleFlush: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var seq []string
	for _, r := range recs {
		if r.Kind == inspect.KindConnOpen || r.Kind == inspect.KindConnClose {
			seq = append(seq, r.Kind.String()+itoa(int(r.Conn.ID))+" "+r.Note())
		}
	}
	want := []string{"conn-open1 10.0.0.1:40000 -> 10.0.0.2:5222", "conn-close1 idle for 1m0s; flushed",
		"conn-open2 10.0.0.1:40001 -> 10.0.0.2:5222", "conn-close2 capture ended"}
	if !slices.Equal(seq, want) {
		t.Fatalf("got %q", seq)
	}
}

func TestBadFiles(t *testing.T) {
	s := newSynth(t, linkEthernet)
	session(s.dial("10.0.0.1:40000", "10.0.0.2:5222"), 1)
	good := s.bytes()
	huge := append([]byte(nil), good...)
	huge[24+8], huge[24+9], huge[24+10], huge[24+11] = 0xff, 0xff, 0xff, 0x7f // first record's length
	cases := map[string][]byte{
		"empty":     {},
		"text":      []byte("<stream:stream>hello"),
		"short":     good[:10],
		"bad magic": append([]byte{1, 2, 3, 4}, good[4:]...),
		"huge":      huge,
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := collect(t, data, Options{})
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
		})
	}
	if _, _, err := collect(t, huge, Options{}); !errors.Is(err, errDamaged) {
		t.Fatalf("huge: %v", err)
	}
}

func TestSinkError(t *testing.T) {
	s := newSynth(t, linkEthernet)
	session(s.dial("10.0.0.1:40000", "10.0.0.2:5222"), 3)
	stop := errors.New("stop")
	n := 0
	_, err := Read(t.Context(), strings.NewReader(string(s.bytes())), Options{}, inspect.SinkFunc(func(*inspect.Record) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	}))
	if !errors.Is(err, stop) || n != 3 {
		t.Fatalf("err %v after %d records", err, n)
	}
}

func TestMidStreamTLS(t *testing.T) {
	s := newSynth(t, linkEthernet)
	c := s.midway("10.0.0.1:40000", "10.0.0.2:5222")
	c.send(0, "\x17\x03\x03\x00\x20"+strings.Repeat("\xaa", 32))
	c.send(1, "\x17\x03\x03\x00\x20"+strings.Repeat("<", 32))
	recs, sum, err := collect(t, s.bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	notes := kinds(recs, inspect.KindNote)
	if sum.TLSFlows != 1 || len(notes) != 1 || notes[0].Note() != "TLS-encrypted (picked up mid-stream: no ClientHello seen)" {
		t.Fatalf("%+v %+v", sum, notes)
	}
	if len(kinds(recs, inspect.KindError)) != 0 || len(kinds(recs, inspect.KindStanza)) != 0 {
		t.Fatal("TLS bytes read as XMPP")
	}
}

func TestUnsupportedLink(t *testing.T) {
	s := newSynth(t, 105) // IEEE 802.11
	session(s.dial("10.0.0.1:40000", "10.0.0.2:5222"), 1)
	recs, sum, err := collect(t, s.bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Unsupported != sum.Packets || sum.Packets == 0 || len(recs) != 1 || recs[0].Note() != "link type 105 is not supported: its packets are skipped" {
		t.Fatalf("%+v %+v", sum, recs)
	}
}

func TestFormats(t *testing.T) {
	build := func(micro bool) []byte {
		s := newSynth(t, linkEthernet)
		if micro {
			s.buf.Reset()
			s.w = pcapgo.NewWriter(&s.buf)
			if err := s.w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
				t.Fatal(err)
			}
		}
		session(s.dial("10.0.0.1:40000", "10.0.0.2:5222"), 1)
		return s.bytes()
	}
	ns, us := build(false), build(true)
	// Big-endian, microseconds: swap every 32-bit header field by hand.
	be := bigEndianPcap(t, us)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(ns)
	zw.Close()
	for name, data := range map[string][]byte{"pcap-ns": ns, "pcap-us": us, "pcap-be": be, "gzip": gz.Bytes()} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.pcap")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			recs := collectFile(t, path)
			if got := sequences(recs)[1]; !slices.Equal(got, sessionTokens(1)) {
				t.Fatalf("got %q", got)
			}
			if ts := recs[1].Time; ts.Year() != 2026 || ts.Nanosecond()%1000 != 0 {
				t.Fatalf("time %v", ts)
			}
		})
	}
	if _, err := ReadFile(t.Context(), filepath.Join(t.TempDir(), "missing.pcap"), Options{}, inspect.SinkFunc(func(*inspect.Record) error { return nil })); err == nil {
		t.Fatal("no error for a missing file")
	}
}

// bigEndianPcap rewrites a little-endian pcap file in big-endian byte order.
func bigEndianPcap(t *testing.T, le []byte) []byte {
	be := bytes.Clone(le)
	sw32 := func(b []byte) { b[0], b[1], b[2], b[3] = b[3], b[2], b[1], b[0] }
	sw16 := func(b []byte) { b[0], b[1] = b[1], b[0] }
	sw32(be[0:4])
	sw16(be[4:6])
	sw16(be[6:8])
	for i := 8; i < 24; i += 4 {
		sw32(be[i : i+4])
	}
	for off := 24; off < len(be); {
		n := int(binary.LittleEndian.Uint32(le[off+8 : off+12]))
		for i := 0; i < 16; i += 4 {
			sw32(be[off+i : off+i+4])
		}
		off += 16 + n
	}
	return be
}

func TestFlowLimit(t *testing.T) {
	old := maxFlows
	maxFlows = 4
	defer func() { maxFlows = old }()
	s := newSynth(t, linkEthernet)
	for i := range 6 {
		c := s.dial("10.0.0.1:"+strconv.Itoa(40000+i), "10.0.0.2:5222")
		c.send(0, clientHeader)
	}
	recs, sum, err := collect(t, s.bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.XMPPFlows != 4 || sum.Untracked == 0 || len(kinds(recs, inspect.KindNote)) != 1 {
		t.Fatalf("%+v", sum)
	}
}
