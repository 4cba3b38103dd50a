package inspect

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func readStreamRecords(t *testing.T, in io.Reader, dir Direction) ([]*Record, error) {
	t.Helper()
	out := &collect{}
	err := ReadStream(in, dir, nil, out)
	return out.recs, err
}

func kinds(recs []*Record) string {
	var s []string
	for _, r := range recs {
		k := r.Kind.String()
		if r.Kind == KindStanza {
			k = r.Name
		}
		s = append(s, k)
	}
	return strings.Join(s, " ")
}

func TestReadStreamFragments(t *testing.T) {
	recs, err := readStreamRecords(t, strings.NewReader("\n<message to='a@b'><body>x</body></message>\n<presence/>"), ClientToServer)
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(recs); got != "whitespace message whitespace presence" {
		t.Fatalf("kinds %q", got)
	}
	if recs[1].NS != NSClient || recs[1].Dir != ClientToServer {
		t.Fatalf("fragment stanza ns %q dir %v", recs[1].NS, recs[1].Dir)
	}
}

func TestReadStreamOneByteAtATime(t *testing.T) {
	for _, file := range []string{"modern-c2s.xml", "modern-s2c.xml"} {
		want, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		recs, err := readStreamRecords(t, iotest.OneByteReader(bytes.NewReader(want)), ClientToServer)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		raw := NewRaw(&got)
		for _, r := range recs {
			raw.Write(r)
		}
		if !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("%s: one byte at a time gives\n%s", file, got.Bytes())
		}
		if n := strings.Count(kinds(recs), "open"); n != 2 {
			t.Fatalf("%s: %d headers (restart missed): %s", file, n, kinds(recs))
		}
	}
}

func TestReadStreamErrors(t *testing.T) {
	cases := []struct {
		name, in string
		cond     Cond
	}{
		{"comment", "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:client'><!-- hi --></stream:stream>", CondRestrictedXML},
		{"not well formed", "<stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:client'><iq></message>", CondNotWellFormed},
		{"fragment", "<message><body>x</message>", CondNotWellFormed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			recs, err := readStreamRecords(t, strings.NewReader(tc.in), ServerToClient)
			if se := AsStreamError(err); se == nil || se.Condition != tc.cond {
				t.Fatalf("err %v, want %s", err, tc.cond)
			}
			last := recs[len(recs)-1]
			if last.Kind != KindError || AsStreamError(last.Err()) == nil || last.Dir != ServerToClient {
				t.Fatalf("last record %+v", last)
			}
		})
	}
	_, err := readStreamRecords(t, strings.NewReader("<stream:stream xmlns:stream='http://etherx.jabber.org/streams'></stream:stream>\n<iq/>"), ClientToServer)
	if err == nil || !strings.Contains(err.Error(), "after the end of the stream") {
		t.Fatalf("data after close: %v", err)
	}
	_, err = readStreamRecords(t, strings.NewReader("<stream:stream xmlns:stream='http://etherx.jabber.org/streams'><iq type='get'"), ClientToServer)
	if err == nil {
		t.Fatal("a stanza cut by EOF should be an error")
	}
}

// TestReadStreamLive: records come out as soon as their bytes arrive; the header sniffing
// does not wait for more input than the peer sent.
func TestReadStreamLive(t *testing.T) {
	pr, pw := io.Pipe()
	got := make(chan *Record, 10)
	done := make(chan error, 1)
	go func() {
		done <- ReadStream(pr, ClientToServer, nil, SinkFunc(func(r *Record) error { got <- r; return nil }))
	}()
	step := func(in, kind string) {
		t.Helper()
		if _, err := pw.Write([]byte(in)); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-got:
			if r.Kind.String() != kind {
				t.Fatalf("got %v, want %s", r.Kind, kind)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %s record after writing %q", kind, in)
		}
	}
	step("<stream:stream to='x' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>", "open")
	step("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGEAYg==</auth>", "stanza")
	step("<stream:stream to='x' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>", "open")
	pw.Close()
	if err := <-done; err != nil { // EOF between stanzas is a clean end
		t.Fatal(err)
	}
}

func TestSniffHeader(t *testing.T) {
	cases := []struct {
		in              string
		header, decided bool
	}{
		{"", false, false},
		{"  \n", false, false},
		{"<?xml version='1.0'?>", false, false},
		{"<?xml version='1.0'?>\n<stream:stream ", true, true},
		{"\xef\xbb\xbf<stream ", true, true},
		{"<stream:str", false, false},
		{"<message ", false, true},
		{"hello", false, true},
	}
	for _, tc := range cases {
		h, d := sniffHeader([]byte(tc.in))
		if h != tc.header || d != tc.decided {
			t.Errorf("sniffHeader(%q) = %v, %v", tc.in, h, d)
		}
	}
}
