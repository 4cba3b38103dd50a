package capture

import (
	"bytes"
	"encoding/xml"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stanzascope/stanzascope/inspect"
)

var update = flag.Bool("update", false, "rewrite testdata/tshark-golden.txt from tshark's output")

// realCaptures are real Prosody/slixmpp sessions, kept in the repository's
// testdata/captures (see its README.md).
var realCaptures = []string{"c2s-textbook.pcap", "c2s-slixmpp-plain.pcapng", "c2s-slixmpp-starttls.pcapng"}

// capturePath returns the path of one of realCaptures, relative to this package.
func capturePath(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join("..", "..", "testdata", "captures", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("real capture missing from the repository: %v", err)
	}
	return p
}

// tshark returns the path of tshark, failing under CI when it is missing.
func tshark(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("tshark")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tshark is not installed (Debian package tshark); CI requires it")
		}
		t.Skip("tshark not installed")
	}
	return p
}

// pdmlField is the part of tshark's PDML we read.
type pdmlField struct {
	Name   string      `xml:"name,attr"`
	Show   string      `xml:"show,attr"`
	Fields []pdmlField `xml:"field"`
}

type pdmlProto struct {
	Name   string      `xml:"name,attr"`
	Fields []pdmlField `xml:"field"`
	Protos []pdmlProto `xml:"proto"`
}

type pdmlPacket struct {
	Protos []pdmlProto `xml:"proto"`
}

// tsharkSequences runs tshark's XMPP dissector over a capture and returns, per connection
// (keyed by the client's address), the top-level elements it found in order, as tokens
// like ours: "c2s stream", "s2c features", "c2s message", "s2c /stream". tshark puts the
// stream's first child (features) inside the stream element; it is listed after it.
func tsharkSequences(t *testing.T, bin, path string, serverPort string) map[string][]string {
	t.Helper()
	cmd := exec.Command(bin, "-r", path, "-Y", "xmpp", "-T", "pdml", "-d", "tcp.port=="+serverPort+",xmpp")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark: %v: %s", err, stderr.String())
	}
	dec := xml.NewDecoder(bytes.NewReader(out))
	res := map[string][]string{}
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "packet" {
			continue
		}
		var p pdmlPacket
		if err := dec.DecodeElement(&p, &se); err != nil {
			t.Fatal(err)
		}
		var src, dst, sport string
		var elems []string
		for _, pr := range p.Protos {
			switch pr.Name {
			case "ip", "ipv6":
				for _, f := range pr.Fields {
					switch f.Name {
					case "ip.src", "ipv6.src":
						src = f.Show
					case "ip.dst", "ipv6.dst":
						dst = f.Show
					}
				}
			case "tcp":
				for _, f := range pr.Fields {
					if f.Name == "tcp.srcport" {
						sport = f.Show
					}
				}
			case "xmpp":
				elems = append(elems, xmppElements(pr.Fields)...)
				if !slices.Contains(elems, "/stream") && closesStream(pr) {
					elems = append(elems, "/stream")
				}
			}
		}
		dir, client := "c2s", src+":"+sport
		if sport == serverPort {
			dir, client = "s2c", dst
		}
		if dir == "s2c" {
			client = clientKeyFor(t, p, dst)
		}
		for _, e := range elems {
			res[client] = append(res[client], dir+" "+e)
		}
	}
	return res
}

func clientKeyFor(t *testing.T, p pdmlPacket, dst string) string {
	for _, pr := range p.Protos {
		if pr.Name == "tcp" {
			for _, f := range pr.Fields {
				if f.Name == "tcp.dstport" {
					return dst + ":" + f.Show
				}
			}
		}
	}
	t.Fatal("no tcp.dstport")
	return ""
}

// xmppElements lists the top-level elements the XMPP dissector shows in one packet.
func xmppElements(fields []pdmlField) []string {
	var out []string
	for _, f := range fields {
		switch f.Name {
		case "xmpp.in", "xmpp.out", "xmpp.xml_header_version", "xmpp.response_to", "xmpp.response_in":
			continue
		case "xmpp.stream":
			out = append(out, "stream")
			for _, c := range f.Fields {
				if c.Name == "xmpp.unknown" || c.Name == "xmpp.features" {
					out = append(out, elementName(c))
				}
			}
		case "xmpp.stream_end":
			out = append(out, "/stream")
		default:
			if f.Name == "" || strings.HasPrefix(f.Name, "xmpp.") {
				out = append(out, elementName(f))
			}
		}
	}
	return out
}

// closesStream reports whether the XML beneath the XMPP dissector holds a stream close
// tag. The XMPP dissector (Wireshark 4.0) reports </stream:stream> only when it starts
// the packet; when it follows a stanza in the same segment only the XML layer shows it.
func closesStream(xmpp pdmlProto) bool {
	for _, x := range xmpp.Protos {
		if x.Name != "xml" {
			continue
		}
		for _, f := range x.Fields {
			if strings.HasPrefix(f.Show, "</") && strings.HasSuffix(f.Show, ":stream>") {
				return true
			}
		}
	}
	return false
}

// elementName gets an element's local name from a field: "xmpp.iq" -> iq, an unnamed
// field shown as "CHALLENGE [xmlns=...]" -> challenge, xmpp.unknown shows the name.
func elementName(f pdmlField) string {
	switch {
	case f.Name == "xmpp.unknown":
		return strings.ToLower(f.Show)
	case f.Name == "":
		w, _, _ := strings.Cut(f.Show, " ")
		return strings.ToLower(w)
	}
	return strings.TrimPrefix(f.Name, "xmpp.")
}

// ourSequences keys our tokens by the client's address, like tsharkSequences.
func ourSequences(recs []*inspect.Record) map[string][]string {
	out := map[string][]string{}
	for _, r := range recs {
		if tok := token(r); tok != "" && r.Conn != nil {
			k := r.Conn.Client.String()
			out[k] = append(out[k], tok)
		}
	}
	return out
}

// golden renders sequences as the golden file's lines: "file client count: tokens".
func golden(file string, seqs map[string][]string) []string {
	var keys []string
	for k := range seqs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var lines []string
	for _, k := range keys {
		lines = append(lines, fmt.Sprintf("%s %s %d: %s", file, k, len(seqs[k]), strings.Join(seqs[k], ", ")))
	}
	return lines
}

const goldenPath = "testdata/tshark-golden.txt"

func readGolden(t *testing.T) []string {
	b, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestRealCapturesMatchTshark checks, for each real capture, that every connection has
// the same top-level elements in the same order as tshark's XMPP dissector finds, and
// pins that list in a golden file so the check holds without tshark too.
func TestRealCapturesMatchTshark(t *testing.T) {
	var ours []string
	var theirs []string
	var bin string
	if *update || os.Getenv("CI") != "" {
		bin = tshark(t)
	} else if p, err := exec.LookPath("tshark"); err == nil {
		bin = p
	}
	for _, name := range realCaptures {
		path := capturePath(t, name)
		recs := collectFile(t, path)
		mine := golden(name, ourSequences(recs))
		ours = append(ours, mine...)
		if bin != "" {
			th := golden(name, tsharkSequences(t, bin, path, "5222"))
			theirs = append(theirs, th...)
			if !slices.Equal(mine, th) {
				t.Errorf("%s differs from tshark:\nours:\n%s\ntshark:\n%s", name, strings.Join(mine, "\n"), strings.Join(th, "\n"))
			}
		}
		if name == "c2s-slixmpp-starttls.pcapng" {
			notes := kinds(recs, inspect.KindNote)
			if len(notes) != 3 || !strings.HasPrefix(notes[0].Note(), "TLS-encrypted") || len(kinds(recs, inspect.KindError)) != 0 {
				t.Errorf("starttls: TLS notes %d, errors %d", len(notes), len(kinds(recs, inspect.KindError)))
			}
		}
	}
	if *update {
		text := "# Per connection of the captures in testdata/captures: the top-level XMPP elements\n" +
			"# tshark's dissector finds, in order (written by go test -run TestRealCapturesMatchTshark -update).\n" +
			strings.Join(theirs, "\n") + "\n"
		if err := os.WriteFile(goldenPath, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if want := readGolden(t); !slices.Equal(ours, want) {
		t.Errorf("differs from %s:\nours:\n%s\ngolden:\n%s", goldenPath, strings.Join(ours, "\n"), strings.Join(want, "\n"))
	}
}

func lookTshark() (string, error) { return exec.LookPath("tshark") }
