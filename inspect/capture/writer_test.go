package capture

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// writeRecords writes records with a PcapWriter into a file and returns its path.
func writeRecords(t *testing.T, recs []*inspect.Record) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "out.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := NewPcapWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// stanzaBytes lists the raw bytes of the stream events per connection.
func stanzaBytes(recs []*inspect.Record) map[string][]string {
	out := map[string][]string{}
	for _, r := range recs {
		if token(r) != "" {
			k := r.Conn.Client.String()
			out[k] = append(out[k], r.Dir.String()+" "+string(r.Raw))
		}
	}
	return out
}

// TestRoundTrip reads each real capture, writes its records with PcapWriter, and reads
// the result back: the same stanzas, byte for byte, in the same order; and tshark's XMPP
// dissector finds them in the written file too.
func TestRoundTrip(t *testing.T) {
	var bin string
	if os.Getenv("CI") != "" {
		bin = tshark(t)
	} else if p, err := lookTshark(); err == nil {
		bin = p
	}
	for _, name := range realCaptures {
		t.Run(name, func(t *testing.T) {
			recs := collectFile(t, capturePath(t, name))
			path := writeRecords(t, recs)
			back := collectFile(t, path)
			want, got := stanzaBytes(recs), stanzaBytes(back)
			if len(want) == 0 {
				t.Fatal("no stanzas")
			}
			for k := range want {
				if !slices.Equal(want[k], got[k]) {
					t.Errorf("connection %s differs after the round trip", k)
				}
			}
			if len(got) != len(want) {
				t.Errorf("%d connections back, want %d", len(got), len(want))
			}
			// Times survive to the nanosecond; each record's packet carries its time.
			if a, b := kinds(recs, inspect.KindStanza), kinds(back, inspect.KindStanza); !a[len(a)-1].Time.Equal(b[len(b)-1].Time) {
				t.Errorf("time %v became %v", a[len(a)-1].Time, b[len(b)-1].Time)
			}
			if bin != "" {
				th := tsharkSequences(t, bin, path, "5222")
				if ours := ourSequences(back); !equalSeqs(ours, th) {
					t.Errorf("tshark on the written file:\n%s\nours:\n%s", strings.Join(golden(name, th), "\n"), strings.Join(golden(name, ours), "\n"))
				}
			}
		})
	}
}

func equalSeqs(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !slices.Equal(a[k], b[k]) {
			return false
		}
	}
	return true
}

func TestWriterVerdictsAndSplit(t *testing.T) {
	info := &inspect.ConnInfo{ID: 7, Client: netip.MustParseAddrPort("[2001:db8::1]:40000"), Server: netip.MustParseAddrPort("10.0.0.2:5222")}
	ts := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	big := "<message id='big'><body>" + strings.Repeat("x", 150000) + "</body></message>"
	recs := []*inspect.Record{
		// No KindConnOpen: the handshake comes with the first record.
		{Time: ts, Conn: info, Dir: inspect.ClientToServer, Kind: inspect.KindStreamOpen, Raw: []byte(clientHeader)},
		{Time: ts, Conn: info, Dir: inspect.ServerToClient, Kind: inspect.KindStreamOpen, Raw: []byte(serverHeader)},
		{Time: ts, Conn: info, Dir: inspect.ClientToServer, Kind: inspect.KindStanza, Raw: []byte("<message id='dropped'/>"), Verdict: "dropped"},
		{Time: ts, Conn: info, Dir: inspect.ClientToServer, Kind: inspect.KindStanza, Raw: []byte("<message id='rejected'/>"), Verdict: "rejected"},
		{Time: ts, Conn: info, Dir: inspect.ServerToClient, Kind: inspect.KindStanza, Raw: []byte("<message id='injected'/>"), Verdict: "injected"},
		{Time: ts, Conn: info, Dir: inspect.ClientToServer, Kind: inspect.KindStanza, Raw: []byte(big)},
		(&inspect.Record{Time: ts, Conn: info, Kind: inspect.KindNote}).WithNote("ignored"),
		{Time: ts, Conn: nil, Dir: inspect.ClientToServer, Kind: inspect.KindStanza, Raw: []byte("<message id='noconn'/>")},
		{Time: ts, Conn: info, Kind: inspect.KindConnClose},
	}
	path := writeRecords(t, recs)
	back := collectFile(t, path)
	var ids []string
	for _, r := range kinds(back, inspect.KindStanza) {
		ids = append(ids, r.Attr("id"))
	}
	if !slices.Equal(ids, []string{"injected", "big"}) {
		t.Fatalf("stanzas %q", ids)
	}
	// Mixed families are written as IPv6 with the IPv4 address mapped; reading unmaps it.
	if c := kinds(back, inspect.KindConnOpen)[0].Conn; c.Server.String() != "10.0.0.2:5222" || c.Client != info.Client {
		t.Fatalf("addresses %v %v", c.Client, c.Server)
	}
	if cl := kinds(back, inspect.KindConnClose); len(cl) != 1 || cl[0].Note() != "closed (FIN)" {
		t.Fatalf("close %+v", cl)
	}
	if st := kinds(back, inspect.KindStanza); len(st[1].Raw) != len(big) {
		t.Fatalf("big stanza %d bytes back", len(st[1].Raw))
	}
}

func TestWriterConcurrent(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewPcapWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			info := &inspect.ConnInfo{ID: uint64(i + 1), Client: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(40000+i)),
				Server: netip.MustParseAddrPort("127.0.0.1:5222")}
			_ = w.Write(&inspect.Record{Conn: info, Kind: inspect.KindConnOpen})
			for j := range 20 {
				_ = w.Write(&inspect.Record{Conn: info, Dir: inspect.ClientToServer, Kind: inspect.KindStanza, Raw: []byte(message(j))})
			}
		}()
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	recs, sum, err := collect(t, buf.Bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.XMPPFlows != 8 || len(kinds(recs, inspect.KindStanza)) != 160 || len(kinds(recs, inspect.KindConnClose)) != 8 {
		t.Fatalf("%+v", sum)
	}
	if err := w.Write(&inspect.Record{}); err == nil {
		t.Fatal("write after close")
	}
}

// TestWriterAfterSTARTTLS: the proxy writes the decrypted stream after <proceed/> as
// plaintext on the same connection; our reader and tshark both go on reading it.
func TestWriterAfterSTARTTLS(t *testing.T) {
	s := newSynth(t, linkEthernet)
	c := s.dial("10.0.0.1:40000", "10.0.0.2:5222")
	c.send(0, clientHeader)
	c.send(1, serverHeader+features)
	c.send(0, `<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
	c.send(1, `<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
	c.send(0, clientHeader)
	c.send(1, serverHeader+features)
	c.send(0, message(1))
	recs, _, err := collect(t, s.bytes(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	path := writeRecords(t, recs)
	back := collectFile(t, path)
	want := []string{"c2s stream", "s2c stream", "s2c features", "c2s starttls", "s2c proceed", "c2s stream", "s2c stream", "s2c features", "c2s message"}
	if got := ourSequences(back)["10.0.0.1:40000"]; !slices.Equal(got, want) {
		t.Fatalf("read back %q", got)
	}
	var bin string
	if os.Getenv("CI") != "" {
		bin = tshark(t)
	} else if p, err := lookTshark(); err == nil {
		bin = p
	} else {
		t.Skip("tshark not installed")
	}
	if got := tsharkSequences(t, bin, path, "5222")["10.0.0.1:40000"]; !slices.Equal(got, want) {
		t.Fatalf("tshark %q", got)
	}
}
