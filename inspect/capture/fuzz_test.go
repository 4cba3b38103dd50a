package capture

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stanzascope/stanzascope/inspect"
)

// FuzzReadFile feeds damaged capture files: it must never panic, hang, or report a reader
// panic, whatever the bytes. Seeds (testdata/fuzz/FuzzReadFile) are truncated and
// bit-flipped versions of small synthetic captures; regenerate them with
// go test -run TestFuzzSeeds -update.
func FuzzReadFile(f *testing.F) {
	for _, seed := range fuzzBases(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		n := 0
		_, _ = Read(ctx, bytes.NewReader(data), Options{Ports: []int{80}}, inspect.SinkFunc(func(r *inspect.Record) error {
			n++
			if r.Kind == inspect.KindError && r.Err() != nil && strings.Contains(r.Err().Error(), "panic") {
				t.Fatalf("reader panic: %v", r.Err())
			}
			if r.Kind != inspect.KindNote && r.Conn == nil {
				t.Fatalf("record without connection: %+v", r)
			}
			return nil
		}))
		if ctx.Err() != nil {
			t.Fatal("took longer than 10s")
		}
	})
}

// fuzzBases are small captures exercising the interesting paths.
func fuzzBases(t testing.TB) [][]byte {
	var out [][]byte
	s := newSynth(t, linkEthernet)
	session(s.dial("10.0.0.1:40000", "10.0.0.2:5222"), 2)
	out = append(out, s.bytes())

	s = newSynthNg(t)
	c := s.dial("[2001:db8::1]:40000", "[2001:db8::2]:5222")
	c.send(0, clientHeader)
	c.send(1, serverHeader+features)
	sg := c.segs(0, message(1)+message(2), 40)
	c.write(0, sg[2])
	c.write(0, sg[0])
	c.send(1, `<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>`)
	c.send(0, clientHeader)
	out = append(out, s.bytes())

	s = newSynth(t, linkSLL2)
	c = s.midway("10.0.0.1:40000", "10.0.0.2:80")
	c.send(0, "ge'/></message><iq type='get' id='1'/><presence/>")
	c.send(1, `<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>`)
	c.send(0, "\x16\x03\x01\x00\x30\x01\x00\x00\x2c\x03\x03")
	out = append(out, s.bytes())
	return out
}

// TestFuzzSeeds checks that the seed corpus exists, and rewrites it with -update.
func TestFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzReadFile")
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, base := range fuzzBases(t) {
			variants := map[string][]byte{
				"whole": base,
				"cut1":  base[:len(base)*2/3],
				"cut2":  base[:30],
			}
			for j, pos := range []int{20, 24 + 13, len(base) / 2, len(base) - 9} {
				v := bytes.Clone(base)
				v[pos] ^= 0x5a
				variants[fmt.Sprintf("flip%d", j)] = v
			}
			for name, v := range variants {
				text := "go test fuzz v1\n[]byte(" + strconv.Quote(string(v)) + ")\n"
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%d-%s", i, name)), []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) < 10 {
		t.Fatalf("seed corpus missing (%v); run go test -run TestFuzzSeeds -update", err)
	}
}

// FuzzClientHelloSNI feeds the SNI parser arbitrary client bytes: no panic, and a
// returned name is part of the input.
func FuzzClientHelloSNI(f *testing.F) {
	f.Add([]byte("\x16\x03\x01\x00\x05\x01\x00\x00\x01\x03"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		sni, done, err := clientHelloSNI(b)
		if sni != "" && (!done || err != nil || !bytes.Contains(b, []byte(sni))) {
			t.Fatalf("sni %q done %v err %v", sni, done, err)
		}
	})
}

// TestClientHelloSNISeeds writes real ClientHellos (whole, cut, in two records) as seeds
// with -update, and checks the parser on them.
func TestClientHelloSNISeeds(t *testing.T) {
	hello := clientHello(t, "xmpp.example.org")
	if sni, done, err := clientHelloSNI(hello); sni != "xmpp.example.org" || !done || err != nil {
		t.Fatalf("%q %v %v", sni, done, err)
	}
	if _, done, _ := clientHelloSNI(hello[:len(hello)/2]); done {
		t.Fatal("half a hello is done")
	}
	// The same handshake message split over two records.
	body := hello[5:]
	split := append(append([]byte{0x16, 3, 1, 0, 40}, body[:40]...), append([]byte{0x16, 3, 1, byte((len(body) - 40) >> 8), byte(len(body) - 40)}, body[40:]...)...)
	if sni, done, err := clientHelloSNI(split); sni != "xmpp.example.org" || !done || err != nil {
		t.Fatalf("split: %q %v %v", sni, done, err)
	}
	if !*update {
		return
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzClientHelloSNI")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string][]byte{"whole": hello, "half": hello[:len(hello)/2], "split": split, "noext": hello[:5+4+2+32+1]} {
		text := "go test fuzz v1\n[]byte(" + strconv.Quote(string(v)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
