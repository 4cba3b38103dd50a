package inspect

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// goldenInputs are raw XML streams, one direction each: the textbook session
// (docs/textbook-session.md), a modern XMPP 1.0 session with SASL and a stream restart, and
// real traffic between slixmpp 1.8.3 and Prosody 0.12.3 (the first connection of the
// repository's testdata/captures/c2s-slixmpp-plain.pcapng, extracted with
// tshark -q -z follow,tcp,raw,0).
var goldenInputs = []struct {
	file    string
	dir     Direction
	headers int // stream headers in the input
}{
	{"textbook-c2s.xml", ClientToServer, 1},
	{"textbook-s2c.xml", ServerToClient, 1},
	{"modern-c2s.xml", ClientToServer, 2},
	{"modern-s2c.xml", ServerToClient, 2},
	{"slixmpp-c2s.xml", ClientToServer, 2},
	{"slixmpp-s2c.xml", ServerToClient, 2},
	// What people paste (issue 14): a fragment of a server's log from the middle of the SASL
	// exchange, where the header after <success/> starts with an XML declaration (cut from
	// slixmpp-s2c.xml, one element per line); and a client's XML console, one direction
	// only, with new headers after <starttls/> and after <auth/> (the second after a blank
	// line and an XML declaration, as go-sendxmpp sends it).
	{"prosody-s2c-fragment.xml", ServerToClient, 1},
	{"client-console-c2s.xml", ClientToServer, 3},
}

// goldenFormats are the printers run over each input, behind the redactor as in the
// sink chain, except "secrets" (--show-secrets).
var goldenFormats = []struct {
	ext  string
	sink func(w *bytes.Buffer) Sink
}{
	{"pretty", func(w *bytes.Buffer) Sink { return NewRedactor(NewPretty(w, PrettyOptions{})) }},
	{"pretty-color", func(w *bytes.Buffer) Sink { return NewRedactor(NewPretty(w, PrettyOptions{Color: true})) }},
	{"explain", func(w *bytes.Buffer) Sink { return NewRedactor(NewPretty(w, PrettyOptions{Explain: true, Width: 60})) }},
	{"secrets", func(w *bytes.Buffer) Sink { return NewPretty(w, PrettyOptions{}) }},
	{"json", func(w *bytes.Buffer) Sink { return NewRedactor(NewJSON(w, JSONOptions{})) }},
}

// readRecords reads a testdata stream into records.
func readRecords(t testing.TB, file string, dir Direction) []*Record {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []*Record
	err = ReadStream(f, dir, &ConnInfo{ID: 1}, SinkFunc(func(r *Record) error {
		recs = append(recs, r)
		return nil
	}))
	if err != nil {
		t.Fatalf("ReadStream(%s): %v", file, err)
	}
	return recs
}

func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestGoldenPrinters(t *testing.T) {
	for _, in := range goldenInputs {
		recs := readRecords(t, in.file, in.dir)
		base := strings.TrimSuffix(in.file, ".xml")
		for _, f := range goldenFormats {
			t.Run(base+"."+f.ext, func(t *testing.T) {
				var out bytes.Buffer
				s := f.sink(&out)
				for _, r := range recs {
					if err := s.Write(r); err != nil {
						t.Fatal(err)
					}
				}
				checkGolden(t, base+"."+f.ext, out.Bytes())
			})
		}
	}
}

// TestRawIsIdentical: the raw printer gives back exactly the bytes that were read.
func TestRawIsIdentical(t *testing.T) {
	for _, in := range goldenInputs {
		t.Run(in.file, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join("testdata", in.file))
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			raw := NewRaw(&out)
			for _, r := range readRecords(t, in.file, in.dir) {
				if err := raw.Write(r); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("raw output differs from the input\n--- got\n%s\n--- want\n%s", out.Bytes(), want)
			}
		})
	}
}

// TestGoldenRestart: the modern streams restart after SASL (and the client's console
// after STARTTLS), so the stanzas after a new header are read as stanzas, not as one big
// element.
func TestGoldenRestart(t *testing.T) {
	for _, in := range goldenInputs {
		opens := 0
		for _, r := range readRecords(t, in.file, in.dir) {
			switch {
			case r.Kind == KindStreamOpen:
				opens++
			case r.Kind == KindStanza && r.Name == "stream":
				t.Errorf("%s: a stream header was read as a stanza: %.60q", in.file, r.Raw)
			}
		}
		if opens != in.headers {
			t.Errorf("%s: %d stream headers, want %d", in.file, opens, in.headers)
		}
	}
}

// TestRealSessionSecrets: in real slixmpp traffic, the registration password and the
// SCRAM messages are redacted in every printer behind the redactor, and shown without it.
func TestRealSessionSecrets(t *testing.T) {
	recs := readRecords(t, "slixmpp-c2s.xml", ClientToServer)
	secrets := []string{"Spam&amp;Eggs&apos;1", "biwsbj1hbGljZTQ0NjYxNixyPTUxNjMxMTY2ODE1NzA3NTk=", "Yz1iaXdzLHI9NTE2MzExNjY4MTU3"}
	for _, show := range []bool{false, true} {
		var b bytes.Buffer
		redact := NewRedactor
		if show {
			redact = func(s Sink) Sink { return s }
		}
		writeAll(t, redact(NewJSON(&b, JSONOptions{})), recs)
		writeAll(t, redact(NewPretty(&b, PrettyOptions{Explain: true, Width: 1000})), recs)
		writeAll(t, redact(NewRaw(&b)), recs)
		for _, s := range secrets {
			if got := strings.Count(b.String(), s); (got > 0) != show {
				t.Errorf("secrets shown=%v: %q appears %d times", show, s, got)
			}
		}
	}
}
